"""Pixel formats, colour tags and the one YUV <-> RGB conversion everybody uses.

Decode (YUV -> RGB for the fillers) and composite (RGB fill -> YUV to blend into the
source) must use the same matrix, range and swscale flags, or filled pixels drift in
colour against their untouched neighbours. Both go through `to_rgb` / `from_rgb` here.

Colour tag numbers are FFmpeg's (AVColorPrimaries, AVColorTransferCharacteristic,
AVColorSpace, AVColorRange); names are the ones ffmpeg/ffprobe print.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from fractions import Fraction

import av
import av.filter
import numpy as np
from av.video.reformatter import Interpolation, VideoReformatter

from ..errors import MediaError

PRIMARIES = {
    1: "bt709",
    4: "bt470m",
    5: "bt470bg",
    6: "smpte170m",
    7: "smpte240m",
    8: "film",
    9: "bt2020",
    10: "smpte428",
    11: "smpte431",
    12: "smpte432",
    22: "ebu3213",
}
TRANSFERS = {
    1: "bt709",
    4: "gamma22",
    5: "gamma28",
    6: "smpte170m",
    7: "smpte240m",
    8: "linear",
    9: "log100",
    10: "log316",
    11: "iec61966-2-4",
    12: "bt1361e",
    13: "iec61966-2-1",
    14: "bt2020-10",
    15: "bt2020-12",
    16: "smpte2084",
    17: "smpte428",
    18: "arib-std-b67",
}
MATRICES = {
    0: "gbr",
    1: "bt709",
    4: "fcc",
    5: "bt470bg",
    6: "smpte170m",
    7: "smpte240m",
    8: "ycgco",
    9: "bt2020nc",
    10: "bt2020c",
    11: "smpte2085",
    12: "chroma-derived-nc",
    13: "chroma-derived-c",
    14: "ictcp",
}
RANGES = {1: "tv", 2: "pc"}

# AVColorSpace -> the swscale coefficient table (SWS_CS_*) that implements it.
# swscale has no table for the others; they are guessed from the size like untagged video.
_SWS_MATRIX = {1: 1, 4: 4, 5: 5, 6: 5, 7: 7, 9: 9, 10: 9}
SWS_BT709 = 1
SWS_BT601 = 5

# swscale flags, measured on 720p H.264 footage (YUV -> RGB -> YUV round trip). Without
# ACCURATE_RND luma comes back 1 code value low on average; with it and full-resolution
# chroma the mean luma error is 0.002. Decoding converts whole frames, so it uses bilinear
# chroma (about 3x faster than bicubic at 720p), as does any whole-frame conversion;
# composite converts small crops and can afford bicubic, the most accurate for chroma.
_FULL_CHROMA = (
    Interpolation.ACCURATE_RND | Interpolation.FULL_CHR_H_INT | Interpolation.FULL_CHR_H_INP
)
SWS_FRAME_FLAGS = Interpolation.BILINEAR | _FULL_CHROMA
SWS_CROP_FLAGS = Interpolation.BICUBIC | _FULL_CHROMA
# Crops up to this many pixels are converted in one thread (see from_rgb).
_ONE_THREAD_PIXELS = 1 << 17


def _name(table: dict[int, str], value: int | None) -> str | None:
    return table.get(int(value)) if value is not None else None


def _number(table: dict[int, str], name: str | None) -> int | None:
    if name is None:
        return None
    for number, known in table.items():
        if known == name:
            return number
    raise ValueError(f"unknown colour tag {name!r}; expected one of {sorted(table.values())}")


@dataclass(frozen=True)
class ColorTags:
    """Colour description of a stream, as ffmpeg names; None where the source is untagged."""

    primaries: str | None = None
    transfer: str | None = None
    matrix: str | None = None
    range: str | None = None

    @classmethod
    def from_numbers(cls, primaries: int, transfer: int, matrix: int, range_: int) -> ColorTags:
        return cls(
            _name(PRIMARIES, primaries),
            _name(TRANSFERS, transfer),
            _name(MATRICES, matrix),
            _name(RANGES, range_),
        )

    def numbers(self) -> tuple[int, int, int, int]:
        """(primaries, transfer, matrix, range) as FFmpeg enum values (2/2/2/0 = unspecified)."""
        return (
            _number(PRIMARIES, self.primaries) or 2,
            _number(TRANSFERS, self.transfer) or 2,
            2 if self.matrix is None else _number(MATRICES, self.matrix),
            _number(RANGES, self.range) or 0,
        )


@dataclass(frozen=True)
class Conversion:
    """How YUV samples of one stream map to RGB: a swscale matrix and a range (1 tv, 2 pc)."""

    sws_matrix: int
    color_range: int

    @classmethod
    def for_stream(
        cls, pix_fmt: str, color: ColorTags, width: int = 0, height: int = 0
    ) -> Conversion:
        """The conversion for frames of width x height (0: unknown, taken as SD) in pix_fmt.

        A tagged matrix and range are honoured (README, "Colour").
        """
        matrix_number = color.numbers()[2]
        range_number = color.numbers()[3]
        if range_number == 0:
            # Untagged: limited range for YUV (what every encoder writes by default), except
            # the JPEG-style yuvj formats which are full range by definition.
            range_number = 2 if pix_fmt.startswith("yuvj") or is_rgb(pix_fmt) else 1
        matrix = _SWS_MATRIX.get(matrix_number)
        if matrix is None:
            # Untagged (or a matrix swscale lacks, such as YCgCo): guessed from the size as
            # Nuke, Resolve and players do (mpv's rule): HD, 1280 wide or more or taller than
            # 576, is BT.709; smaller video BT.601. FFmpeg alone takes BT.601 at any size.
            matrix = SWS_BT709 if width >= 1280 or height > 576 else SWS_BT601
        return cls(matrix, range_number)

    @classmethod
    def for_frame(cls, frame: av.VideoFrame) -> Conversion:
        """The conversion a decoded frame's own tags call for (decode and composite agree)."""
        return cls.for_stream(frame.format.name, frame_color(frame), frame.width, frame.height)


