"""MaskTrack: the per-frame alpha of a mask track, for one video.

    from moebius_video.masks import load_mask_track
    with load_mask_track("wires.json", width=1920, height=1080, frame_count=240) as track:
        alpha = track.alpha(0)        # float32 H x W in [0, 1], all zero when nothing is active
        box = track.box(0, margin=8)  # (x0, y0, x1, y1) around alpha > 0, or None

A frame's alpha is the union (maximum) of the tracks active on it, times (1 - the union of
the active `invert` tracks). Everything the file says is checked when it is loaded, against
the video: canvas size (or `scale_to_video`), frame ranges against the clip, raster files and
their sizes, so that a bad track fails before any frame is processed.

`--mask-track` also takes a raster directly instead of JSON: a folder of PNGs, a single PNG
(static mask), a printf pattern (`roto.%04d.png`) or a matte video. Such a raster must be the
video's size and, except for a single PNG, have one mask per frame, the first for frame index 0
(frame_base is 0: a pattern's own numbers only order its files).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..errors import MaskTrackError
from ..patches import enclosing_box
from ..paths import is_image_pattern
from .files import SourceError, read_file_head
from .interpolate import KeyframeCurve, catmull_rom_path
from .parse import parse_mask_track, read_mask_track_json
from .raster import (
    Canvas,
    MatteVideoSource,
    RasterSource,
    open_png_path,
    open_source,
)
from .rasterize import (
    AlphaCrop,
    ellipse_bounds,
    pixel_window,
    points_bounds,
    rasterize_binary,
    rasterize_ellipse,
    rasterize_polygon,
    rasterize_polyline,
)
from .spec import MaskTrackSpec, TrackSpec

_MIN_LENGTH = 1e-3  # px: smooth interpolation may overshoot a width or axis below zero

Box = tuple[int, int, int, int]


class MaskTrack:
    """Alpha masks for the frames of one video (width x height, frame_count frames)."""

    def __init__(
        self,
        label: str,
        width: int,
        height: int,
        frame_count: int,
        frame_base: int,
        tracks: list[_Track],
        *,
        frame_base_stated: bool = True,
    ) -> None:
        self.label = label
        self.width = width
        self.height = height
        self.frame_count = frame_count
        self.frame_base = frame_base
        # False for a raster given directly (PNGs, a matte): its frame_base 0 only says
        # that its first mask is the clip's first frame.
        self.frame_base_stated = frame_base_stated
        self._tracks = tracks

    @property
    def track_ids(self) -> tuple[str, ...]:
        return tuple(t.id for t in self._tracks)

    def source_files(self) -> list[Path]:
        """The raster files the track reads (matte videos, PNGs), so that no output of the
        run is written over one of them."""
        tracks = [getattr(track, "inner", track) for track in self._tracks]
        return [
            path
            for track in tracks
            if isinstance(track, _RasterTrack)
            for path in track.source.files()
        ]

    def active_track_ids(self, index: int) -> tuple[str, ...]:
        number = self._frame_number(index)
        return tuple(t.id for t in self._tracks if t.first <= number <= t.last)

    def alpha(self, index: int) -> np.ndarray:
        """float32 height x width alpha in [0, 1] for 0-based video frame `index`."""
        alpha = np.zeros((self.height, self.width), dtype=np.float32)
        crop = self.alpha_crop(index)
        if crop is not None:
            x0, y0, x1, y1 = crop.box
            alpha[y0:y1, x0:x1] = crop.alpha
        return alpha

    def alpha_crop(self, index: int) -> AlphaCrop | None:
        """The alpha of frame `index` within a box: `alpha(index)` is zero outside it and
        `crop.alpha` inside it. None when nothing is drawn on the frame.

        The box is the union of the shapes' windows (what `box(index)` gives for drawn
        shapes), so it may hold some zeros. Cheaper than `alpha` for callers that only need
        the area around the mask: a wire's crop is a small part of the frame.
        """
        number = self._frame_number(index)
        crops, protects = [], []
        for track in self._tracks:
            if not track.first <= number <= track.last:
                continue
            try:
                crop = track.rasterize(number, self.width, self.height)
            except SourceError as exc:  # a raster file read only now: corrupt, changed
                raise MaskTrackError(
                    f"{self.label}: track {track.id!r}, frame {number}: {exc}"
                ) from None
            if crop is not None:
                (protects if track.invert else crops).append(crop)
        box = enclosing_box([crop.box for crop in crops])
        if box is None:
            return None  # inverts alone draw nothing
        x0, y0, x1, y1 = box
        alpha = np.zeros((y1 - y0, x1 - x0), dtype=np.float32)
        for crop in crops:
            _max_into(alpha, crop, x0, y0)
        if protects:
            protect = np.zeros_like(alpha)
            for crop in protects:
                _max_into(protect, crop, x0, y0)
            alpha *= 1.0 - protect
        return AlphaCrop(alpha, x0, y0)

    def box(self, index: int, margin: int = 0) -> Box | None:
        """(x0, y0, x1, y1), end-exclusive, containing every pixel with alpha > 0, grown by
        margin and clipped to the frame; None when the frame's alpha is all zero. Cheap for
        drawn shapes (no rasterising); it may be larger than the mask (inverts are ignored)."""
        return enclosing_box(self.shape_boxes(index, margin))

    def shape_boxes(self, index: int, margin: int = 0) -> list[Box]:
        """`box` per drawn track active on frame `index` (none when nothing is drawn): the
        temporal core fills masks far apart as separate regions."""
        number = self._frame_number(index)
        boxes = []
        for track in self._tracks:
            if track.invert or not track.first <= number <= track.last:
                continue
            window = track.window(number, self.width, self.height)
            if window is not None:
                x0, y0, x1, y1 = window
                boxes.append(
                    (
                        max(x0 - margin, 0),
                        max(y0 - margin, 0),
                        min(x1 + margin, self.width),
                        min(y1 + margin, self.height),
                    )
                )
        return boxes

    def close(self) -> None:
        """Close matte videos; the track cannot be used afterwards."""
        for track in self._tracks:
            track.close()

    def __enter__(self) -> MaskTrack:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"MaskTrack({self.label!r}, {self.width}x{self.height}, {self.frame_count} frames, "
            f"frame_base={self.frame_base}, tracks={list(self.track_ids)})"
        )

    def _frame_number(self, index: int) -> int:
        if not 0 <= index < self.frame_count:
            raise IndexError(f"frame index {index} outside the clip (0..{self.frame_count - 1})")
        return index + self.frame_base


def _max_into(alpha: np.ndarray, crop: AlphaCrop, x0: int, y0: int) -> None:
    """alpha = max(alpha, crop) where they overlap; alpha's top-left pixel is (x0, y0)."""
    cx0, cy0, cx1, cy1 = crop.box
    h, w = alpha.shape
    ax0, ay0 = max(cx0, x0), max(cy0, y0)
    ax1, ay1 = min(cx1, x0 + w), min(cy1, y0 + h)
    if ax0 >= ax1 or ay0 >= ay1:
        return
    view = alpha[ay0 - y0 : ay1 - y0, ax0 - x0 : ax1 - x0]
    np.maximum(view, crop.alpha[ay0 - cy0 : ay1 - cy0, ax0 - cx0 : ax1 - cx0], out=view)


