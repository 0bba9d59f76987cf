"""Parse and validate a `moebius.masktrack/1` JSON file into the dataclasses of spec.py.

The format is specified in the project's mask-track spec (README, "Mask tracks"). This module
only checks the structure: types, required and unknown keys, value ranges, point counts and
keyframe order. Files on disk (raster sources) are opened later, in `raster.py`, with the
JSON path of their `source` kept here so that their errors can name it too.

Every error is a `MaskTrackError` whose message starts with the file and the JSON path:

    wires.json: tracks[2].keyframes[5].points: expected at least 2 points, got 1

Decisions a reviewer should know about:

- `true`/`false` are not numbers (Python's `bool` is an `int`; JSON's is not), `NaN` and
  `Infinity` are refused, and a key given twice in one object is an error (JSON parsers
  silently keep the last one, which hides copy-paste mistakes).
- Sizes are capped (`MAX_*` below) so that a hostile or broken file cannot make us allocate
  gigabytes: a canvas side is at most 32768 px, a keyframe at most 100 000 points.
- `metadata` (any JSON object, never read) is accepted at the top level and on each track, so
  that tools and host plugins can carry their own data through a round trip.
- Ellipse keyframes accept per-keyframe `expand` and `feather` overrides like path keyframes.
- A polyline needs a stroke `width` on the track, or on every one of its keyframes.
"""

from __future__ import annotations

import difflib
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NoReturn

from ..errors import MaskTrackError
from ..strict_json import load_strict_json
from .files import read_regular_file
from .spec import (
    INTERPOLATIONS,
    MAX_CANVAS_PIXELS,
    MAX_CANVAS_SIDE,
    MAX_COORDINATE,
    MAX_FRAME_NUMBER,
    MAX_JSON_BYTES,
    MAX_LENGTH,
    MAX_PATH_CHARS,
    MAX_POINTS_PER_KEYFRAME,
    MAX_TOTAL_POINTS,
    MAX_TRACKS,
    RASTER_FORMATS,
    SCHEMA_ID,
    SHAPES,
    EllipseKeyframe,
    MaskTrackSpec,
    PathKeyframe,
    RasterSourceSpec,
    RleMask,
    TrackSpec,
)

# Keys each object may hold (anything else is an error naming the closest key).
_TOP_KEYS = (
    "schema",
    "width",
    "height",
    "frame_base",
    "scale_to_video",
    "orientation",
    "tracks",
    "metadata",
)
ORIENTATIONS = ("stored", "display")
_COMMON_TRACK_KEYS = ("id", "shape", "expand", "feather", "range", "invert", "metadata")
_TRACK_KEYS_BY_SHAPE = {
    "polyline": _COMMON_TRACK_KEYS + ("width", "interpolation", "smooth_path", "keyframes"),
    "polygon": _COMMON_TRACK_KEYS + ("interpolation", "smooth_path", "keyframes"),
    "ellipse": _COMMON_TRACK_KEYS + ("interpolation", "keyframes"),
    "raster": _COMMON_TRACK_KEYS + ("source",),
}
_KEYFRAME_KEYS_BY_SHAPE = {
    "polyline": ("frame", "points", "width", "expand", "feather"),
    "polygon": ("frame", "points", "expand", "feather"),
    "ellipse": ("frame", "center", "axes", "angle", "expand", "feather"),
}
_MIN_POINTS = {"polyline": 2, "polygon": 3}
_SOURCE_KEYS = {
    "png": ("format", "path"),
    "coco_rle": ("format", "frames"),
    "video": ("format", "path"),
}


# ---------------------------------------------------------------------------------------------
# The parsed file


def read_mask_track_json(path: Path, label: str) -> Any:
    """Read and decode a JSON file with the one strict JSON reader (errors give line and
    column)."""
    data = read_regular_file(path, MAX_JSON_BYTES, what="mask track", label=label)
    return load_strict_json(data, label, MaskTrackError)


# ---------------------------------------------------------------------------------------------
# Validation