def frame_color(frame: av.VideoFrame) -> ColorTags:
    return ColorTags.from_numbers(
        frame.color_primaries, frame.color_trc, frame.colorspace, frame.color_range
    )


def is_rgb(pix_fmt: str) -> bool:
    return av.VideoFormat(pix_fmt).is_rgb


def bit_depth(pix_fmt: str) -> int:
    """Largest component depth of a pixel format (8, 10, 12, 16...)."""
    return max(c.bits for c in av.VideoFormat(pix_fmt).components)


def rgb_format(depth: int) -> str:
    """The RGB format decoded frames use: 8-bit sources -> rgb24, deeper ones -> rgb48le."""
    return "rgb24" if depth <= 8 else "rgb48le"


def has_alpha(pix_fmt: str) -> bool:
    return any(c.is_alpha for c in av.VideoFormat(pix_fmt).components)


def _frame_flags(frame: av.VideoFrame, pix_fmt: str) -> Interpolation:
    """SWS_FRAME_FLAGS, except where the libswscale PyAV ships gets bilinear wrong.

    4:2:0 (chroma rows subsampled) into 16-bit RGB with bilinear full-chroma interpolation
    comes out of libswscale 9 (FFmpeg 8) wrong by 50+ levels on average (10-bit H.264,
    tests/io/test_colour_matrix.py); bicubic gives FFmpeg's answer. 4:2:2, 4:4:4 and 8-bit
    RGB are right with bilinear.
    """
    components = frame.format.components
    rows_subsampled = len(components) > 2 and components[1].height < components[0].height
    deep_rgb = is_rgb(pix_fmt) and bit_depth(pix_fmt) > 8
    return SWS_CROP_FLAGS if rows_subsampled and deep_rgb else SWS_FRAME_FLAGS


def to_rgb(
    frame: av.VideoFrame,
    conversion: Conversion,
    rgb_fmt: str,
    reformatter: VideoReformatter | None = None,
) -> np.ndarray:
    """Decoded frame -> H x W x 3 RGB (uint8 for rgb24, uint16 for rgb48le).

    Pass one `reformatter` for a stream of frames: it keeps swscale's set-up between calls.
    """
    rgb = (reformatter or VideoReformatter()).reformat(
        frame,
        format=rgb_fmt,
        src_colorspace=conversion.sws_matrix,
        src_color_range=conversion.color_range,
        dst_color_range=2,
        interpolation=_frame_flags(frame, rgb_fmt),
    )
    return rgb.to_ndarray()