# ---------------------------------------------------------------------------------------------
# Loading


def load_mask_track(
    path_or_dict: str | os.PathLike | Mapping[str, Any],
    width: int,
    height: int,
    frame_count: int,
    base_dir: str | os.PathLike | None = None,
    *,
    confine_to: str | os.PathLike | None = None,
    rotation: int = 0,
) -> MaskTrack:
    """Load and validate a mask track for a video of width x height and frame_count frames.

    path_or_dict: a `moebius.masktrack/1` JSON file, the decoded JSON itself, or a raster
    given directly (PNG folder, single PNG, printf pattern, matte video).
    base_dir: folder that relative raster paths start from; default the JSON file's folder
    (the current directory for a dict).
    confine_to: refuse raster paths that are absolute or lead outside this folder (for mask
    tracks from a less trusted place than the command line, such as a hook request).
    rotation: the video's display rotation (degrees); masks are always drawn on the stored
    frames (width x height), and a track drawn in the display orientation is refused with
    a message that says so.
    Raises MaskTrackError, whose message names the file and the JSON path.
    """
    for name, value in (("width", width), ("height", height), ("frame_count", frame_count)):
        if type(value) is not int or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    confine = Path(confine_to) if confine_to is not None else None

    if isinstance(path_or_dict, Mapping):
        spec = parse_mask_track(path_or_dict, label="mask track")
        folder = Path(base_dir) if base_dir is not None else Path.cwd()
        return _build(spec, folder, width, height, frame_count, confine, rotation)

    path = Path(path_or_dict)
    label = str(path_or_dict)
    folder = Path(base_dir) if base_dir is not None else path.parent
    kind = _input_kind(path, label)
    if kind == "json":
        spec = parse_mask_track(read_mask_track_json(path, label), label=label)
        return _build(spec, folder, width, height, frame_count, confine, rotation)
    return _load_direct_raster(path, label, kind, width, height, frame_count, rotation)