def parse_mask_track(data: Any, label: str) -> MaskTrackSpec:
    """Validate decoded JSON (dicts, lists, str, int, float, bool, None) into a MaskTrackSpec."""
    v = _Validator(label)
    top = v.object(data, "top level")
    v.keys(top, "", allowed=_TOP_KEYS, required=("schema", "width", "height", "tracks"))
    schema = top["schema"]
    if schema != SCHEMA_ID:
        if isinstance(schema, str) and schema.startswith("moebius.masktrack/"):
            hint = "this version reads version 1 only"
        else:
            hint = "is this a moebius mask track?"
        v.fail("schema", f'expected "{SCHEMA_ID}", got {_describe(schema)} ({hint})')
    width = v.integer(top["width"], "width", minimum=1, maximum=MAX_CANVAS_SIDE)
    height = v.integer(top["height"], "height", minimum=1, maximum=MAX_CANVAS_SIDE)
    if width * height > MAX_CANVAS_PIXELS:
        v.fail("width", f"canvas {width}x{height} is larger than {MAX_CANVAS_PIXELS} pixels")
    frame_base = v.integer(
        top.get("frame_base", 0), "frame_base", minimum=-MAX_FRAME_NUMBER, maximum=MAX_FRAME_NUMBER
    )
    scale_to_video = v.boolean(top.get("scale_to_video", False), "scale_to_video")
    orientation = v.choice(top.get("orientation", "stored"), "orientation", ORIENTATIONS)
    if "metadata" in top:
        v.object(top["metadata"], "metadata")

    tracks_json = v.array(top["tracks"], "tracks")
    if len(tracks_json) > MAX_TRACKS:
        v.fail("tracks", f"at most {MAX_TRACKS} tracks, got {len(tracks_json)}")
    tracks = tuple(_parse_track(v, t, i) for i, t in enumerate(tracks_json))
    seen: dict[str, int] = {}
    for track in tracks:
        if track.id in seen:
            v.fail(
                f"{track.json_path}.id",
                f'"{track.id}" is already the id of tracks[{seen[track.id]}]; ids must be unique',
            )
        seen[track.id] = track.index
    return MaskTrackSpec(
        label=label,
        width=width,
        height=height,
        tracks=tracks,
        frame_base=frame_base,
        scale_to_video=scale_to_video,
        orientation=orientation,
    )


def _parse_track(v: _Validator, data: Any, index: int) -> TrackSpec:
    path = f"tracks[{index}]"
    obj = v.object(data, path)
    if "shape" not in obj:
        v.fail(f"{path}.shape", f"required key is missing (one of {', '.join(SHAPES)})")
    shape = v.choice(obj["shape"], f"{path}.shape", SHAPES)
    allowed = _TRACK_KEYS_BY_SHAPE[shape]
    required = ("id", "shape", "source") if shape == "raster" else ("id", "shape", "keyframes")
    v.keys(obj, path, allowed=allowed, required=required, shape=shape)

    track_id = v.string(obj["id"], f"{path}.id")
    expand = v.length(obj.get("expand", 0), f"{path}.expand", allow_zero=True)
    feather = v.length(obj.get("feather", 0), f"{path}.feather", allow_zero=True)
    invert = v.boolean(obj.get("invert", False), f"{path}.invert")
    frame_range = None
    if "range" in obj:
        frame_range = v.frame_range(obj["range"], f"{path}.range")
    if "metadata" in obj:
        v.object(obj["metadata"], f"{path}.metadata")

    if shape == "raster":
        source = _parse_source(v, obj["source"], f"{path}.source")
        return TrackSpec(
            index=index,
            id=track_id,
            shape=shape,
            source=source,
            expand=expand,
            feather=feather,
            range=frame_range,
            invert=invert,
        )

    interpolation = v.choice(
        obj.get("interpolation", "linear"), f"{path}.interpolation", INTERPOLATIONS
    )
    smooth_path = v.boolean(obj.get("smooth_path", False), f"{path}.smooth_path")
    stroke_width = None
    if "width" in obj:
        stroke_width = v.length(obj["width"], f"{path}.width", allow_zero=False)

    keyframes_json = v.array(obj["keyframes"], f"{path}.keyframes")
    if not keyframes_json:
        v.fail(f"{path}.keyframes", "expected at least 1 keyframe, got 0")
    if shape == "ellipse":
        keyframes: tuple = tuple(
            _parse_ellipse_keyframe(v, kf, f"{path}.keyframes[{k}]")
            for k, kf in enumerate(keyframes_json)
        )
    else:
        keyframes = tuple(
            _parse_path_keyframe(v, kf, f"{path}.keyframes[{k}]", shape)
            for k, kf in enumerate(keyframes_json)
        )
        point_count = len(keyframes[0].points)
        for k, kf in enumerate(keyframes[1:], start=1):
            if len(kf.points) != point_count:
                v.fail(
                    f"{path}.keyframes[{k}].points",
                    f"expected {point_count} points like keyframes[0] (keyframes are "
                    f"interpolated point by point), got {len(kf.points)}",
                )
    for k in range(1, len(keyframes)):
        if keyframes[k].frame <= keyframes[k - 1].frame:
            problem = "duplicate" if keyframes[k].frame == keyframes[k - 1].frame else "unsorted"
            v.fail(
                f"{path}.keyframes[{k}].frame",
                f"keyframes must be sorted by frame, each frame once ({problem}): got "
                f"{keyframes[k].frame} after {keyframes[k - 1].frame} in keyframes[{k - 1}]",
            )
    if shape == "polyline" and stroke_width is None:
        missing = [k for k, kf in enumerate(keyframes) if kf.width is None]
        if missing:
            v.fail(
                f"{path}.width",
                'a polyline needs a stroke width in px: set "width" on the track '
                f"(or on every keyframe; keyframes[{missing[0]}] has none)",
            )
    return TrackSpec(
        index=index,
        id=track_id,
        shape=shape,
        keyframes=keyframes,
        width=stroke_width,
        expand=expand,
        feather=feather,
        interpolation=interpolation,
        smooth_path=smooth_path,
        range=frame_range,
        invert=invert,
    )


