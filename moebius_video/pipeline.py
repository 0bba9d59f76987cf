"""One clip in, the same clip out with only the masked pixels changed.

    from moebius_video import inpaint_video, InpaintOptions
    result = inpaint_video("shot.mov", "wires.json", "shot_clean.mov",
                           InpaintOptions(codec="prores_ks", frames=(1001, 1100)))
    print(result.summary())

`inpaint_video` checks everything the caller passed before it writes a byte
(input decodes, mask track fits the clip, frame range, output path, codec), then
streams: decode -> mask -> fill -> composite -> encode + remux. Frames flow one
by one (the temporal core holds one window), so memory does not grow with the
clip. Frames without a mask are composited with no patches: they pass through
bit for bit (up to the output codec).
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import os
import re
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from .errors import InputError, MediaError, UsageError
from .patches import FramePatch, banded_patches, box_pixels
from .progress import ProgressCallback, ProgressEvent
from .temporal.fillers import Filler, OpenCVFiller

__all__ = [
    "InpaintOptions",
    "InpaintResult",
    "ProgressEvent",
    "inpaint_video",
    "parse_frame_range",
]

DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("float32", "bfloat16", "float16")
# Names that pick the classical filler without asking the model registry.
CLASSICAL_FILLERS = {
    "opencv": "telea",
    "telea": "telea",
    "opencv-telea": "telea",
    "opencv-ns": "ns",
}
# Context around the hole handed to the per-frame filler (Telea needs a ring of known pixels).
SIMPLE_FILL_MARGIN = 16


@dataclass(frozen=True)
class InpaintOptions:
    """Everything about a run except the three paths. Field names = CLI long options.

    codec: output codec (`-c:v`): libx264, ffv1, prores_ks, png (image sequence), ...;
        None = png for an `out.%04d.png` pattern, libx264 otherwise.
    crf: x264 constant rate factor (`--crf`), 0 (lossless) .. 51.
    frames: (first, last) inclusive, in the clip's frame numbers (index + the mask
        track's frame_base); None = the whole clip.
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
    save_debug: write a debug preview to this path.
    workers / ray_address: more than one worker, or a cluster address, runs segments on Ray.
    """

    codec: str | None = None
    crf: int = 16
    frames: tuple[int, int] | None = None
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
    save_debug: str | os.PathLike | None = None
    workers: int = 1
    ray_address: str | None = None
    temporal: bool = True

    def __post_init__(self) -> None:
        # Checked here so every caller (CLI, batch jobs, hook requests, Python) gets the same
        # message, which names the option as the CLI spells it.
        if self.codec is not None:
            _check_type("-c:v", self.codec, str)
            if not self.codec:
                raise UsageError("-c:v: the codec name is empty")
        _check_int("--crf", self.crf, 0, 51)
        if self.frames is not None:
            if (
                not isinstance(self.frames, tuple)
                or len(self.frames) != 2
                or not all(_is_int(v) for v in self.frames)
            ):
                raise UsageError(f"--frames: expected (first, last) integers, got {self.frames!r}")
            if self.frames[0] > self.frames[1]:
                raise UsageError(
                    f"--frames: first frame {self.frames[0]} is after last frame {self.frames[1]}"
                )
        _check_type("--device", self.device, str)
        if self.device not in DEVICES and not re.fullmatch(r"cuda:\d+", self.device):
            raise UsageError(
                f"--device: unknown device {self.device!r}; choose auto, cpu, cuda or cuda:N"
            )
        if self.precision is not None and self.precision not in PRECISIONS:
            raise UsageError(
                f"--precision: unknown precision {self.precision!r}; choose "
                + ", ".join(PRECISIONS)
            )
        _check_type("-y/--overwrite", self.overwrite, bool)
        for name in ("model", "weights", "flow_quality", "save_debug", "ray_address"):
            value = getattr(self, name)
            if value is not None:
                _check_type(_cli_name(name), value, (str, os.PathLike))
        for name, low in (("window", 1), ("context", 0), ("keyframe_interval", 1)):
            value = getattr(self, name)
            if value is not None:
                _check_int(_cli_name(name), value, low, None)
        if self.shot_cuts is not None:
            object.__setattr__(self, "shot_cuts", parse_shot_cuts(self.shot_cuts))
        _check_int("--workers", self.workers, 1, None)
        _check_type("--temporal", self.temporal, bool)
        if self.save_debug is not None and not self.temporal:
            raise UsageError(
                "--save-debug: the preview comes from the temporal core; drop --temporal off"
            )
        if self.shot_cuts not in (None, "auto") and not self.temporal:
            # Per-frame fill carries nothing from frame to frame, so cuts change nothing;
            # say so rather than silently ignore a cut the user took care to give.
            raise UsageError(
                "--shot-cuts: shot cuts split the temporal core's windows, and --temporal off"
                " fills each frame alone; drop --temporal off or --shot-cuts"
            )
        if self.save_debug is not None and (self.workers > 1 or self.ray_address is not None):
            raise UsageError(
                "--save-debug: one process writes the preview; not with --workers or --ray-address"
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
        except UsageError as exc:
            raise UsageError(f"{where}: {exc}") from None

    def replace(self, **changes: Any) -> InpaintOptions:
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class InpaintResult:
    """What a run did.

    frames: frames written. masked_frames: frames that had a mask.
    masked_fraction: mean share of the frame area with alpha > 0, over written frames.
    frame_range: (first, last) clip frame numbers written (index + frame_base).
    seconds: wall time of the whole call; fps: frames / seconds.
    """

    input: str
    output: str
    frames: int
    masked_frames: int
    masked_fraction: float
    frame_range: tuple[int, int]
    seconds: float
    fps: float
    filler: str
    codec: str
    width: int
    height: int

    def as_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["frame_range"] = list(self.frame_range)
        return out

    def summary(self) -> str:
        """The one-line summary the CLI prints at the end."""
        first, last = self.frame_range
        return (
            f"moebius-video: wrote {self.output}: {self.frames} frames ({first}-{last}), "
            f"masked {100 * self.masked_fraction:.2f}% of the area "
            f"in {self.masked_frames} frames, {self.seconds:.1f} s, {self.fps:.1f} fps "
            f"(filler {self.filler}, {self.codec})"
        )


def inpaint_video(
    input: str | os.PathLike,
    mask_track: str | os.PathLike | Mapping[str, Any],
    output: str | os.PathLike,
    options: InpaintOptions | None = None,
    progress: ProgressCallback | None = None,
) -> InpaintResult:
    """Remove what `mask_track` marks from `input` and write the result to `output`.

    mask_track: a track file (JSON, or the other inputs `--mask-track` takes) or a
    parsed track dict (relative raster paths then resolve from the current folder).
    progress: called with `ProgressEvent`s (started, progress per frame, warning, done).

    Raises UsageError (bad options or output path), InputError / MediaError /
    MaskTrackError (bad input), before any output exists. A failure or Ctrl-C while
    encoding leaves no output (the writer renames a temp file only on success).
    """
    from .io import composite, open_video

    options = options or InpaintOptions()
    report = progress or _no_progress
    began = time.perf_counter()

    input_path = _check_input(input)
    codec = _check_codec(options.codec, output)
    output_path = _check_output(output, input_path, options, codec)
    _check_debug_path(options, (input_path, output_path, mask_track))
    with warnings_as_events(report), open_video(input_path) as video:
        info = video.info
        track = load_track_for(mask_track, info)
        start, stop = index_range(options.frames, track.frame_base, info.frame_count)
        total = stop - start
        report(
            ProgressEvent(
                "started",
                total=total,
                stats={"input": str(input_path), "output": str(output_path)},
            )
        )
        fill = _fill_path(input_path, mask_track, track, info, options, report, (start, stop))
        frames = _checked_frames(video.frames(*fill.read_range), input_path, *fill.read_range)
        written = masked_frames = masked_pixels = 0
        with _open_writer(output_path, info, input_path, options, codec, (start, stop)) as writer:
            for frame, patches in fill.patched_frames(frames):
                writer.write(composite(frame, patches))
                written += 1
                if patches:
                    masked_frames += 1
                    masked_pixels += sum(int(np.count_nonzero(p.alpha)) for p in patches)
                report(
                    ProgressEvent(
                        "progress", frame=written, total=total, percent=100.0 * written / total
                    )
                )
            if written != total:
                # The container promised more frames than decode (a truncated file): fail
                # inside the writer, so no short output appears.
                raise MediaError(
                    f"{input_path}: decoded {written} of the {total} frames "
                    f"{start}-{stop - 1}; the file looks truncated"
                )

    seconds = time.perf_counter() - began
    base = track.frame_base
    result = InpaintResult(
        input=str(input_path),
        output=str(output_path),
        frames=written,
        masked_frames=masked_frames,
        masked_fraction=masked_pixels / float(written * info.width * info.height),
        frame_range=(start + base, stop - 1 + base),
        seconds=seconds,
        fps=written / seconds if seconds > 0 else 0.0,
        filler=fill.filler(),
        codec=codec,
        width=info.width,
        height=info.height,
    )
    report(
        ProgressEvent(
            "done",
            frame=written,
            total=total,
            percent=100.0,
            message=result.summary(),
            stats=result.as_dict(),
        )
    )
    return result


def load_track_for(mask_track: str | os.PathLike | Mapping[str, Any], info):
    """The mask track (a path or a parsed dict) checked against an open video's VideoInfo."""
    from .masks import load_mask_track

    return load_mask_track(
        mask_track if isinstance(mask_track, Mapping) else os.fspath(mask_track),
        width=info.width,
        height=info.height,
        frame_count=info.frame_count,
    )