def from_rgb(
    rgb: np.ndarray,
    pix_fmt: str,
    conversion: Conversion,
    reformatter: VideoReformatter | None = None,
) -> av.VideoFrame:
    """H x W x 3 RGB crop (uint8 or uint16) -> a frame in pix_fmt, tagged with the conversion.

    Pass a `reformatter` kept for crops of this size (see `CropReformatters`): setting up
    swscale costs more than converting a small crop.
    """
    rgb = np.ascontiguousarray(rgb)
    source = av.VideoFrame.from_ndarray(rgb, format="rgb24" if rgb.dtype == np.uint8 else "rgb48le")
    return (reformatter or VideoReformatter()).reformat(
        source,
        format=pix_fmt,
        src_color_range=2,
        dst_colorspace=conversion.sws_matrix,
        dst_color_range=conversion.color_range,
        interpolation=SWS_CROP_FLAGS,
        # A small crop in one thread: handing its slices to a pool costs more than
        # converting them (the samples are the same with any number of threads).
        threads=1 if rgb.shape[0] * rgb.shape[1] <= _ONE_THREAD_PIXELS else 0,
    )


class CropReformatters:
    """One VideoReformatter per crop size, the most recently used `capacity` of them.

    A reformatter keeps its swscale set-up only while the size and formats stay the same,
    and setting up swscale (filters for bicubic chroma) takes about ten times as long as
    converting a 50 x 136 crop. The crops of a moving mask come in a few sizes, so keeping
    one reformatter per size saves nearly all of it. The result does not depend on which
    reformatter converts a crop. Not thread-safe: one per thread.
    """

    def __init__(self, capacity: int = 32) -> None:
        self.capacity = capacity
        self._by_size: OrderedDict[tuple[int, int], VideoReformatter] = OrderedDict()

    def for_size(self, width: int, height: int) -> VideoReformatter:
        key = (width, height)
        reformatter = self._by_size.pop(key, None) or VideoReformatter()
        self._by_size[key] = reformatter  # now the most recent
        if len(self._by_size) > self.capacity:
            self._by_size.popitem(last=False)
        return reformatter


def convert_frame(
    frame: av.VideoFrame,
    pix_fmt: str,
    source: Conversion,
    target: Conversion,
    reformatter: VideoReformatter | None = None,
) -> av.VideoFrame:
    """Change a frame's pixel format (e.g. for an encoder), matrix and range given explicitly."""
    if frame.format.name == pix_fmt and source == target:
        return frame
    return (reformatter or VideoReformatter()).reformat(
        frame,
        format=pix_fmt,
        src_colorspace=source.sws_matrix,
        src_color_range=source.color_range,
        dst_colorspace=target.sws_matrix,
        dst_color_range=target.color_range,
        interpolation=_frame_flags(frame, pix_fmt),
    )


def crop_frame(frame: av.VideoFrame, box: tuple[int, int, int, int]) -> av.VideoFrame:
    """The samples of box (x0, y0, x1, y1; on the chroma grid) as a frame of their own.

    Cut by FFmpeg's crop filter, so the crop keeps every property of `frame` that swscale
    reads, including the chroma siting that PyAV cannot set on a frame it creates (a
    copy of the samples into a new frame converts to different RGB).
    """
    x0, y0, x1, y1 = box
    graph = av.filter.Graph()
    graph.threads = 1  # cropping only moves pointers; a thread pool would cost more
    source = graph.add_buffer(
        width=frame.width,
        height=frame.height,
        format=frame.format,
        time_base=frame.time_base or Fraction(1, 1000),
    )
    crop = graph.add("crop", f"w={x1 - x0}:h={y1 - y0}:x={x0}:y={y0}:exact=1")
    sink = graph.add("buffersink")
    source.link_to(crop)
    crop.link_to(sink)
    graph.configure()
    graph.push(frame)
    return graph.pull()