def _parse_path_keyframe(v: _Validator, data: Any, path: str, shape: str) -> PathKeyframe:
    obj = v.object(data, path)
    v.keys(obj, path, allowed=_KEYFRAME_KEYS_BY_SHAPE[shape], required=("frame", "points"))
    frame = v.frame(obj["frame"], f"{path}.frame")
    points_json = v.array(obj["points"], f"{path}.points")
    minimum = _MIN_POINTS[shape]
    if len(points_json) < minimum:
        v.fail(
            f"{path}.points",
            f"expected at least {minimum} points for a {shape}, got {len(points_json)}",
        )
    if len(points_json) > MAX_POINTS_PER_KEYFRAME:
        v.fail(
            f"{path}.points",
            f"expected at most {MAX_POINTS_PER_KEYFRAME} points, got {len(points_json)}",
        )
    v.count_points(len(points_json), f"{path}.points")
    points = tuple(v.point(p, f"{path}.points[{i}]") for i, p in enumerate(points_json))
    return PathKeyframe(
        frame=frame,
        points=points,
        width=v.length(obj["width"], f"{path}.width", allow_zero=False) if "width" in obj else None,
        expand=v.length(obj["expand"], f"{path}.expand", True) if "expand" in obj else None,
        feather=v.length(obj["feather"], f"{path}.feather", True) if "feather" in obj else None,
    )


def _parse_ellipse_keyframe(v: _Validator, data: Any, path: str) -> EllipseKeyframe:
    obj = v.object(data, path)
    v.keys(
        obj, path, allowed=_KEYFRAME_KEYS_BY_SHAPE["ellipse"], required=("frame", "center", "axes")
    )
    frame = v.frame(obj["frame"], f"{path}.frame")
    center = v.point(obj["center"], f"{path}.center")
    axes_json = v.array(obj["axes"], f"{path}.axes")
    if len(axes_json) != 2:
        v.fail(f"{path}.axes", f"expected [rx, ry] (2 numbers), got {_describe(axes_json)}")
    axes = (
        v.length(axes_json[0], f"{path}.axes[0]", allow_zero=False),
        v.length(axes_json[1], f"{path}.axes[1]", allow_zero=False),
    )
    angle = v.number(obj.get("angle", 0), f"{path}.angle", limit=1e6)
    return EllipseKeyframe(
        frame=frame,
        center=center,
        axes=axes,
        angle=angle,
        expand=v.length(obj["expand"], f"{path}.expand", True) if "expand" in obj else None,
        feather=v.length(obj["feather"], f"{path}.feather", True) if "feather" in obj else None,
    )


