"""The `moebius.masktrack/1` format as frozen dataclasses, and its limits.

`parse.py` turns JSON into these (every error with its JSON path); `track.py` draws them.
Sizes are capped (`MAX_*`) so that a hostile or broken file cannot make us allocate
gigabytes: a canvas side is at most 32768 px, a keyframe at most 100 000 points.
"""

from __future__ import annotations

from dataclasses import dataclass

SCHEMA_ID = "moebius.masktrack/1"

# Limits against memory bombs; generous for real work.
MAX_CANVAS_SIDE = 32768
MAX_CANVAS_PIXELS = 1 << 28  # 16384 x 16384
# Roto shapes have tens to a few thousand points; rasterising costs about 0.6 s a frame
# at 10,000 (5 s at 100,000, measured at 640x360).
MAX_POINTS_PER_KEYFRAME = 10_000
MAX_TOTAL_POINTS = 2_000_000  # e.g. 1,000 keyframes of 2,000 points
MAX_TRACKS = 1_000
MAX_FRAME_NUMBER = 10**9
MAX_COORDINATE = 1e7  # px; far outside any frame, small enough for exact float arithmetic
MAX_LENGTH = 1e6  # px; stroke width, expand, feather, ellipse axes
# Parsed JSON takes about ten times its size in memory; long rasters belong in PNGs or a matte.
MAX_JSON_BYTES = 64 * 1024 * 1024
MAX_PATH_CHARS = 4096

SHAPES = ("polyline", "polygon", "ellipse", "raster")
INTERPOLATIONS = ("linear", "hold", "smooth")
RASTER_FORMATS = ("png", "coco_rle", "video")


@dataclass(frozen=True)
class PathKeyframe:
    """A polyline or polygon keyframe; None means "use the track's value"."""

    frame: int
    points: tuple[tuple[float, float], ...]
    width: float | None = None
    expand: float | None = None
    feather: float | None = None


@dataclass(frozen=True)
class EllipseKeyframe:
    """An ellipse keyframe: centre, semi-axes (rx, ry), rotation in degrees from +x towards +y."""

    frame: int
    center: tuple[float, float]
    axes: tuple[float, float]
    angle: float = 0.0
    expand: float | None = None
    feather: float | None = None


@dataclass(frozen=True)
class RleMask:
    """One COCO run-length encoded mask: size (h, w) and counts (string or list form)."""

    height: int
    width: int
    counts: str | tuple[int, ...]
    json_path: str


@dataclass(frozen=True)
class RasterSourceSpec:
    """A raster track's `source`; `path` as written in the file (resolved in raster.py)."""

    format: str  # "png" | "coco_rle" | "video"
    json_path: str  # e.g. "tracks[3].source", for error messages
    path: str | None = None
    rle_frames: tuple[tuple[int, tuple[RleMask, ...]], ...] = ()


@dataclass(frozen=True)
class TrackSpec:
    index: int
    id: str
    shape: str
    keyframes: tuple[PathKeyframe, ...] | tuple[EllipseKeyframe, ...] = ()
    source: RasterSourceSpec | None = None
    width: float | None = None
    expand: float = 0.0
    feather: float = 0.0
    interpolation: str = "linear"
    smooth_path: bool = False
    range: tuple[int, int] | None = None
    invert: bool = False

    @property
    def json_path(self) -> str:
        return f"tracks[{self.index}]"


@dataclass(frozen=True)
class MaskTrackSpec:
    """A whole validated mask-track file."""

    label: str  # how errors name the file, e.g. "wires.json"
    width: int
    height: int
    tracks: tuple[TrackSpec, ...]
    frame_base: int = 0
    scale_to_video: bool = False
    # "stored": points on the frames as stored; "display": on the picture a player shows,
    # after the clip's display rotation (a phone clip), turned back when drawn.
    orientation: str = "stored"
