"""What a run is asked to do, apart from its three paths: `InpaintOptions`.

Field names are the CLI's long options. `InpaintOptions.from_mapping` reads them from a
job file or a hook request; `temporal_options` turns them into the temporal core's
`TemporalOptions`, and `filler_spec` into the `FillerSpec` every filling process builds
its filler from. This module sits below the API, the farm and batch runners and above
`distributed/`, which receives built options and never imports the API.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from fractions import Fraction
from typing import Any

import numpy as np

from .errors import OptionError, UsageError
from .fillers import FillerSpec
from .temporal.settings import TemporalOptions

__all__ = [
    "InpaintOptions",
    "index_range",
    "parse_fps",
    "parse_frame_range",
    "parse_shot_cuts",
    "temporal_options",
]

DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("float32", "bfloat16", "float16")
FRAME_NUMBERS = ("file", "track")
DEFAULT_SEQUENCE_FPS = Fraction(24)


@dataclass(frozen=True)
class InpaintOptions:
    """Everything about a run except the three paths. Field names = CLI long options.

    codec: output codec (`-c:v`): libx264, ffv1, prores_ks, png (image sequence), ...;
        None = png for an `out.%04d.png` pattern, libx264 otherwise.
    crf: x264 constant rate factor (`--crf`), 0 (lossless) .. 51.
    frames: (first, last) inclusive, in the clip's frame numbers (see frame_numbers);
        None = the whole clip.
    frame_indices: the same as 0-based input indices (what an editor knows); not with
        frames.
    frame_numbers: how the clip's frames are numbered, for `frames`, `shot_cuts`, output
        file names, the timecode of a movie made from a sequence and the summary:
        "file" = by the input's file names (an image sequence `shot.1001.png`... has
        frames 1001...), "track" = index + the mask track's frame_base. None = "file" for
        image sequences, "track" for movies (which have no file numbers). The track's
        masks line up with the input by position either way: its frame `frame_base` is
        the input's first frame.
    fps: the frame rate of an image-sequence input (`--fps`: 24, 25, 23.976, 24000/1001);
        None = 24. A movie keeps its own rate (a warning says fps is not used).
    device: "auto", "cpu", "cuda" or "cuda:N".
    precision: the model's float type: float32, bfloat16 or float16 (CUDA only);
        None = float32 on CPU, float16 on CUDA. bfloat16 is about 2.5x faster on recent
        CPUs, with a small (about 2%) difference in the generated pixels.
    overwrite: replace an existing output (`-y`).
    model / weights: the filler for pixels no frame shows (None: Moebius when its
        weights are present, else classical inpainting); weights: a checkpoint path.
    window / context / keyframe_interval / flow_quality: temporal core knobs;
        None = the temporal core's default.
    temporal: False = the simple per-frame fill (`--temporal off`).
    shot_cuts: where the footage cuts to another shot; nothing is carried across a cut.
        None or "auto" = found in the footage, "none" = the clip is one shot, or the clip
        frame numbers (like `frames`) that start a new shot.
    shot_pull: take real background from anywhere in the shot, aligned by camera motion
        (an extra analysis pass over the clip); None = the temporal core's default (on).
    save_debug: write a debug preview to this path.
    save_debug_scale: the preview's panels against the frame pixels they show (0.1-2;
        None = 1: full resolution, so a thin wire can be judged).
    allow_damaged: go on through damage in the input's video stream, with the decoder's
        concealment, and list the damaged frames; by default damage stops the run (exit 3).
    strict: refuse (exit 2, before any output) what would otherwise only warn that the
        output loses part of the source: an alpha channel the output codec cannot hold.
    workers / ray_address: more than one worker, or a cluster address, runs segments on Ray.
    analysis: a shot analysis sidecar (`moebius-video analyse`, `api.analyse_shot`) to read
        instead of analysing the whole shot again; the windows this run fills are shared
        with the shot's other farm tasks in a folder beside it (shot_files.py). A sidecar
        made for another input, mask track or --shot-cuts is refused (exit 2).
    """

    codec: str | None = None
    crf: int = 16
    frames: tuple[int, int] | None = None
    frame_indices: tuple[int, int] | None = None
    frame_numbers: str | None = None
    fps: Fraction | None = None
    device: str = "auto"
    precision: str | None = None
    overwrite: bool = False
    model: str | None = None
    weights: str | os.PathLike | None = None
    window: int | None = None
    context: int | None = None
    keyframe_interval: int | None = None
    flow_quality: str | None = None
    shot_cuts: str | tuple[int, ...] | None = None
    shot_pull: bool | None = None
    save_debug: str | os.PathLike | None = None
    save_debug_scale: float | None = None
    allow_damaged: bool = False
    strict: bool = False
    workers: int = 1
    ray_address: str | None = None
    temporal: bool = True
    analysis: str | os.PathLike | None = None

    def __post_init__(self) -> None:
        # Checked here so every caller (CLI, batch jobs, hook requests, Python) gets the same
        # message, which names the option as the CLI spells it.
        if self.codec is not None:
            _check_type("codec", self.codec, str)
            if not self.codec:
                raise OptionError("codec", ": the codec name is empty")
        _check_int("crf", self.crf, 0, 51)
        for name in ("frames", "frame_indices"):
            value = getattr(self, name)
            if value is None:
                continue
            if not isinstance(value, tuple) or len(value) != 2 or not all(map(_is_int, value)):
                raise OptionError(name, f": expected (first, last) integers, got {value!r}")
            if value[0] > value[1]:
                raise OptionError(name, f": first frame {value[0]} is after last frame {value[1]}")
        if self.frames is not None and self.frame_indices is not None:
            raise OptionError("frame_indices", ": give frames or frame_indices, not both")
        if self.frame_indices is not None and self.frame_indices[0] < 0:
            raise OptionError("frame_indices", f": indices start at 0, got {self.frame_indices[0]}")
        if self.frame_numbers is not None and self.frame_numbers not in FRAME_NUMBERS:
            raise OptionError(
                "frame_numbers",
                f": expected file or track, got {self.frame_numbers!r}",
            )
        if self.fps is not None:
            object.__setattr__(self, "fps", parse_fps(self.fps))
        _check_type("device", self.device, str)
        if self.device not in DEVICES and not re.fullmatch(r"cuda:\d+", self.device):
            raise OptionError(
                "device", f": unknown device {self.device!r}; choose auto, cpu, cuda or cuda:N"
            )
        if self.precision is not None and self.precision not in PRECISIONS:
            raise OptionError(
                "precision",
                f": unknown precision {self.precision!r}; choose " + ", ".join(PRECISIONS),
            )
        _check_type("overwrite", self.overwrite, bool)
        _check_type("allow_damaged", self.allow_damaged, bool)
        _check_type("strict", self.strict, bool)
        if self.shot_pull is not None:
            _check_type("shot_pull", self.shot_pull, bool)
        for name in ("model", "weights", "flow_quality", "save_debug", "ray_address", "analysis"):
            value = getattr(self, name)
            if value is not None:
                _check_type(name, value, (str, os.PathLike))
        for name, low in (("window", 1), ("context", 0), ("keyframe_interval", 1)):
            value = getattr(self, name)
            if value is not None:
                _check_int(name, value, low, None)
        if self.shot_cuts is not None:
            object.__setattr__(self, "shot_cuts", parse_shot_cuts(self.shot_cuts))
        _check_int("workers", self.workers, 1, None)
        _check_type("temporal", self.temporal, bool)
        if self.save_debug is not None and not self.temporal:
            raise OptionError(
                "save_debug", ": the preview comes from the temporal core; drop --temporal off"
            )
        if self.shot_cuts not in (None, "auto") and not self.temporal:
            # Per-frame fill carries nothing from frame to frame, so cuts change nothing;
            # say so rather than silently ignore a cut the user took care to give.
            raise OptionError(
                "shot_cuts",
                ": shot cuts split the temporal core's windows, and --temporal off"
                " fills each frame alone; drop --temporal off or --shot-cuts",
            )
        if self.save_debug_scale is not None:
            value = self.save_debug_scale
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise OptionError(
                    "save_debug_scale", f": expected a number such as 0.5 or 1, got {value!r}"
                )
            if not 0.1 <= value <= 2:
                raise OptionError(
                    "save_debug_scale", f": expected a scale from 0.1 to 2, got {value}"
                )
            if self.save_debug is None:
                raise OptionError("save_debug_scale", ": scales the --save-debug preview; give it")
        if self.analysis is not None and not self.temporal:
            raise OptionError(
                "analysis", ": the shot analysis is the temporal core's; drop --temporal off"
            )
        if self.analysis is not None and (self.workers > 1 or self.ray_address is not None):
            raise OptionError(
                "analysis",
                ": Ray workers analyse the shot once themselves; not with --workers or"
                " --ray-address",
            )
        if self.save_debug is not None and (self.workers > 1 or self.ray_address is not None):
            raise OptionError(
                "save_debug",
                ": one process writes the preview; not with --workers or --ray-address",
            )

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any], where: str = "options") -> InpaintOptions:
        """Options from a job file entry or a hook request.

        Keys are the CLI long options with dashes or underscores (`keyframe-interval`,
        `keyframe_interval`, `--crf`), plus `c:v` and `y`. `frames` takes "1001-1100",
        [1001, 1100] or a single frame number. Unknown keys are an error (a typo must not
        silently fall back to a default); `where` prefixes the message (e.g. "jobs.yaml:
        shots[2]").
        """
        known = {f.name for f in fields(cls)}
        values: dict[str, Any] = {}
        try:
            for key, value in mapping.items():
                name = _option_name(key)
                if name not in known:
                    choices = ", ".join(sorted(known))
                    raise UsageError(f"unknown option {key!r} (known options: {choices})")
                if name in values:
                    raise UsageError(f"option {key!r} is given twice")
                values[name] = _coerce(name, value)
            return cls(**values)
        except OptionError as exc:
            raise OptionError(exc.field, exc.detail, where) from None
        except UsageError as exc:
            raise UsageError(f"{where}: {exc}") from None

    def replace(self, **changes: Any) -> InpaintOptions:
        return dataclasses.replace(self, **changes)

    def filler_spec(self) -> FillerSpec:
        """Which filler these options ask for (built by `model.make_filler` where it fills)."""
        return FillerSpec(self.model, self.weights, self.device, self.precision)

    def temporal_options(self, frame_base: int = 0, frame_count: int | None = None):
        """The temporal core's options, or None for `--temporal off` (see `temporal_options`)."""
        return temporal_options(self, frame_base, frame_count) if self.temporal else None


def temporal_options(
    options: InpaintOptions, frame_base: int = 0, frame_count: int | None = None
) -> TemporalOptions:
    """The temporal core's options: the knobs the user set, its own defaults for the rest.

    frame_base: the frame number of index 0 (a sequence's first file, or the mask track's
    frame_base: see `InpaintOptions.frame_numbers`), to turn `shot_cuts` into indices;
    frame_count: the clip's, to refuse cuts after its last frame (a frame_base mix-up).
    """
    knobs = {
        name: getattr(options, name)
        for name in (
            "window",
            "context",
            "keyframe_interval",
            "flow_quality",
            "shot_pull",
            "save_debug",
            "save_debug_scale",
        )
        if getattr(options, name) is not None
    }
    if isinstance(options.shot_cuts, tuple):
        cuts = sorted({number - frame_base for number in options.shot_cuts})
        last = frame_count - 1 if frame_count is not None else None
        outside = [c for c in cuts if c < 0 or (last is not None and c > last)]
        if outside:
            span = f"{frame_base}-{frame_base + last}" if last is not None else f">= {frame_base}"
            raise OptionError(
                "shot_cuts",
                f": frame {outside[0] + frame_base} is outside the clip's frames {span}"
                + (f" (numbered from {frame_base})" if frame_base else ""),
            )
        knobs["shot_cuts"] = tuple(cuts)
    elif options.shot_cuts is not None:
        knobs["shot_cuts"] = options.shot_cuts
    defaults = TemporalOptions()
    # The cross-fade at window borders must fit the context and half the window the user
    # chose; without this a small --context would be refused for a knob they never set.
    window = knobs.get("window", defaults.window)
    context = knobs.get("context", defaults.context)
    blend = min(defaults.blend, context, window // 2)
    return dataclasses.replace(defaults, **knobs, blend=blend)


def index_range(
    frames: tuple[int, int] | None,
    frame_base: int,
    frame_count: int,
    frame_indices: tuple[int, int] | None = None,
    numbered_by: str = "the track's frame_base",
) -> tuple[int, int]:
    """(start, stop) 0-based, stop exclusive, from clip frame numbers (first, last), or
    from 0-based `frame_indices`. frame_base: the number of index 0; numbered_by: where
    that number comes from, for the message."""
    if frames is None and frame_indices is None:
        return 0, frame_count
    if frame_indices is not None:
        first, last = frame_indices
        if last >= frame_count:
            raise OptionError(
                "frame_indices",
                f" {first}-{last}: outside the clip, which has indices 0-{frame_count - 1}",
            )
        return first, last + 1
    first, last = frames
    start, stop = first - frame_base, last - frame_base + 1
    if start < 0 or stop > frame_count:
        raise OptionError(
            "frames",
            f" {first}-{last}: outside the clip, which has frames "
            f"{frame_base}-{frame_base + frame_count - 1}"
            + (f" (numbered by {numbered_by})" if frame_base else ""),
        )
    return start, stop


# Rates typed as decimals that mean the NTSC fractions (23.976 is 24000/1001, not 2997/125).
_NTSC = {round(n * 1000 / 1001, 3): Fraction(n * 1000, 1001) for n in (24, 30, 48, 60, 120)}


def parse_fps(value: Any) -> Fraction:
    """`--fps`: 24, 25.0, "23.976", "24000/1001" -> a Fraction > 0 (NTSC decimals exact)."""
    if isinstance(value, bool):
        raise OptionError("fps", f": expected a frame rate such as 24 or 24000/1001, got {value!r}")
    try:
        rate = Fraction(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError, ZeroDivisionError):
        raise OptionError(
            "fps", f": expected a frame rate such as 24, 23.976 or 24000/1001, got {value!r}"
        ) from None
    if not 0 < rate <= 1000:
        raise OptionError("fps", f": expected a frame rate above 0 and at most 1000, got {value}")
    return _NTSC.get(round(float(rate), 3), rate.limit_denominator(1001000))


def parse_shot_cuts(value: Any) -> str | tuple[int, ...]:
    """`--shot-cuts`: "auto", "none", or frame numbers ("1012,1100" or a list of ints)."""
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("auto", "none"):
            return text
        if re.fullmatch(r"\s*\d+(\s*,\s*\d+)*\s*,?\s*", value):
            return tuple(int(part) for part in value.split(",") if part.strip())
        raise OptionError(
            "shot_cuts", f": expected auto, none or frame numbers like 1012,1100, got {value!r}"
        )
    if isinstance(value, (tuple, list)) and all(_is_int(v) and v >= 0 for v in value):
        return tuple(int(v) for v in value)
    raise OptionError(
        "shot_cuts", f": expected auto, none or a list of frame numbers >= 0, got {value!r}"
    )


def parse_frame_range(text: str) -> tuple[int, int]:
    """'1001-1100' -> (1001, 1100); '1001' -> (1001, 1001). Inclusive, clip frame numbers."""
    match = re.fullmatch(r"\s*(-?\d+)\s*(?:-\s*(-?\d+)\s*)?", str(text))
    if match is None:
        raise OptionError(
            "frames", f": expected FIRST-LAST (e.g. 1001-1100) or one frame number, got {text!r}"
        )
    first = int(match.group(1))
    last = int(match.group(2)) if match.group(2) is not None else first
    if first > last:
        raise OptionError("frames", f": first frame {first} is after last frame {last} in {text!r}")
    return first, last


# --- option helpers ------------------------------------------------------------------------------

_ALIASES = {"c:v": "codec", "c_v": "codec", "y": "overwrite"}


def _option_name(key: str) -> str:
    key = str(key).strip().lstrip("-")
    return _ALIASES.get(key, key.replace("-", "_"))


def _coerce(name: str, value: Any) -> Any:
    """Job files and hook requests carry JSON/YAML scalars: bring them to the field types."""
    if name in ("frames", "frame_indices"):
        if value is None:
            return None
        if isinstance(value, (list, tuple)) and len(value) == 2:
            return tuple(value)
        if _is_int(value):
            return (value, value)
        if isinstance(value, str):
            try:
                return parse_frame_range(value)
            except OptionError as exc:
                raise OptionError(name, exc.detail) from None
        raise OptionError(name, f": expected 'FIRST-LAST' or [first, last], got {value!r}")
    if name == "save_debug_scale" and isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            raise OptionError(
                name, f": expected a number such as 0.5 or 1, got {value!r}"
            ) from None
    if name in ("crf", "window", "context", "keyframe_interval", "workers"):
        if isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
            return int(value)
    if name == "temporal" and isinstance(value, str):
        if value.lower() in ("on", "true", "yes"):
            return True
        if value.lower() in ("off", "false", "no"):
            return False
    return value


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _check_type(field: str, value: Any, types) -> None:
    if not isinstance(value, types):
        raise OptionError(field, f": expected {_type_names(types)}, got {value!r}")


def _check_int(field: str, value: Any, low: int, high: int | None) -> None:
    if not _is_int(value):
        raise OptionError(field, f": expected an integer, got {value!r}")
    if value < low or (high is not None and value > high):
        bound = f"{low}..{high}" if high is not None else f">= {low}"
        raise OptionError(field, f": expected an integer {bound}, got {value}")


def _type_names(types) -> str:
    types = types if isinstance(types, tuple) else (types,)
    names = {bool: "true or false", str: "a string", os.PathLike: "a path"}
    return " or ".join(names.get(t, t.__name__) for t in types)