def _parse_source(v: _Validator, data: Any, path: str) -> RasterSourceSpec:
    obj = v.object(data, path)
    if "format" not in obj:
        v.fail(f"{path}.format", f"required key is missing (one of {', '.join(RASTER_FORMATS)})")
    fmt = v.choice(obj["format"], f"{path}.format", RASTER_FORMATS)
    v.keys(obj, path, allowed=_SOURCE_KEYS[fmt], required=_SOURCE_KEYS[fmt])
    if fmt in ("png", "video"):
        file_path = v.string(obj["path"], f"{path}.path")
        if len(file_path) > MAX_PATH_CHARS or "\x00" in file_path:
            v.fail(f"{path}.path", "not a usable file path")
        return RasterSourceSpec(format=fmt, json_path=path, path=file_path)

    frames_obj = v.object(obj["frames"], f"{path}.frames")
    if not frames_obj:
        v.fail(f"{path}.frames", "expected at least one frame, got an empty object")
    frames = []
    for key, value in frames_obj.items():
        frame_path = f'{path}.frames["{key}"]'
        try:
            if key.strip() != key or not key.lstrip("-").isdigit():
                raise ValueError
            frame = int(key)
        except ValueError:
            v.fail(frame_path, f'expected a frame number as the key, got "{key}"')
        if abs(frame) > MAX_FRAME_NUMBER:
            v.fail(frame_path, f"frame number out of range, got {frame}")
        if isinstance(value, list):
            if not value:
                v.fail(frame_path, "expected an RLE object or a non-empty list of them, got []")
            masks = tuple(_parse_rle(v, m, f"{frame_path}[{i}]") for i, m in enumerate(value))
        else:
            masks = (_parse_rle(v, value, frame_path),)
        frames.append((frame, masks))
    frames.sort(key=lambda item: item[0])
    for (a, _), (b, _) in zip(frames, frames[1:], strict=False):
        if a == b:
            v.fail(f"{path}.frames", f"frame {a} is given twice (keys differ only in form)")
    return RasterSourceSpec(format=fmt, json_path=path, rle_frames=tuple(frames))


def _parse_rle(v: _Validator, data: Any, path: str) -> RleMask:
    obj = v.object(data, path)
    v.keys(obj, path, allowed=("size", "counts"), required=("size", "counts"))
    size = v.array(obj["size"], f"{path}.size")
    if len(size) != 2:
        v.fail(f"{path}.size", f"expected [height, width], got {len(size)} items")
    height = v.integer(size[0], f"{path}.size[0]", minimum=1, maximum=MAX_CANVAS_SIDE)
    width = v.integer(size[1], f"{path}.size[1]", minimum=1, maximum=MAX_CANVAS_SIDE)
    counts_json = obj["counts"]
    if isinstance(counts_json, str):
        if not counts_json.isascii():
            v.fail(f"{path}.counts", "expected an ASCII RLE string, got non-ASCII characters")
        counts: str | tuple[int, ...] = counts_json
    elif isinstance(counts_json, list):
        if len(counts_json) > height * width + 1:
            v.fail(f"{path}.counts", f"more runs ({len(counts_json)}) than pixels")
        for i, c in enumerate(counts_json):
            if type(c) is not int or c < 0:
                v.fail(f"{path}.counts[{i}]", f"expected a run length >= 0, got {_describe(c)}")
            if c > height * width:
                # Also keeps the sum of the runs inside int64 (no wrap-around to h x w).
                v.fail(
                    f"{path}.counts[{i}]",
                    f"a run of {c} pixels, more than the {height} x {width} of the mask",
                )
        counts = tuple(counts_json)
    else:
        v.fail(
            f"{path}.counts",
            f"expected an RLE string or a list of run lengths, got {_describe(counts_json)}",
        )
    return RleMask(height=height, width=width, counts=counts, json_path=path)


