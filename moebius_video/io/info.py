"""What a reader says about a clip, and what it yields per frame."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from .pixels import ColorTags, Conversion, bit_depth, rgb_format, to_rgb


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

    @property
    def is_image_sequence(self) -> bool:
        return self.stream_index is None


class DecodedFrame:
    """One decoded frame.

    index: 0-based position in the clip; pts: its timestamp in VideoInfo.time_base.
    rgb: H x W x 3 RGB, uint8 (8-bit sources) or uint16 (deeper sources). For movies it
        is converted from `source` on first use, so frames that pass through untouched
        (no mask) never pay for the conversion.
    source: the decoded frame in the source pixel format (None for image sequences);
        `composite` blends fills into it so untouched samples stay bit-identical.
    """

    __slots__ = ("index", "pts", "source", "_rgb", "_rgb_format", "_reformatter")

    def __init__(
        self,
        index: int,
        pts: int,
        rgb: np.ndarray | None = None,
        source: av.VideoFrame | None = None,
        *,
        rgb_format: str | None = None,
        reformatter: VideoReformatter | None = None,
    ) -> None:
        if rgb is None and source is None:
            raise ValueError("a DecodedFrame needs rgb or a source frame")
        self.index, self.pts, self.source = index, pts, source
        self._rgb, self._rgb_format, self._reformatter = rgb, rgb_format, reformatter

    @property
    def rgb(self) -> np.ndarray:
        if self._rgb is None:
            source = self.source
            fmt = self._rgb_format or rgb_format(bit_depth(source.format.name))
            self._rgb = to_rgb(source, Conversion.for_frame(source), fmt, self._reformatter)
        return self._rgb

    def __repr__(self) -> str:
        kind = self.source.format.name if self.source is not None else "rgb"
        return f"<DecodedFrame {self.index} pts={self.pts} {kind}>"