def _input_kind(path: Path, label: str) -> str:
    if is_image_pattern(path.name):
        return "pattern"
    if path.is_dir():
        return "png_folder"
    if path.suffix.lower() == ".json":
        return "json"
    if path.suffix.lower() == ".png":
        return "png"
    if not path.exists():
        raise MaskTrackError(f"{label}: mask track not found")
    try:
        head = read_file_head(path, 64)
    except SourceError as exc:
        raise MaskTrackError(f"{label}: cannot read the mask track: {exc}") from None
    if head.lstrip()[:1] == b"{" or head.startswith(b"\xef\xbb\xbf"):
        return "json"
    if head.startswith(b"\x89PNG"):
        return "png"
    return "video"


def _load_direct_raster(
    path: Path, label: str, kind: str, width: int, height: int, frame_count: int, rotation: int
) -> MaskTrack:
    video = Canvas(width, height, "the video size")
    try:
        if kind == "video":
            source: RasterSource = MatteVideoSource(path, 0, video)
        else:
            source = open_png_path(path, label, 0, video)
    except SourceError as exc:
        hint = ""
        if "expected the video size" in str(exc) and rotation % 180 == 90:
            hint = (
                f"; the clip is stored {width}x{height} and rotated {rotation} degrees for "
                "display: masks must be in the stored orientation (docs/mask-track.md, "
                '"Rotated clips")'
            )
        elif "expected the video size" in str(exc):
            hint = (
                '; to scale it, write a mask-track JSON with a raster track and "scale_to_video":'
                " true"
            )
        raise MaskTrackError(f"{label}: {exc}{hint}") from None
    try:
        offset = 0
        if source.frames is not None:
            first, last = source.frames
            count = last - first + 1  # numbers spanned, counting gaps
            if count != frame_count:
                raise MaskTrackError(
                    f"{label}: {count} masks for a clip of {frame_count} frames; they must "
                    "match (use a mask-track JSON with a raster track and a range for part "
                    "of a clip)"
                )
            missing = source.missing(first, last)
            if missing:
                raise MaskTrackError(
                    f"{label}: frame {missing[0]} is missing from the sequence "
                    f"({len(missing)} missing between {first} and {last})"
                )
            offset = first  # a pattern may start at 1001: its first file is index 0
    except BaseException:
        source.close()
        raise
    track = _RasterTrack(
        id=path.name,
        invert=False,
        first=0,
        last=frame_count - 1,
        source=source,
        expand=0.0,
        feather=0.0,
        video_size=(width, height),
        source_offset=offset,
    )
    return MaskTrack(label, width, height, frame_count, 0, [track], frame_base_stated=False)