@dataclass(frozen=True)
class PlaneLayout:
    """One plane of a pixel format as a numpy array of shape (rows, cols, samples).

    x_shift / y_shift: log2 of the subsampling against the full frame (1 for 4:2:0 chroma).
    samples: interleaved samples per pixel (3 for rgb24, 2 for nv12's UV plane, 1 planar).
    keep: sample positions that are alpha or padding; composite leaves them as they are.
    low_bits: unused low bits of each sample (6 for p010le, which keeps 10 bits at the top).
    """

    index: int
    x_shift: int
    y_shift: int
    samples: int
    dtype: np.dtype
    keep: tuple[int, ...] = ()
    low_bits: int = 0


def _shift(full: int, plane: int) -> int:
    for shift in range(4):
        if -(-full >> shift) == plane:
            return shift
    raise ValueError(f"plane size {plane} does not divide frame size {full}")


_PACKED_RGB = {
    # name: (samples per pixel, positions kept from the source: alpha or padding)
    "rgb24": (3, ()),
    "bgr24": (3, ()),
    "rgb48le": (3, ()),
    "bgr48le": (3, ()),
    "rgba": (4, (3,)),
    "bgra": (4, (3,)),
    "argb": (4, (0,)),
    "abgr": (4, (0,)),
    "rgb0": (4, (3,)),
    "bgr0": (4, (3,)),
    "0rgb": (4, (0,)),
    "0bgr": (4, (0,)),
    "rgba64le": (4, (3,)),
    "bgra64le": (4, (3,)),
}
_SEMI_PLANAR_PREFIXES = ("nv12", "nv21", "nv16", "nv61", "nv24", "nv42", "nv20", "p0", "p2", "p4")


def plane_layouts(pix_fmt: str, width: int, height: int) -> list[PlaneLayout]:
    """How to view each plane of pix_fmt as samples, or MediaError for formats we cannot blend.

    Supported: planar YUV/GBR/gray with or without alpha (8 to 16 bit, little endian),
    semi-planar nv12-style and p010-style, and packed RGB(A) such as rgb24 or bgr0.
    """
    fmt = av.VideoFormat(pix_fmt, width, height)
    if fmt.is_big_endian or fmt.is_bit_stream or fmt.has_palette or fmt.is_bayer:
        raise MediaError(f"pixel format {pix_fmt} is not supported for compositing")
    if pix_fmt.endswith(("f16le", "f32le", "f16be", "f32be")):
        raise MediaError(f"floating-point pixel format {pix_fmt} is not supported")
    wide = max(c.bits for c in fmt.components) > 8
    dtype = np.dtype("<u2" if wide else "u1")
    if pix_fmt in _PACKED_RGB:
        samples, keep = _PACKED_RGB[pix_fmt]
        return [PlaneLayout(0, 0, 0, samples, dtype, keep)]
    per_plane: dict[int, list] = {}
    for component in fmt.components:
        per_plane.setdefault(component.plane, []).append(component)
    layouts = []
    for plane, components in sorted(per_plane.items()):
        x_shift = _shift(width, components[0].width)
        y_shift = _shift(height, components[0].height)
        keep = (0,) if components[0].is_alpha else ()
        if len(components) == 1:
            layouts.append(PlaneLayout(plane, x_shift, y_shift, 1, dtype, keep))
        elif len(components) == 2 and pix_fmt.startswith(_SEMI_PLANAR_PREFIXES):
            low_bits = 16 - components[0].bits if pix_fmt.startswith("p") and wide else 0
            layouts.append(PlaneLayout(plane, x_shift, y_shift, 2, dtype, (), low_bits))
        else:
            raise MediaError(f"pixel format {pix_fmt} is not supported for compositing")
    return layouts


def plane_array(frame: av.VideoFrame, layout: PlaneLayout) -> np.ndarray:
    """A (rows, cols, samples) view of one plane's visible samples; writes go to the frame."""
    plane = frame.planes[layout.index]
    itemsize = layout.dtype.itemsize
    rows = np.frombuffer(plane, dtype=layout.dtype)
    rows = rows[: plane.height * (plane.line_size // itemsize)]
    rows = rows.reshape(plane.height, plane.line_size // itemsize)
    return rows[:, : plane.width * layout.samples].reshape(
        plane.height, plane.width, layout.samples
    )
