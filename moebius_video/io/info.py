"""What a reader says about a clip, and what it yields per frame."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from fractions import Fraction

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from ..errors import MediaError
from .pixels import (
    ColorTags,
    Conversion,
    CropReformatters,
    bit_depth,
    crop_frame,
    plane_layouts,
    rgb_format,
    to_rgb,
)


@dataclass(frozen=True)
class VideoInfo:
    """Facts about one video stream (or image sequence), exact where the file allows.

    width, height: stored frame size (before any display rotation).
    frame_count: exact, counted from the packets (or the files of a sequence).
    time_base: the unit of every pts, e.g. Fraction(1, 12800).
    average_rate: mean frames per second (None when unknown); is_vfr: frame durations differ.
    rotation: display rotation in degrees, counter-clockwise (0 when none); the pixels are
        not rotated, players apply it.
    pix_fmt: the source pixel format ("yuv420p", "yuv422p10le", "rgb24" for 8-bit PNGs...).
    bit_depth: 8, or 16 when the source has more than 8 bits (RGB arrays are then uint16).
    stream_index: index of the video stream in its container (None for image sequences).
    start_pts: pts of frame 0 (0 for image sequences).
    start_number: number of the first file of an image sequence (0 for movies).
    codec: name of the source codec ("h264", "png"...).
    sample_aspect_ratio: pixel aspect ratio of anamorphic footage (None: square pixels).
    field_order: "progressive", or for interlaced video the field order as FFmpeg names it
        ("tt" top field first, "bb" bottom first, "tb", "bt"); None when the file does not
        say. Image sequences are progressive.
    """

    path: str
    width: int
    height: int
    frame_count: int
    time_base: Fraction
    average_rate: Fraction | None
    is_vfr: bool
    rotation: int
    pix_fmt: str
    bit_depth: int
    color: ColorTags
    stream_index: int | None
    start_pts: int = 0
    start_number: int = 0
    codec: str | None = None
    sample_aspect_ratio: Fraction | None = None
    field_order: str | None = None

    @property
    def is_image_sequence(self) -> bool:
        return self.stream_index is None

    @property
    def is_interlaced(self) -> bool:
        return self.field_order in FIELD_ORDERS[2:]


# AVFieldOrder, by value: unknown, progressive, then the interlaced orders.
FIELD_ORDERS = (None, "progressive", "tt", "bb", "tb", "bt")


class DecodedFrame:
    """One decoded frame.

    index: 0-based position in the clip; pts: its timestamp in VideoInfo.time_base.
    rgb: H x W x 3 RGB, uint8 (8-bit sources) or uint16 (deeper sources). For movies it
        is converted from `source` on first use, so frames that pass through untouched
        (no mask) never pay for the conversion.
    rgb_crop(box): the same pixels for a box only; for movies only the area around the
        box is converted (while `rgb` has not been), bit for bit what `rgb` holds there.
    source: the decoded frame in the source pixel format (None for image sequences);
        `composite` blends fills into it so untouched samples stay bit-identical.
    width, height, rgb_dtype: what `rgb` will be, without converting anything.
    alpha: an image-sequence frame's alpha (H x W, the dtype of `rgb`), or None; never
        filled, written with the frame where the output holds alpha.
    plate: an EXR frame's own channels (`io.exr.ExrPlate`), or None; `rgb` is then the
        plate's working image (ACEScct codes) and the writer composites into the plate.
    """

    __slots__ = (
        "index",
        "pts",
        "source",
        "_rgb",
        "_rgb_format",
        "_reformatter",
        "_crop_reformatters",
        "_crop",
        "plate",
        "alpha",
    )

    def __init__(
        self,
        index: int,
        pts: int,
        rgb: np.ndarray | None = None,
        source: av.VideoFrame | None = None,
        *,
        rgb_format: str | None = None,
        reformatter: VideoReformatter | None = None,
        crop_reformatters: CropReformatters | None = None,
        plate=None,
        alpha: np.ndarray | None = None,
    ) -> None:
        if rgb is None and source is None:
            raise ValueError("a DecodedFrame needs rgb or a source frame")
        self.index, self.pts, self.source = index, pts, source
        self._rgb, self._rgb_format, self._reformatter = rgb, rgb_format, reformatter
        self._crop_reformatters = crop_reformatters
        self._crop: tuple[Box, np.ndarray] | None = None  # the converted area, if any
        self.plate, self.alpha = plate, alpha

    @property
    def rgb(self) -> np.ndarray:
        if self._rgb is None:
            source = self.source
            fmt = self._rgb_format or rgb_format(bit_depth(source.format.name))
            self._rgb = to_rgb(source, Conversion.for_frame(source), fmt, self._reformatter)
            self._crop = None
        return self._rgb

    @property
    def width(self) -> int:
        return self.source.width if self._rgb is None else self._rgb.shape[1]

    @property
    def height(self) -> int:
        return self.source.height if self._rgb is None else self._rgb.shape[0]

    @property
    def rgb_dtype(self) -> np.dtype:
        if self._rgb is not None:
            return self._rgb.dtype
        fmt = self._rgb_format or rgb_format(bit_depth(self.source.format.name))
        return np.dtype(np.uint8 if fmt == "rgb24" else np.uint16)

    def rgb_crop(self, box: Box) -> np.ndarray:
        """`rgb[y0:y1, x0:x1]` for box (x0, y0, x1, y1), end-exclusive; a view, not to be
        written to. Repeated calls for boxes inside the area converted first are slices."""
        x0, y0, x1, y1 = box
        if not (0 <= x0 <= x1 <= self.width and 0 <= y0 <= y1 <= self.height):
            raise ValueError(f"box {box} is outside the {self.width}x{self.height} frame")
        source = self.source
        if self._rgb is not None or not _crops_convert_exactly(
            source.format.name, source.width, source.height
        ):
            return self.rgb[y0:y1, x0:x1]
        if self._crop is None or not _inside(box, self._crop[0]):
            area = _conversion_area(box, self._crop, self.width, self.height)
            if 2 * (area[2] - area[0]) * (area[3] - area[1]) > self.width * self.height:
                return self.rgb[y0:y1, x0:x1]  # most of the frame: convert all of it
            self._crop = (area, self._convert(area))
        (ax0, ay0, _, _), rgb = self._crop
        return rgb[y0 - ay0 : y1 - ay0, x0 - ax0 : x1 - ax0]

    def _convert(self, area: Box) -> np.ndarray:
        source = self.source
        fmt = self._rgb_format or rgb_format(bit_depth(source.format.name))
        reformatter = None
        if self._crop_reformatters is not None:
            reformatter = self._crop_reformatters.for_size(area[2] - area[0], area[3] - area[1])
        crop = crop_frame(source, area)
        return to_rgb(crop, Conversion.for_frame(source), fmt, reformatter)

    def __repr__(self) -> str:
        kind = self.source.format.name if self.source is not None else "rgb"
        return f"<DecodedFrame {self.index} pts={self.pts} {kind}>"


Box = tuple[int, int, int, int]

# Pixels converted around a box on each side, so that the colour conversion's chroma
# filter reads the frame's own samples there, never the crop's replicated edge (4:2:0
# needs more than 2); and the grid converted areas start on: a multiple of every chroma
# subsampling, and of two rows, so that interlaced fields keep their parity.
CROP_CONTEXT = 16
CROP_GRID = 4


@functools.lru_cache(maxsize=16)
def _crops_convert_exactly(pix_fmt: str, width: int, height: int) -> bool:
    """Whether a crop of this frame converts to exactly the pixels of the whole frame's
    conversion: the chroma planes must cover the frame in whole samples (an odd width in
    4:2:0 scales chroma by a ratio other than 1/2, so crops would resample differently)."""
    try:
        layouts = plane_layouts(pix_fmt, width, height)
    except MediaError:
        return False
    x_block = 1 << max(layout.x_shift for layout in layouts)
    y_block = 1 << max(layout.y_shift for layout in layouts)
    return width % x_block == 0 and height % y_block == 0


def _inside(box: Box, area: Box) -> bool:
    return area[0] <= box[0] and area[1] <= box[1] and box[2] <= area[2] and box[3] <= area[3]


def _conversion_area(box: Box, converted: tuple[Box, np.ndarray] | None, width: int, height: int):
    """The box grown by CROP_CONTEXT, on the CROP_GRID, within the frame; it also covers
    the area converted before, if any, so that the boxes asked for before stay slices."""
    x0, y0, x1, y1 = box
    g, m = CROP_GRID, CROP_CONTEXT
    area = (
        max((x0 - m) // g * g, 0),
        max((y0 - m) // g * g, 0),
        min(-(-(x1 + m) // g) * g, width),
        min(-(-(y1 + m) // g) * g, height),
    )
    if converted is None:
        return area
    # The area before already has its context and lies on the grid: no second margin.
    (cx0, cy0, cx1, cy1), _ = converted
    return min(area[0], cx0), min(area[1], cy0), max(area[2], cx1), max(area[3], cy1)