def _build(
    spec: MaskTrackSpec,
    base_dir: Path,
    width: int,
    height: int,
    frame_count: int,
    confine_to: Path | None,
    rotation: int = 0,
) -> MaskTrack:
    label = spec.label
    turns = 0  # quarter turns, counter-clockwise, from the stored frames to what is drawn
    if spec.orientation == "display" and rotation % 360:
        if rotation % 90:
            raise MaskTrackError(
                f'{label}: orientation: "display" needs a rotation by a multiple of 90 '
                f"degrees; this clip is rotated {rotation}"
            )
        turns = rotation // 90 % 4
    # The size the points are drawn at: the stored frame's, or the displayed picture's.
    draw = (height, width) if turns % 2 else (width, height)
    canvas = (spec.width, spec.height)
    if not turns and canvas != draw and _in_display_orientation(canvas, draw, rotation):
        # Scaling would stretch such a track, never turn it: refused with or without
        # scale_to_video.
        raise MaskTrackError(
            f"{label}: width, height: the canvas is {spec.width}x{spec.height}, the clip's "
            f"display orientation, but masks are drawn on its stored frames: the clip is "
            f"stored {width}x{height} and rotated {rotation} degrees for display; draw the "
            f"track on the stored frames (width {width}, height {height}), or set "
            '"orientation": "display" (docs/mask-track.md, "Rotated clips")'
        )
    if canvas != draw and not spec.scale_to_video:
        shown = " as displayed" if turns else ""
        raise MaskTrackError(
            f"{label}: width, height: the canvas is {spec.width}x{spec.height} but the video "
            f'is {draw[0]}x{draw[1]}{shown}; set "scale_to_video": true to scale the track to '
            "the video"
        )
    scale = (draw[0] / spec.width, draw[1] / spec.height)
    clip = (spec.frame_base, spec.frame_base + frame_count - 1)
    tracks: list[_Track] = []
    try:
        for track_spec in spec.tracks:
            if track_spec.shape == "raster":
                track = _open_raster_track(track_spec, spec, base_dir, clip, draw, confine_to)
            else:
                track = _ShapeTrack(track_spec, scale)
                _check_in_clip(label, track_spec, (track.first, track.last), clip, spec)
            tracks.append(_TurnedTrack(track, turns, draw) if turns else track)
    except BaseException:
        for track in tracks:
            track.close()
        raise
    return MaskTrack(label, width, height, frame_count, spec.frame_base, tracks)


def _in_display_orientation(
    canvas: tuple[int, int], stored: tuple[int, int], rotation: int
) -> bool:
    """Whether a canvas has the shape of a quarter-turned clip's display, not of its stored
    frames (so it was drawn on the rotated picture)."""
    if rotation % 180 != 90:
        return False
    (cw, ch), (w, h) = canvas, stored
    return cw * w == ch * h and cw * h != ch * w


def _check_in_clip(
    label: str,
    track: TrackSpec,
    frames: tuple[int, int],
    clip: tuple[int, int],
    spec: MaskTrackSpec,
) -> None:
    first, last = frames
    if last < clip[0] or first > clip[1]:
        where = "range" if track.range is not None else (
            "source" if track.shape == "raster" else "keyframes")  # fmt: skip
        raise MaskTrackError(
            f"{label}: {track.json_path}.{where}: track {track.id!r} covers frames "
            f"{first}-{last}, entirely outside the clip (frames {clip[0]}-{clip[1]}, "
            f"frame_base {spec.frame_base})"
        )


def _open_raster_track(
    track: TrackSpec,
    spec: MaskTrackSpec,
    base_dir: Path,
    clip: tuple[int, int],
    video_size: tuple[int, int],
    confine_to: Path | None,
) -> _RasterTrack:
    label = spec.label
    source_spec = track.source
    first_frame = track.range[0] if track.range is not None else spec.frame_base
    try:
        canvas = Canvas(spec.width, spec.height)
        source = open_source(source_spec, base_dir, first_frame, canvas, confine_to)
    except SourceError as exc:
        where = getattr(exc, "json_path", None) or f"{source_spec.json_path}.path"
        raise MaskTrackError(f"{label}: {where}: {exc}") from None
    try:
        if track.range is not None:
            frames = track.range
        elif source.frames is not None:
            frames = source.frames
        else:
            frames = clip
        _check_in_clip(label, track, frames, clip, spec)
        lo, hi = max(frames[0], clip[0]), min(frames[1], clip[1])
        missing = source.missing(lo, hi)
        if missing:
            raise MaskTrackError(
                f"{label}: {source_spec.json_path}: no mask for frame {missing[0]} "
                f"({len(missing)} of the frames {lo}-{hi} the track needs are missing)"
            )
        length_scale = math.sqrt(video_size[0] / spec.width * video_size[1] / spec.height)
        return _RasterTrack(
            id=track.id,
            invert=track.invert,
            first=frames[0],
            last=frames[1],
            source=source,
            expand=track.expand * length_scale,
            feather=track.feather * length_scale,
            video_size=video_size,
        )
    except BaseException:
        source.close()
        raise