def _checked_frames(frames: Iterator, input_path: Path, start: int, stop: int) -> Iterator:
    """The decoded frames, with the first one decoded now: a file that opens but does not
    decode fails here, before any output exists."""
    try:
        first = next(frames)
    except StopIteration:
        raise MediaError(
            f"{input_path}: no frame could be decoded in frames {start}-{stop - 1}"
        ) from None
    return itertools.chain([first], frames)


def _open_writer(output_path, info, input_path, options, codec, frame_range):
    from .io import VideoWriter

    return VideoWriter(
        output_path,
        info,
        codec=codec,
        crf=options.crf,
        remux_from=input_path,
        frame_range=frame_range,
        overwrite=options.overwrite,
    )


@contextlib.contextmanager
def warnings_as_events(report: ProgressCallback) -> Iterator[None]:
    """Python warnings raised during the run (a pixel format ffv1 cannot keep, timestamps
    a container rounds) become warning events, so hook and farm readers see them too."""

    def show(message, category, filename, lineno, file=None, line=None) -> None:
        report(ProgressEvent("warning", message=str(message)))

    with warnings.catch_warnings():
        warnings.simplefilter("default")  # each distinct warning once, not once per frame
        warnings.showwarning = show
        yield


# --- patches: the simple per-frame fill, the temporal core, or Ray ------------------------------