class _Validator:
    """Type checks that raise MaskTrackError("<file>: <json path>: expected ..., got ...")."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.total_points = 0

    def fail(self, path: str, message: str) -> NoReturn:
        where = f"{self.label}: {path}: " if path else f"{self.label}: "
        raise MaskTrackError(where + message)

    def keys(
        self,
        obj: Mapping[str, Any],
        path: str,
        allowed: tuple[str, ...],
        required: tuple[str, ...],
        shape: str | None = None,
    ) -> None:
        prefix = f"{path}." if path else ""
        for key in obj:
            if key in allowed:
                continue
            if shape is not None:
                users = [s for s, keys in _TRACK_KEYS_BY_SHAPE.items() if key in keys]
                if users:
                    self.fail(
                        f"{prefix}{key}",
                        f"not used by {shape} tracks (only by {', '.join(users)})",
                    )
            close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
            hint = f'did you mean "{close[0]}"? ' if close else ""
            self.fail(
                f"{prefix}{key}", f"unknown key; {hint}(expected one of {', '.join(allowed)})"
            )
        for key in required:
            if key not in obj:
                self.fail(f"{prefix}{key}", "required key is missing")

    def object(self, value: Any, path: str) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            self.fail(path, f"expected an object, got {_describe(value)}")
        for key in value:
            if not isinstance(key, str):
                self.fail(path, f"expected string keys, got {key!r}")
        return value

    def array(self, value: Any, path: str) -> list[Any]:
        if not isinstance(value, list | tuple):
            self.fail(path, f"expected an array, got {_describe(value)}")
        return list(value)

    def string(self, value: Any, path: str) -> str:
        if not isinstance(value, str) or not value:
            self.fail(path, f"expected a non-empty string, got {_describe(value)}")
        return value

    def boolean(self, value: Any, path: str) -> bool:
        if not isinstance(value, bool):
            self.fail(path, f"expected true or false, got {_describe(value)}")
        return value

    def choice(self, value: Any, path: str, choices: tuple[str, ...]) -> str:
        if value not in choices or not isinstance(value, str):
            close = difflib.get_close_matches(value, choices, n=1) if isinstance(value, str) else []
            hint = f' (did you mean "{close[0]}"?)' if close else ""
            self.fail(path, f"expected one of {', '.join(choices)}, got {_describe(value)}{hint}")
        return value

    def integer(self, value: Any, path: str, minimum: int, maximum: int) -> int:
        if type(value) is not int:  # bool is a subclass of int; JSON's true is not a number
            self.fail(path, f"expected an integer, got {_describe(value)}")
        if not minimum <= value <= maximum:
            self.fail(path, f"expected an integer from {minimum} to {maximum}, got {value}")
        return value

    def frame(self, value: Any, path: str) -> int:
        return self.integer(value, path, -MAX_FRAME_NUMBER, MAX_FRAME_NUMBER)

    def number(self, value: Any, path: str, limit: float) -> float:
        if type(value) not in (int, float):
            self.fail(path, f"expected a number, got {_describe(value)}")
        if not math.isfinite(value) or abs(value) > limit:
            self.fail(path, f"expected a finite number within +-{limit:g}, got {value}")
        return float(value)

    def length(self, value: Any, path: str, allow_zero: bool) -> float:
        number = self.number(value, path, MAX_LENGTH)
        if number < 0 or (number == 0 and not allow_zero):
            bound = ">= 0" if allow_zero else "> 0"
            self.fail(path, f"expected a number {bound} (px), got {_describe(value)}")
        return number

    def point(self, value: Any, path: str) -> tuple[float, float]:
        items = self.array(value, path)
        if len(items) != 2:
            self.fail(path, f"expected a point [x, y], got {_describe(value)}")
        return (
            self.number(items[0], f"{path}[0]", MAX_COORDINATE),
            self.number(items[1], f"{path}[1]", MAX_COORDINATE),
        )

    def count_points(self, count: int, path: str) -> None:
        self.total_points += count
        if self.total_points > MAX_TOTAL_POINTS:
            self.fail(path, f"the file holds more than {MAX_TOTAL_POINTS} points in all")

    def frame_range(self, value: Any, path: str) -> tuple[int, int]:
        items = self.array(value, path)
        if len(items) != 2:
            self.fail(path, f"expected [first, last] frames, got {_describe(value)}")
        first = self.frame(items[0], f"{path}[0]")
        last = self.frame(items[1], f"{path}[1]")
        if first > last:
            self.fail(path, f"first frame {first} is after last frame {last} (range inverted)")
        return first, last


def _describe(value: Any) -> str:
    """A JSON-flavoured short description of a value for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true (a boolean)" if value else "false (a boolean)"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        text = value if len(value) <= 40 else value[:37] + "..."
        return f"{json.dumps(text)} (a string)"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list | tuple):
        if len(value) <= 4 and all(type(x) in (int, float) for x in value):
            return "[" + ", ".join(repr(x) for x in value) + "]"
        return f"an array of {len(value)} items"
    return type(value).__name__