# ---------------------------------------------------------------------------------------------
# Tracks at run time


class _Track:
    id: str
    invert: bool
    first: int  # frame numbers, inclusive
    last: int

    def window(self, number: int, width: int, height: int) -> Box | None:
        raise NotImplementedError

    def rasterize(self, number: int, width: int, height: int) -> AlphaCrop | None:
        raise NotImplementedError

    def close(self) -> None:
        pass


class _TurnedTrack(_Track):
    """A track drawn on the displayed picture of a rotated clip (`"orientation":
    "display"`), drawn at the display size and turned back onto the stored frames.

    The displayed picture is the stored frame turned `turns` quarter turns counter-clockwise
    (FFmpeg's display matrix), so the stored alpha is the drawn one turned back clockwise.
    """

    def __init__(self, inner: _Track, turns: int, display: tuple[int, int]) -> None:
        self.inner = inner
        self.id, self.invert, self.first, self.last = (
            inner.id,
            inner.invert,
            inner.first,
            inner.last,
        )
        self._clockwise = turns % 4  # clockwise quarter turns undo the counter-clockwise ones
        self._display = display

    def window(self, number: int, width: int, height: int) -> Box | None:
        box = self.inner.window(number, *self._display)
        return None if box is None else self._turn_box(box)

    def rasterize(self, number: int, width: int, height: int) -> AlphaCrop | None:
        crop = self.inner.rasterize(number, *self._display)
        if crop is None:
            return None
        x0, y0, _, _ = self._turn_box(crop.box)
        turned = np.ascontiguousarray(np.rot90(crop.alpha, -self._clockwise))
        return AlphaCrop(turned, x0, y0)

    def _turn_box(self, box: Box) -> Box:
        # One clockwise quarter turn of a w x h picture: pixel (x, y) goes to (h - 1 - y, x).
        (x0, y0, x1, y1), (w, h) = box, self._display
        for _ in range(self._clockwise):
            x0, y0, x1, y1, w, h = h - y1, x0, h - y0, x1, h, w
        return x0, y0, x1, y1

    def close(self) -> None:
        self.inner.close()


class _ShapeTrack(_Track):
    """A polyline, polygon or ellipse track: keyframe values interpolated, then drawn."""

    def __init__(self, spec: TrackSpec, scale: tuple[float, float]) -> None:
        self.spec = spec
        self.id = spec.id
        self.invert = spec.invert
        self.shape = spec.shape
        self.scale = scale
        self.length_scale = math.sqrt(scale[0] * scale[1])
        keyframes = spec.keyframes
        if spec.range is not None:
            self.first, self.last = spec.range
        else:
            self.first, self.last = keyframes[0].frame, keyframes[-1].frame
        # One row of numbers per keyframe: [x0, y0, x1, y1, ..., stroke width, expand, feather]
        # for paths, [cx, cy, rx, ry, angle, expand, feather] for ellipses.
        rows = []
        for kf in keyframes:
            expand = spec.expand if kf.expand is None else kf.expand
            feather = spec.feather if kf.feather is None else kf.feather
            if spec.shape == "ellipse":
                rows.append([*kf.center, *kf.axes, kf.angle, expand, feather])
            else:
                stroke = (spec.width if kf.width is None else kf.width) or 0.0
                rows.append([c for p in kf.points for c in p] + [stroke, expand, feather])
        self.curve = KeyframeCurve(
            np.array([kf.frame for kf in keyframes]), np.array(rows), spec.interpolation
        )
        self._cached: tuple[int, tuple] | None = None

    def _geometry(self, number: int) -> tuple:
        """Shape parameters at a frame, in video pixels (cached for the last frame asked)."""
        if self._cached is not None and self._cached[0] == number:
            return self._cached[1]
        values = self.curve(number)
        sx, sy = self.scale
        expand = max(values[-2], 0.0) * self.length_scale
        feather = max(values[-1], 0.0) * self.length_scale
        if self.shape == "ellipse":
            cx, cy, rx, ry, angle = values[:5]
            center, axes, angle = _scale_ellipse(
                (cx, cy), (max(rx, _MIN_LENGTH), max(ry, _MIN_LENGTH)), angle, sx, sy
            )
            geometry = ("ellipse", center, axes, angle, expand, feather)
        else:
            points = values[:-3].reshape(-1, 2) * (sx, sy)
            if self.spec.smooth_path:
                points = catmull_rom_path(points, closed=self.shape == "polygon")
            stroke = max(values[-3], _MIN_LENGTH) * self.length_scale
            geometry = (self.shape, points, stroke, expand, feather)
        self._cached = (number, geometry)
        return geometry

    def window(self, number: int, width: int, height: int) -> Box | None:
        geometry = self._geometry(number)
        if geometry[0] == "ellipse":
            _, center, axes, angle, expand, feather = geometry
            return pixel_window(
                ellipse_bounds(center, axes, angle), expand + feather + 0.5, width, height
            )
        shape, points, stroke, expand, feather = geometry
        reach = expand + feather + 0.5 + (stroke / 2 if shape == "polyline" else 0.0)
        return pixel_window(points_bounds(points), reach, width, height)

    def rasterize(self, number: int, width: int, height: int) -> AlphaCrop | None:
        geometry = self._geometry(number)
        if geometry[0] == "ellipse":
            _, center, axes, angle, expand, feather = geometry
            return rasterize_ellipse(center, axes, angle, expand, feather, width, height)
        shape, points, stroke, expand, feather = geometry
        if shape == "polyline":
            return rasterize_polyline(points, stroke, expand, feather, width, height)
        return rasterize_polygon(points, expand, feather, width, height)