@dataclass(frozen=True)
class _FillPath:
    """Where patches come from.

    read_range: (lo, hi) frames to decode; wider than the output range when the temporal
        core needs context frames, so a chunk gets exactly the whole-clip result.
    patched_frames(decoded frames) -> (frame, its patches) for the output range only.
    """

    filler_name: str
    read_range: tuple[int, int]
    patched_frames: Callable[[Iterator], Iterator[tuple[Any, list[FramePatch]]]]
    # Fillers the Ray workers built, by name, filled in as their results arrive.
    worker_fillers: set[str] | None = None

    def filler(self) -> str:
        """The summary's filler: the workers' own when they reported it."""
        if self.worker_fillers:
            return ", ".join(sorted(self.worker_fillers)) + " on Ray"
        return self.filler_name


def _fill_path(
    input_path: Path,
    mask_track,
    track,
    info,
    options: InpaintOptions,
    report: ProgressCallback,
    frame_range: tuple[int, int],
) -> _FillPath:
    """The per-frame fill (`--temporal off`), the temporal core, or segments on Ray workers."""
    if options.workers > 1 or options.ray_address is not None:
        return _ray_path(
            input_path, mask_track, options, frame_range, info.frame_count, track.frame_base
        )
    filler = make_filler(options, report)
    name = getattr(filler, "name", type(filler).__name__)
    if not options.temporal:

        def per_frame(frames: Iterator) -> Iterator[tuple[Any, list[FramePatch]]]:
            for frame in frames:
                yield frame, fill_frame(frame.index, frame, track, filler)

        return _FillPath(name, frame_range, per_frame)

    from .temporal import context_span, iter_patches

    temporal = temporal_options(options, track.frame_base, info.frame_count)
    start, stop = frame_range

    def temporal_core(frames: Iterator) -> Iterator[tuple[Any, list[FramePatch]]]:
        def patches(frames: Iterable) -> Iterator[tuple[int, list[FramePatch]]]:
            return iter_patches(
                frames,
                track,
                filler,
                temporal,
                output_range=frame_range,
                frame_count=info.frame_count,
                debug_rate=info.average_rate,
            )

        return _pair_with_frames(frames, patches, frame_range)

    read_range = context_span(start, stop, info.frame_count, temporal)
    return _FillPath(name, read_range, temporal_core)


def _ray_path(input_path, mask_track, options, frame_range, frame_count, frame_base) -> _FillPath:
    """Segments filled by Ray workers, which decode their own frames (with context) and
    send back only the pixels that differ from the source; this process decodes the
    output range once more, rebuilds the patches from it and composites."""
    from .distributed import clip_job, iter_patched_frames

    job = clip_job(input_path, mask_track, options, frame_base, frame_count)
    start, stop = frame_range

    fillers: set[str] = set()

    def from_workers(frames: Iterator) -> Iterator[tuple[Any, list[FramePatch]]]:
        return iter_patched_frames(
            job,
            frames,
            frame_count,
            start,
            stop,
            workers=options.workers,
            ray_address=options.ray_address,
            on_result=lambda result: fillers.add(result.filler),
        )

    name = f"{options.model or 'default'} on Ray"
    return _FillPath(name, frame_range, from_workers, worker_fillers=fillers)


def temporal_options(options: InpaintOptions, frame_base: int = 0, frame_count: int | None = None):
    """The temporal core's options: the knobs the user set, its own defaults for the rest.

    frame_base: the mask track's, to turn the frame numbers of `shot_cuts` into indices;
    frame_count: the clip's, to refuse cuts after its last frame (a frame_base mix-up).
    """
    from .temporal import TemporalOptions

    knobs = {
        name: getattr(options, name)
        for name in ("window", "context", "keyframe_interval", "flow_quality", "save_debug")
        if getattr(options, name) is not None
    }
    if isinstance(options.shot_cuts, tuple):
        cuts = sorted({number - frame_base for number in options.shot_cuts})
        last = frame_count - 1 if frame_count is not None else None
        outside = [c for c in cuts if c < 0 or (last is not None and c > last)]
        if outside:
            span = f"{frame_base}-{frame_base + last}" if last is not None else f">= {frame_base}"
            raise UsageError(
                f"--shot-cuts: frame {outside[0] + frame_base} is outside the clip's frames {span}"
                + (f" (frame_base {frame_base})" if frame_base else "")
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


def _pair_with_frames(
    frames: Iterator,
    make_patches: Callable[[Iterable], Iterator[tuple[int, list[FramePatch]]]],
    keep: tuple[int, int],
) -> Iterator[tuple[Any, list[FramePatch]]]:
    """Run a patch source over `frames` and give each kept frame back with its patches.

    The patch source reads frames ahead (a temporal window, context frames); the kept
    frames it has read but whose patches have not come out yet wait here, so memory
    stays one window. Frames outside `keep` are context: read, never written.
    """
    waiting: dict[int, Any] = {}
    start, stop = keep

    def remember(source: Iterator) -> Iterator:
        for frame in source:
            if start <= frame.index < stop:
                waiting[frame.index] = frame
            yield frame

    for index, patches in make_patches(remember(frames)):
        yield waiting.pop(index), patches


def fill_frame(index: int, rgb, track, filler: Filler) -> list[FramePatch]:
    """The simple path: fill one frame's mask with `filler` on a crop around the mask.

    The filler sees the mask's bounding box plus a margin of context; the patch is the
    tight box, with the track's (feathered) alpha, so compositing changes only pixels
    where alpha > 0. No mask on this frame: no patches.
    rgb: the frame, H x W x 3, or its io.DecodedFrame (then only the filler's crop is
    converted to RGB).
    """
    crop = track.alpha_crop(index)  # drawn around the mask only, never the whole frame
    tight = crop.tight_box() if crop is not None else None
    if tight is None:
        return []
    tx0, ty0, tx1, ty1 = tight
    height, width = rgb.shape[:2] if isinstance(rgb, np.ndarray) else (rgb.height, rgb.width)
    # A generative filler wants far more context than Telea's ring of known pixels.
    m = getattr(filler, "preferred_context", SIMPLE_FILL_MARGIN)
    x0, y0, x1, y1 = max(tx0 - m, 0), max(ty0 - m, 0), min(tx1 + m, width), min(ty1 + m, height)
    context = (x0, y0, x1, y1)
    filled = filler.fill(box_pixels(rgb, context), crop.region(context) > 0)
    return banded_patches(
        index,
        tx0,
        ty0,
        filled[ty0 - y0 : ty1 - y0, tx0 - x0 : tx1 - x0],
        crop.region((tx0, ty0, tx1, ty1)),
    )


def make_filler(options: InpaintOptions, report: ProgressCallback) -> Filler:
    """The filler for pixels no frame shows: Moebius when its weights are here, else OpenCV.

    The classical filler asked for by name is built here, so such runs never import torch.
    """
    name = options.model
    if name is not None and options.weights is None and name.lower() in CLASSICAL_FILLERS:
        return OpenCVFiller(CLASSICAL_FILLERS[name.lower()])
    from .model import load_filler

    def notice(message: str) -> None:
        report(ProgressEvent("warning", message=message))

    return load_filler(
        name,
        weights=options.weights,
        device=options.device,
        dtype=options.precision,
        notice=notice,
    )


# --- checks at the edge ---------------------------------------------------------------------------


def _check_input(input: str | os.PathLike) -> Path:
    path = Path(os.fspath(input))
    if path.exists():
        if not os.access(path, os.R_OK):
            raise InputError(f"{path}: not readable (permission denied)")
        return path
    if "%" in path.name or "#" in path.name:  # a sequence pattern: open_video checks the files
        if not path.parent.is_dir():
            raise InputError(f"{path}: no such folder: {path.parent}")
        return path
    raise InputError(f"{path}: no such file")


def _check_output(
    output: str | os.PathLike, input_path: Path, options: InpaintOptions, codec: str
) -> Path:
    """Cheap checks of the output path, before any decoding or model loading.

    The writer checks again when it opens (and knows image-sequence patterns); these
    make the common mistakes fail in a second instead of after the model has loaded.
    """
    path = Path(os.fspath(output))
    if codec == "png":  # a pattern or a folder: the writer checks the sequence
        return path
    if path.is_dir():
        raise UsageError(f"-o {path}: is a directory; give a file name (e.g. {path / 'out.mp4'})")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise UsageError(f"-o {path}: the folder {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise UsageError(f"-o {path}: the folder {parent} is not writable")
    if _same_file(path, input_path):
        raise UsageError(f"-o {path}: is the input; the input is never overwritten")
    if path.exists() and not options.overwrite:
        raise UsageError(f"-o {path}: already exists (use -y to overwrite it)")
    return path


def _check_debug_path(options: InpaintOptions, others: tuple) -> None:
    """--save-debug is an output like -o: never one of the run's files, -y to replace one."""
    if options.save_debug is None:
        return
    path = Path(os.fspath(options.save_debug))
    for other in others:
        if isinstance(other, (str, os.PathLike)) and _same_file(path, Path(os.fspath(other))):
            raise UsageError(f"--save-debug {path}: is {other}, a file of this run; choose another")
    if path.is_dir():
        raise UsageError(f"--save-debug {path}: is a directory; give a file name")
    if path.exists() and not options.overwrite:
        raise UsageError(f"--save-debug {path}: already exists (use -y to overwrite it)")


def _same_file(a: Path, b: Path) -> bool:
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return a.resolve() == b.resolve()


def _check_codec(codec: str | None, output: str | os.PathLike) -> str:
    """The io codec name for a -c:v value (aliases such as prores_ks resolved); with no
    -c:v, png for an image-sequence pattern and libx264 for a movie."""
    from .io.encode import default_codec, resolve_codec

    codec = codec or default_codec(output)
    try:
        return resolve_codec(codec).name
    except UsageError as exc:
        raise UsageError(f"-c:v: {exc}") from None


def index_range(
    frames: tuple[int, int] | None, frame_base: int, frame_count: int
) -> tuple[int, int]:
    """(start, stop) 0-based, stop exclusive, from clip frame numbers (first, last)."""
    if frames is None:
        return 0, frame_count
    first, last = frames
    start, stop = first - frame_base, last - frame_base + 1
    if start < 0 or stop > frame_count:
        raise UsageError(
            f"--frames {first}-{last}: outside the clip, which has frames "
            f"{frame_base}-{frame_base + frame_count - 1}"
            + (f" (frame_base {frame_base})" if frame_base else "")
        )
    return start, stop


def parse_shot_cuts(value: Any) -> str | tuple[int, ...]:
    """`--shot-cuts`: "auto", "none", or frame numbers ("1012,1100" or a list of ints)."""
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("auto", "none"):
            return text
        if re.fullmatch(r"\s*\d+(\s*,\s*\d+)*\s*,?\s*", value):
            return tuple(int(part) for part in value.split(",") if part.strip())
        raise UsageError(
            f"--shot-cuts: expected auto, none or frame numbers like 1012,1100, got {value!r}"
        )
    if isinstance(value, (tuple, list)) and all(_is_int(v) and v >= 0 for v in value):
        return tuple(int(v) for v in value)
    raise UsageError(
        f"--shot-cuts: expected auto, none or a list of frame numbers >= 0, got {value!r}"
    )


def parse_frame_range(text: str) -> tuple[int, int]:
    """'1001-1100' -> (1001, 1100); '1001' -> (1001, 1001). Inclusive, clip frame numbers."""
    match = re.fullmatch(r"\s*(-?\d+)\s*(?:-\s*(-?\d+)\s*)?", str(text))
    if match is None:
        raise UsageError(
            f"--frames: expected FIRST-LAST (e.g. 1001-1100) or one frame number, got {text!r}"
        )
    first = int(match.group(1))
    last = int(match.group(2)) if match.group(2) is not None else first
    if first > last:
        raise UsageError(f"--frames: first frame {first} is after last frame {last} in {text!r}")
    return first, last


# --- option helpers ------------------------------------------------------------------------------

_ALIASES = {"c:v": "codec", "c_v": "codec", "y": "overwrite"}


def _option_name(key: str) -> str:
    key = str(key).strip().lstrip("-")
    return _ALIASES.get(key, key.replace("-", "_"))


def _cli_name(field_name: str) -> str:
    return "--" + field_name.replace("_", "-")


def _coerce(name: str, value: Any) -> Any:
    """Job files and hook requests carry JSON/YAML scalars: bring them to the field types."""
    if name == "frames":
        if value is None:
            return None
        if isinstance(value, (list, tuple)) and len(value) == 2:
            return tuple(value)
        if _is_int(value):
            return (value, value)
        if isinstance(value, str):
            return parse_frame_range(value)
        raise UsageError(f"--frames: expected 'FIRST-LAST' or [first, last], got {value!r}")
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


def _check_type(name: str, value: Any, types) -> None:
    if not isinstance(value, types):
        raise UsageError(f"{name}: expected {_type_names(types)}, got {value!r}")


def _check_int(name: str, value: Any, low: int, high: int | None) -> None:
    if not _is_int(value):
        raise UsageError(f"{name}: expected an integer, got {value!r}")
    if value < low or (high is not None and value > high):
        bound = f"{low}..{high}" if high is not None else f">= {low}"
        raise UsageError(f"{name}: expected an integer {bound}, got {value}")


def _type_names(types) -> str:
    types = types if isinstance(types, tuple) else (types,)
    names = {bool: "true or false", str: "a string", os.PathLike: "a path"}
    return " or ".join(names.get(t, t.__name__) for t in types)


def _no_progress(event: ProgressEvent) -> None:
    pass