def _scale_ellipse(
    center: tuple[float, float], axes: tuple[float, float], angle: float, sx: float, sy: float
) -> tuple[tuple[float, float], tuple[float, float], float]:
    """The ellipse scaled by (sx, sy): still an ellipse, but with a rotation the axes change
    length and direction; read them off the singular value decomposition of the map."""
    center = (center[0] * sx, center[1] * sy)
    if sx == sy:
        return center, (axes[0] * sx, axes[1] * sy), angle
    theta = math.radians(angle)
    rotation = np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])
    matrix = np.diag([sx, sy]) @ rotation @ np.diag(axes)
    u, sigma, _ = np.linalg.svd(matrix)
    new_angle = math.degrees(math.atan2(u[1, 0], u[0, 0]))
    return center, (float(sigma[0]), float(sigma[1])), new_angle


class _RasterTrack(_Track):
    """A raster source, scaled to the video when its canvas differs, then expanded/feathered."""

    def __init__(
        self,
        id: str,
        invert: bool,
        first: int,
        last: int,
        source: RasterSource,
        expand: float,
        feather: float,
        video_size: tuple[int, int],
        source_offset: int = 0,
    ) -> None:
        self.id = id
        self.invert = invert
        self.first = first
        self.last = last
        self.source = source
        self.expand = expand
        self.feather = feather
        self.video_size = video_size
        self.source_offset = source_offset  # source frame number = track frame number + this
        self._cached: tuple[int | None, AlphaCrop | None] | None = None

    def rasterize(self, number: int, width: int, height: int) -> AlphaCrop | None:
        # One PNG for every frame: resampled and rasterised once, not once a frame (a large
        # canvas scaled to the video cost half a second a frame).
        key = None if getattr(self.source, "is_static", False) else number
        if self._cached is not None and self._cached[0] == key:
            return self._cached[1]
        mask = self.source.mask(number + self.source_offset)
        if mask.shape != (height, width):
            # Resample the canvas mask to the video, then threshold at half coverage.
            shrink = width < mask.shape[1] and height < mask.shape[0]
            resized = cv2.resize(
                mask.astype(np.uint8) * 255,
                (width, height),
                interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR,
            )
            mask = resized >= 128
        crop = rasterize_binary(mask, self.expand, self.feather)
        self._cached = (key, crop)
        return crop

    def window(self, number: int, width: int, height: int) -> Box | None:
        crop = self.rasterize(number, width, height)
        return None if crop is None else crop.box

    def close(self) -> None:
        self.source.close()
