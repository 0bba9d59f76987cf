"""One clip in, the same clip out with only the masked pixels changed.

    from moebius_video import inpaint_video, InpaintOptions
    result = inpaint_video("shot.mov", "wires.json", "shot_clean.mov",
                           InpaintOptions(codec="prores_ks", frames=(1001, 1100)))
    print(result.summary())

`inpaint_video` checks everything the caller passed before it writes a byte
(input decodes, mask track fits the clip, frame range, output path, codec), then
streams: decode -> mask -> fill -> composite -> encode + remux (or one file per frame
for an image-sequence output). Frames flow one by one (the temporal core holds a few
windows), so memory does not grow with the clip. Frames without a mask are composited
with no patches: they pass through bit for bit (up to the output codec).

`render_chunk` is the same run for a farm task: `--skip-existing` resumes a killed
task. `analyse_shot` writes a shot's analysis once, for every task of a farm job to read
(`InpaintOptions.analysis`, shot_files.py). The CLI, batch shots, the hook and the
plugins all come through here, and this module is the only one that opens the clip,
parses the mask track and picks the fill: the per-frame fill, the temporal engine in
this process, or segments on Ray workers.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import os
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import (
    InputError,
    MediaError,
    MoebiusVideoError,
    OptionError,
    OutputExistsError,
    UsageError,
)
from .farm import ChunkResult
from .options import InpaintOptions, index_range
from .patches import FramePatch
from .paths import frame_path, is_image_pattern, normalize_pattern, pattern_regex, same_file
from .progress import ProgressCallback, ProgressEvent, warnings_as_events

__all__ = [
    "AnalysisResult",
    "InpaintOptions",
    "InpaintResult",
    "ProgressEvent",
    "analyse_shot",
    "inpaint_video",
    "render_chunk",
]


@dataclass(frozen=True)
class InpaintResult:
    """What a run did.

    frames: frames written. masked_frames: frames that had a mask.
    masked_fraction: mean share of the frame area with alpha > 0, over written frames.
    frame_range: (first, last) clip frame numbers of the run (see
        `InpaintOptions.frame_numbers`: a sequence's file numbers, else index + frame_base).
    frame_indices: (first, last) the same frames as 0-based input indices.
    seconds: wall time of the whole call; fps: frames / seconds.
    skipped: frames of an image-sequence output already on disk and kept (`skip_existing`).
    damaged: clip frame numbers of the frames found damaged (`allow_damaged`): frames the
        decoder rejected (the last good frame written in their place) and those after
        them up to the next key frame.
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
    skipped: int = 0
    damaged: tuple[int, ...] = ()
    frame_indices: tuple[int, int] = (0, -1)

    def as_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["frame_range"] = list(self.frame_range)
        out["frame_indices"] = list(self.frame_indices)
        out["damaged"] = list(self.damaged)
        return out

    def summary(self) -> str:
        """The one-line summary the CLI prints at the end."""
        first, last = self.frame_range
        kept = f", kept {self.skipped} already there" if self.skipped else ""
        return (
            f"moebius-video: wrote {self.output}: {self.frames} frames ({first}-{last}){kept}, "
            f"masked {100 * self.masked_fraction:.2f}% of the area "
            f"in {self.masked_frames} frames, {self.seconds:.1f} s, {self.fps:.1f} fps "
            f"(filler {self.filler}, {self.codec})"
            + (f"; damaged frames: {frame_ranges(self.damaged)}" if self.damaged else "")
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
    input: a movie, an image-sequence pattern (`shot.%04d.png`, `shot.####.png`,
    `shot.@@@@.png`) or a folder of images.
    output: a movie file, or an image-sequence pattern (`out.%04d.png`, `.tif`, `.exr`;
    files numbered by clip frame, see `InpaintOptions.frame_numbers`), or a folder with
    `-c:v png` (files `frame.%06d.png`). Any input kind can become any output kind; a
    movie made from a sequence has no audio and a timecode from its first frame number.
    progress: called with `ProgressEvent`s (started, progress per frame, warning, done).

    Raises UsageError (bad options or output path), InputError / MediaError /
    MaskTrackError (bad input), before any output exists. A failure or Ctrl-C while
    encoding leaves no movie (the writer renames a temp file only on success), and no
    half image file (each is renamed into place whole).
    """
    return _run(input, mask_track, output, options or InpaintOptions(), progress or _no_progress)


def render_chunk(
    input: str | os.PathLike,
    mask_track: str | os.PathLike | Mapping[str, Any],
    output: str | os.PathLike,
    options: InpaintOptions | None = None,
    skip_existing: bool = False,
    progress: ProgressCallback | None = None,
    on_segment: Callable[[Any], None] | None = None,
) -> ChunkResult:
    """Render `options.frames` (default: the whole clip) of one shot: a farm task.

    Like `inpaint_video`; with `skip_existing`, frames of an image-sequence output
    already on disk are kept and not rendered again, and an existing movie output
    skips the task. `on_segment` is called with each `distributed.SegmentResult` when
    Ray workers fill.
    """
    options = options or InpaintOptions()
    report = progress or _no_progress
    began = time.perf_counter()
    if skip_existing and not is_image_pattern(output) and Path(os.fspath(output)).exists():
        broken = _not_a_whole_render(output, input, options)
        if broken is None:
            report(ProgressEvent("warning", message=f"{output}: exists, skipped (--skip-existing)"))
            first, last = options.frames or (0, -1)
            return ChunkResult(str(output), 0, 1, (first, last), time.perf_counter() - began)
        report(ProgressEvent("warning", message=f"{output}: {broken}; rendering it again"))
        options = options.replace(overwrite=True)
    result = _run(
        input,
        mask_track,
        output,
        options,
        report,
        skip_existing=skip_existing,
        on_segment=on_segment,
    )
    return ChunkResult(
        result.output,
        result.frames,
        result.skipped,
        result.frame_range,
        time.perf_counter() - began,
        run=result,
    )


@dataclass(frozen=True)
class AnalysisResult:
    """What `analyse_shot` wrote: the sidecar `output`, for `frames` frames of `input`,
    `masked_frames` of them masked, the shots' first frames (clip frame numbers) after the
    first one found or given in `cuts`."""

    input: str
    output: str
    frames: int
    masked_frames: int
    cuts: tuple[int, ...]
    seconds: float

    def summary(self) -> str:
        cuts = f", cuts at {frame_ranges(self.cuts)}" if self.cuts else ""
        return (
            f"moebius-video: wrote {self.output}: the shot analysis of {self.input} "
            f"({self.frames} frames, {self.masked_frames} masked{cuts}), {self.seconds:.1f} s"
        )


def analyse_shot(
    input: str | os.PathLike,
    mask_track: str | os.PathLike | Mapping[str, Any],
    output: str | os.PathLike | None = None,
    options: InpaintOptions | None = None,
    progress: ProgressCallback | None = None,
) -> AnalysisResult:
    """Analyse the whole shot once (camera motion, coarse masks, cuts) and write it to the
    sidecar `output` (default: `shot_files.default_sidecar(input)`, beside the input), for
    the tasks of a farm job to read with `InpaintOptions(analysis=output)`.

    options: those that change the analysis (shot_cuts, with frame_numbers to read them,
    allow_damaged) must be the tasks' own, or the tasks refuse the sidecar; also fps and
    overwrite (`-y` replaces an existing sidecar). Writing it deletes the windows shared
    for an older one. Raises like `inpaint_video`, before anything is written.
    """
    from .io import open_video
    from .shot_files import default_sidecar, write_analysis
    from .temporal.shot_analysis import analyse_shots

    options = options or InpaintOptions()
    report = progress or _no_progress
    began = time.perf_counter()
    input_path = _check_input(input)
    sidecar = Path(os.fspath(output)) if output is not None else default_sidecar(input_path)
    _check_sidecar_path(sidecar, options)
    with (
        warnings_as_events(report),
        open_video(input_path, fps=options.fps, allow_damaged=options.allow_damaged) as video,
    ):
        info = video.info
        track = load_track_for(mask_track, info)
        target = OutputTarget(sidecar, "npz", False)
        check_writes(target, options, files_read(input_path, info, mask_track, track))
        base, _ = frame_numbering(options, info, track, input_path, report)
        cuts = _given_cuts(options.replace(temporal=True).temporal_options(base, info.frame_count))
        key = _shot_key(input_path, info, mask_track, track, cuts, options.allow_damaged)
        count = info.frame_count
        report(ProgressEvent("started", total=count, stats={"input": str(input_path)}))

        def frames() -> Iterator:
            for frame in _checked_frames(video.frames(0, count), input_path, 0, count):
                yield frame
                done = frame.index + 1
                percent = 100.0 * done / count
                report(ProgressEvent("progress", frame=done, total=count, percent=percent))

        analysis = analyse_shots(frames(), track, cuts)
        sidecar.parent.mkdir(parents=True, exist_ok=True)
        write_analysis(sidecar, analysis, key)
    result = AnalysisResult(
        str(input_path),
        str(sidecar),
        analysis.count,
        len(analysis.masked_frames()),
        tuple(c + base for c in analysis.motion.cuts if c > 0),
        time.perf_counter() - began,
    )
    report(ProgressEvent("done", frame=count, total=count, percent=100.0, message=result.summary()))
    return result


def _check_sidecar_path(path: Path, options: InpaintOptions) -> None:
    """A sidecar is an output like -o; its folder is made when missing (a farm job's first
    task writes into a fresh output folder), once the inputs are checked."""
    if path.is_dir():
        raise OptionError("output", f" {path}: is a directory; give a file name")
    folder = next((p for p in path.absolute().parents if p.exists()), None)
    if folder is None or not folder.is_dir() or not os.access(folder, os.W_OK):
        raise OptionError("output", f" {path}: the folder {folder} is not writable")
    if path.exists() and not options.overwrite:
        raise OutputExistsError("output", path)


def _given_cuts(temporal) -> tuple[int, ...]:
    """The shot cuts given as clip indices (--shot-cuts N,N); auto and none give none."""
    return temporal.shot_cuts if isinstance(temporal.shot_cuts, tuple) else ()


def _shot_key(input_path: Path, info, mask_track, track, cuts, allow_damaged: bool) -> dict:
    from .shot_files import shot_key

    source = mask_track if isinstance(mask_track, Mapping) else Path(os.fspath(mask_track))
    return shot_key(
        input_files(input_path, info), info, source, track.source_files(), cuts, allow_damaged
    )


def _shared_shot(input_path, mask_track, track, info, options, temporal, filler):
    """The sidecar's analysis and the shot's window cache, for `options.analysis`."""
    from .shot_files import WindowCache, read_analysis, window_key, windows_folder

    key = _shot_key(
        input_path, info, mask_track, track, _given_cuts(temporal), options.allow_damaged
    )
    analysis = read_analysis(options.analysis, key)
    cache = WindowCache(
        windows_folder(options.analysis),
        window_key(key, temporal, filler, options.filler_spec()),
    )
    return analysis, cache


def _not_a_whole_render(output, input, options: InpaintOptions) -> str | None:
    """Why an existing movie chunk is not a finished render of `input` (frames, size,
    the last frame decodes), or None when it is one."""
    from .io import open_video

    try:
        with open_video(_check_input(input)) as source:
            size, count = (source.info.width, source.info.height), source.info.frame_count
        span = options.frames or options.frame_indices
        if span is not None:
            count = span[1] - span[0] + 1
        with open_video(output) as existing:
            info = existing.info
            if (info.width, info.height) != size:
                return f"is {info.width}x{info.height}, not {size[0]}x{size[1]}"
            if info.frame_count != count:
                return f"holds {info.frame_count} frames, not {count}"
            for _ in existing.frames(info.frame_count - 1, info.frame_count):
                pass
    except MoebiusVideoError as error:
        return f"cannot be read back ({error})"
    return None


def _run(
    input: str | os.PathLike,
    mask_track: str | os.PathLike | Mapping[str, Any],
    output: str | os.PathLike,
    options: InpaintOptions,
    report: ProgressCallback,
    *,
    skip_existing: bool = False,
    on_segment: Callable[[Any], None] | None = None,
) -> InpaintResult:
    from .io import open_video

    began = time.perf_counter()
    input_path = _check_input(input)
    target = check_output(output, input_path, options)
    _check_debug_path(options, (input_path, target.path, mask_track))
    # Warnings (a shot cut found, a format note) become warning events.
    with (
        warnings_as_events(report),
        open_video(input_path, fps=options.fps, allow_damaged=options.allow_damaged) as video,
    ):
        info = video.info
        if options.fps is not None and not info.is_image_sequence:
            report(
                ProgressEvent(
                    "warning",
                    message=f"{input_path}: --fps is for image sequences; a movie keeps its "
                    f"own rate ({info.average_rate})",
                )
            )
        if info.is_interlaced:
            order = "top" if info.field_order in ("tt", "tb") else "bottom"
            report(
                ProgressEvent(
                    "warning",
                    message=f"{input_path}: interlaced ({order} field first); the masked areas "
                    "are filled per frame, not per field, so fast motion inside them may comb; "
                    "the output keeps the field order",
                )
            )
        track = load_track_for(mask_track, info)  # parsed once, for every path below
        rgba = check_alpha(target, info, getattr(video, "has_alpha", False), options)
        reads = files_read(input_path, info, mask_track, track)
        if options.analysis is not None:  # the sidecar is read too
            reads.append(Path(os.fspath(options.analysis)))
        check_writes(target, options, reads)
        base, numbered_by = frame_numbering(options, info, track, input_path, report)
        start, stop = index_range(
            options.frames, base, info.frame_count, options.frame_indices, numbered_by
        )
        out = _output_for(target, info, input_path, options, base, (start, stop), rgba)
        out.plan(skip_existing)
        total = len(out.todo)
        report(
            ProgressEvent(
                "started",
                total=total,
                stats={"input": str(input_path), "output": str(target.path)},
            )
        )
        if out.skipped:
            report(
                ProgressEvent(
                    "warning",
                    message=f"{out.skipped} frames already exist, kept (--skip-existing)",
                )
            )
        redone = getattr(out, "redone", [])
        if redone:
            report(
                ProgressEvent(
                    "warning",
                    message=f"{len(redone)} existing frame files do not decode at "
                    f"{info.width}x{info.height} (first: frame {redone[0] + base}); "
                    "rendering them again",
                )
            )
        fill = _fill_path(
            input_path,
            mask_track,
            track,
            info,
            options,
            report,
            on_segment,
            spill_dir=target.path.parent,
            frame_base=base,
        )
        written = masked_frames = masked_pixels = 0
        todo = set(out.todo)
        # Frames still to write a window apart or less share windows: one pass over the
        # span fills each window once (was once per run of missing frames).
        core = options.temporal_options(base, info.frame_count)
        gap = core.window + 2 * core.context if core is not None else 0
        with out.open() as writer:
            for run_start, run_stop in _runs(out.todo, gap) if total else []:
                for frame, patches in fill.patched_frames(video, run_start, run_stop):
                    if frame.index not in todo:
                        continue  # kept on disk (--skip-existing)
                    writer.write(frame, patches)
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
                # inside the writer, so no short movie appears.
                raise MediaError(
                    f"{input_path}: decoded {written} of the {total} frames to write in "
                    f"{start}-{stop - 1}; the file looks truncated"
                )

    seconds = time.perf_counter() - began
    area = float(written * info.width * info.height)
    result = InpaintResult(
        input=str(input_path),
        output=str(target.path),
        frames=written,
        masked_frames=masked_frames,
        masked_fraction=masked_pixels / area if area else 0.0,
        frame_range=(start + base, stop - 1 + base),
        seconds=seconds,
        fps=written / seconds if seconds > 0 else 0.0,
        filler=fill.filler(),
        codec=target.codec,
        width=info.width,
        height=info.height,
        skipped=out.skipped,
        damaged=tuple(sorted(i + base for i in getattr(video, "damaged", ()) if start <= i < stop)),
        frame_indices=(start, stop - 1),
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


def frame_ranges(frames: Sequence[int]) -> str:
    """Sorted frame numbers as ranges: 3-7, 12."""
    runs: list[list[int]] = []
    for frame in frames:
        if runs and frame == runs[-1][1] + 1:
            runs[-1][1] = frame
        else:
            runs.append([frame, frame])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)


def check_inputs(
    input: str | os.PathLike,
    mask_track: str | os.PathLike | Mapping[str, Any],
    options: InpaintOptions | None = None,
) -> None:
    """Open the input as media and load the mask track against it, as a run would first,
    without filling anything (`batch --check`); raises what the run would raise."""
    from .io import open_video

    options = options or InpaintOptions()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the run itself shows them
        with open_video(_check_input(input), allow_damaged=options.allow_damaged) as video:
            load_track_for(mask_track, video.info)


def frame_numbering(
    options: InpaintOptions, info, track, input_path: Path, report: ProgressCallback
) -> tuple[int, str]:
    """The frame number of the input's first frame, and where it comes from (for messages).

    `options.frame_numbers`: "file" (the default for sequences) numbers a sequence by its
    file names, "track" (the default for movies) by index + the track's frame_base. A
    movie has no file numbers: "file" numbers it by index from 0. When a sequence's first
    file number and the track's frame_base differ, a warning says which one is used; the
    masks apply by position either way (the track's frame_base is the first file).
    """
    kind = options.frame_numbers or ("file" if info.is_image_sequence else "track")
    first_file = info.start_number
    if info.is_image_sequence and track.frame_base_stated and track.frame_base != first_file:
        used, other = ("the file numbers", "track") if kind == "file" else ("the track's", "file")
        report(
            ProgressEvent(
                "warning",
                message=f"{track.label}: frame_base is {track.frame_base} but the first file of "
                f"{input_path} is frame {first_file}; the track's frame {track.frame_base} is "
                f"applied to file {first_file} and on in order; --frames, --shot-cuts and the "
                f"output's frame numbers use {used} (--frame-numbers {other} for the other)",
            )
        )
    if kind == "track":
        return track.frame_base, "the track's frame_base"
    if info.is_image_sequence:
        return first_file, "the file names"
    return 0, "index: a movie has no file numbers"


def load_track_for(mask_track: str | os.PathLike | Mapping[str, Any], info):
    """The mask track (a path or a parsed dict) checked against an open video's VideoInfo."""
    from .masks import load_mask_track

    return load_mask_track(
        mask_track if isinstance(mask_track, Mapping) else os.fspath(mask_track),
        width=info.width,
        height=info.height,
        frame_count=info.frame_count,
        rotation=info.rotation,
    )


def _runs(indices: list[int], gap: int = 0) -> list[tuple[int, int]]:
    """Runs [start, stop) covering sorted frame indices, joined across gaps of up to `gap`
    frames (kept frames inside a run are decoded and skipped)."""
    runs: list[tuple[int, int]] = []
    for index in indices:
        if runs and index - runs[-1][1] <= gap:
            runs[-1] = (runs[-1][0], index + 1)
        else:
            runs.append((index, index + 1))
    return runs


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


# --- outputs: one movie, or one file per frame ----------------------------------------------------


class _MovieOutput:
    """A movie: every frame of the range, composited in the source's own pixel format and
    encoded once (audio, subtitles and timecode remuxed); renamed into place at the end."""

    def __init__(
        self,
        path: Path,
        info,
        input_path: Path,
        options,
        codec: str,
        frame_range,
        frame_base,
        rgba: bool = False,
    ):
        self.rgba = rgba  # an RGBA sequence's alpha goes into the movie (`check_alpha`)
        self.path, self.info, self.input_path = path, info, input_path
        self.options, self.codec, self.frame_range = options, codec, frame_range
        self.frame_base = frame_base
        self.todo = list(range(*frame_range))
        self.skipped = 0
        self._writer = None

    def plan(self, skip_existing: bool) -> None:
        pass  # render_chunk skips an existing movie before the run starts

    def open(self) -> _MovieOutput:
        from .io import VideoWriter, timecode_of_frame

        sequence = self.info.is_image_sequence
        # A sequence has nothing to remux (no audio); its movie's timecode is its first
        # frame number at the sequence's rate, as an editor would conform it.
        timecode = (
            timecode_of_frame(self.frame_base + self.frame_range[0], self.info.average_rate)
            if sequence
            else None
        )
        info = self.info
        if self.rgba:  # the writer takes RGBA frames, the alpha as read (never filled)
            info = dataclasses.replace(info, pix_fmt=_with_alpha(info.pix_fmt))
        self._writer = VideoWriter(
            self.path,
            info,
            codec=self.codec,
            crf=self.options.crf,
            remux_from=None if sequence else self.input_path,
            frame_range=self.frame_range,
            overwrite=self.options.overwrite,
            timecode=timecode,
        )
        return self

    def write(self, frame, patches: list[FramePatch]) -> None:
        from .io import composite

        picture = composite(frame, patches)
        if self.rgba:
            picture = np.dstack([picture, frame.alpha])
        self._writer.write(picture)

    def __enter__(self) -> _MovieOutput:
        return self

    def __exit__(self, *exc_info) -> None:
        self._writer.__exit__(*exc_info)


class _FramesOutput:
    """An image sequence through the one per-frame writer (`io.FrameFileWriter`)."""

    def __init__(self, pattern: Path, options, frame_base: int, frame_range, size) -> None:
        self.pattern, self.options = pattern, options
        self.frame_base, self.frame_range, self.size = frame_base, frame_range, size
        self.todo: list[int] = []
        self.redone: list[int] = []
        self.skipped = 0
        self._writer = None

    def plan(self, skip_existing: bool) -> None:
        from .io import FrameFileWriter

        self._writer = FrameFileWriter(
            self.pattern,
            self.frame_base,
            self.frame_range,
            overwrite=self.options.overwrite,
            skip_existing=skip_existing,
            frame_size=self.size,
        )
        self.todo, self.skipped = self._writer.todo, self._writer.skipped
        self.redone = self._writer.redone

    def open(self):
        return self._writer.open()


def _output_for(
    target: OutputTarget, info, input_path, options, frame_base, frame_range, rgba=False
):
    """rgba: a movie that carries an RGBA sequence's alpha (`check_alpha`)."""
    if target.sequence:
        return _FramesOutput(
            target.path, options, frame_base, frame_range, (info.width, info.height)
        )
    if info.codec == "exr":
        # What the fill sees of an EXR plate is its ACEScct view (io.exr); a movie gets
        # those codes, untagged: "linear" would be a lie, and a display transform is the
        # colour pipeline's choice, not ours.
        warnings.warn(
            f"{target.path}: the movie holds the EXR plates' ACEScct codes (a log encoding "
            "of scene-linear light, ACES S-2016-001), with no transfer tag; view it "
            "through an ACEScct transform, or write an EXR sequence to keep the values",
            stacklevel=2,
        )
        info = dataclasses.replace(info, color=dataclasses.replace(info.color, transfer=None))
    return _MovieOutput(
        target.path, info, input_path, options, target.codec, frame_range, frame_base, rgba
    )


# --- patches: the simple per-frame fill, the temporal engine, or Ray ------------------------------


@dataclass
class _FillPath:
    """Where patches come from.

    patched_frames(video, start, stop) -> (decoded frame, its patches) for frames
        [start, stop); it decodes what it needs (context frames for the temporal engine).
    """

    filler_name: str
    patched_frames: Callable[[Any, int, int], Iterator[tuple[Any, list[FramePatch]]]]
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
    on_segment: Callable[[Any], None] | None = None,
    spill_dir: Path | None = None,
    frame_base: int = 0,
) -> _FillPath:
    """The per-frame fill (`--temporal off`), the temporal engine, or segments on Ray.
    spill_dir: where shot-wide references that exceed their memory budget go.
    frame_base: the run's frame number of index 0 (`frame_numbering`), for shot cuts."""
    if options.workers > 1 or options.ray_address is not None:
        return _ray_path(input_path, mask_track, options, info, frame_base, on_segment)
    from .model import make_filler

    filler = make_filler(options.filler_spec(), notice=_notice_to(report))
    name = getattr(filler, "name", type(filler).__name__)
    if not options.temporal:
        from .temporal.per_frame import fill_frame

        def per_frame(video, start: int, stop: int) -> Iterator[tuple[Any, list[FramePatch]]]:
            for frame in _checked_frames(video.frames(start, stop), input_path, start, stop):
                yield frame, fill_frame(frame.index, frame, track, filler)

        return _FillPath(name, per_frame)

    from .temporal import context_span, iter_patches

    temporal = options.temporal_options(frame_base, info.frame_count)
    analysed: list = []
    cache = None
    if options.analysis is not None:  # a farm task: the shot's sidecar, read before any output
        shared = _shared_shot(input_path, mask_track, track, info, options, temporal, filler)
        analysed.append(shared[0])
        cache = shared[1]

    def temporal_engine(video, start: int, stop: int) -> Iterator[tuple[Any, list[FramePatch]]]:
        lo, hi = context_span(start, stop, info.frame_count, temporal)
        pull = None
        if temporal.shot_pull and cache is not None:
            # Built only if a window is not in the cache, mid-stream: on its own reader.
            pull = functools.partial(pull_on_own_reader, lo, hi)
        elif temporal.shot_pull:
            pull = shot_pull(video, lo, hi)
        frames = _checked_frames(video.frames(lo, hi), input_path, lo, hi)

        def patches(frames: Iterable) -> Iterator[tuple[int, list[FramePatch]]]:
            return iter_patches(
                frames,
                track,
                filler,
                temporal,
                output_range=(start, stop),
                frame_count=info.frame_count,
                debug_rate=info.average_rate,
                pull=pull,
                frame_base=frame_base,
                cache=cache,
            )

        return _pair_with_frames(frames, patches, (start, stop))

    def shot_pull(video, lo: int, hi: int):
        # Two passes before the fill: the whole clip's analysis (so that a chunk gets the
        # analysis a whole render gets), then the reference frames the span needs.
        from .temporal.shot_analysis import analyse_shots
        from .temporal.shot_pull import build_shot_pull

        def read(a: int, b: int) -> Iterator:
            return _checked_frames(video.frames(a, b), input_path, a, b)

        cuts = temporal.shot_cuts if isinstance(temporal.shot_cuts, tuple) else ()
        if not analysed:  # once per run, however many runs of frames --skip-existing leaves
            analysed.append(analyse_shots(read(0, info.frame_count), track, cuts))
        return build_shot_pull(
            read,
            track,
            info.frame_count,
            (lo, hi),
            cuts,
            spill_dir=spill_dir,
            analysis=analysed[0],
        )

    def pull_on_own_reader(lo: int, hi: int):
        from .io import open_video

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the run's own reader reports the same frames
            with open_video(input_path, fps=options.fps, allow_damaged=options.allow_damaged) as v:
                return shot_pull(v, lo, hi)

    return _FillPath(name, temporal_engine)


def _ray_path(input_path, mask_track, options, info, frame_base, on_segment) -> _FillPath:
    """Segments filled by Ray workers, which decode their own frames (with context) and
    send back only the pixels that differ from the source; this process decodes the
    output range once more, rebuilds the patches from it and composites."""
    from .distributed import clip_job, iter_patched_frames, require_ray

    require_ray(options.workers, options.ray_address)
    frame_count = info.frame_count
    job = clip_job(
        input_path,
        mask_track,
        options.temporal_options(frame_base, frame_count),
        options.filler_spec(),
        frame_base=frame_base,
        per_frame_segment=options.window,
        allow_damaged=options.allow_damaged,
    )
    fillers: set[str] = set()

    def on_result(result) -> None:
        fillers.add(result.filler)
        if on_segment is not None:
            on_segment(result)

    def from_workers(video, start: int, stop: int) -> Iterator[tuple[Any, list[FramePatch]]]:
        return iter_patched_frames(
            job,
            _checked_frames(video.frames(start, stop), input_path, start, stop),
            frame_count,
            start,
            stop,
            workers=options.workers,
            ray_address=options.ray_address,
            on_result=on_result,
        )

    name = f"{options.model or 'default'} on Ray"
    return _FillPath(name, from_workers, worker_fillers=fillers)


def _pair_with_frames(
    frames: Iterator,
    make_patches: Callable[[Iterable], Iterator[tuple[int, list[FramePatch]]]],
    keep: tuple[int, int],
) -> Iterator[tuple[Any, list[FramePatch]]]:
    """Run a patch source over `frames` and give each kept frame back with its patches.

    The patch source reads frames ahead (a temporal window, context frames); the kept
    frames it has read but whose patches have not come out yet wait here, so memory
    stays a few windows. Frames outside `keep` are context: read, never written.
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


# --- checks at the edge ---------------------------------------------------------------------------


def _check_input(input: str | os.PathLike) -> Path:
    path = Path(os.fspath(input))
    if path.exists():
        if not os.access(path, os.R_OK):
            raise InputError(f"{path}: not readable (permission denied)")
        return path
    if is_image_pattern(path):  # a sequence pattern: open_video checks the files
        if not path.parent.is_dir():
            raise InputError(f"{path}: no such folder: {path.parent}")
        return path
    raise InputError(f"{path}: no such file")


@dataclass(frozen=True)
class OutputTarget:
    """A checked output: a movie file, or an image-sequence pattern (`sequence`).

    codec: the io codec name of a movie (aliases resolved), or the image format of a
    sequence (png, tiff, exr: the pattern's extension decides).
    """

    path: Path
    codec: str
    sequence: bool


def check_output(
    output: str | os.PathLike, input_path: Path, options: InpaintOptions
) -> OutputTarget:
    """The one check of the output path and codec, before any decoding or model loading.

    Messages name `-o` and `-c:v` as the CLI spells them; the hook words them its own way.
    """
    from .io.codecs import resolve_codec
    from .io.frame_files import image_format

    path = Path(os.fspath(output))
    pattern = is_image_pattern(path)
    try:
        codec = resolve_codec(options.codec).name if options.codec is not None else None
    except UsageError as exc:
        raise OptionError("codec", f": {exc}") from None
    if codec == "png" and not pattern:
        if not (path.is_dir() or not path.suffix):
            raise OptionError(
                "output",
                f" {path}: png writes an image sequence; give a pattern like "
                "out.%04d.png or a folder",
            )
        path, pattern = path / "frame.%06d.png", True  # a folder of numbered PNGs
    if pattern:
        if codec not in (None, "png"):
            raise OptionError(
                "output",
                f" {path}: an image sequence output needs -c:v png (got {codec}); "
                "for a movie give a file name like out.mp4",
            )
        fmt = image_format(path)
        if is_image_pattern(input_path) and same_file(path.parent, input_path.parent):
            if normalize_pattern(path.name) == normalize_pattern(input_path.name):
                raise OptionError(
                    "output", f" {path}: is the input; the input is never overwritten"
                )
        return OutputTarget(path, fmt, True)
    if path.is_dir():
        raise OptionError(
            "output", f" {path}: is a directory; give a file name (e.g. {path / 'out.mp4'})"
        )
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise OptionError("output", f" {path}: the folder {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise OptionError("output", f" {path}: the folder {parent} is not writable")
    if same_file(path, input_path):
        raise OptionError("output", f" {path}: is the input; the input is never overwritten")
    if path.exists() and not options.overwrite:
        raise OutputExistsError("output", path)
    return OutputTarget(path, codec or "libx264", False)


def check_alpha(target: OutputTarget, info, sequence_alpha: bool, options: InpaintOptions) -> bool:
    """A source with alpha keeps it in every output that can hold it (image sequences,
    prores4444, ffv1); elsewhere (libx264, prores 422) the run warns once, or refuses with
    `strict`, before any output. sequence_alpha: an image-sequence source has alpha (RGBA
    PNGs, an EXR plate's A). True when the output is a movie made from an RGBA sequence
    that carries its alpha: its writer then takes RGBA frames."""
    from .io.codecs import encoder_pix_fmt, resolve_codec
    from .io.pixels import has_alpha

    if target.sequence:
        return False  # every image format we write holds alpha; the frames carry it
    sequence = info.is_image_sequence
    if not (sequence_alpha if sequence else has_alpha(info.pix_fmt)):
        return False
    source_fmt = _with_alpha(info.pix_fmt) if sequence else info.pix_fmt
    if info.codec == "exr":
        reason = (
            f"{info.path} has an alpha channel, which a movie from EXR plates does not "
            "carry; keep it with an EXR sequence"
        )
    elif has_alpha(encoder_pix_fmt(resolve_codec(target.codec), source_fmt)):
        return sequence
    elif sequence:
        reason = (
            f"{info.path} has an alpha channel, which {target.codec} cannot hold; keep it "
            "with -c:v prores4444, ffv1 or an image sequence"
        )
    else:
        reason = (
            f"{info.path} has an alpha channel ({info.pix_fmt}), which {target.codec} cannot "
            "hold; keep it with -c:v prores4444, ffv1 or an image sequence (png, exr)"
        )
    if options.strict:
        raise OptionError("codec", f" {target.codec}: {reason} (refused with --strict)")
    warnings.warn(
        f"{target.path}: the alpha channel is dropped: {reason} (--strict makes this an error)",
        stacklevel=2,
    )
    return False


def _with_alpha(rgb_fmt: str) -> str:
    """The RGBA format of an image sequence's RGB one (rgb24 -> rgba, rgb48le -> rgba64le)."""
    return {"rgb24": "rgba", "rgb48le": "rgba64le"}.get(rgb_fmt, rgb_fmt)


def files_read(
    input_path: Path, info, mask_track: str | os.PathLike | Mapping[str, Any], track
) -> list[Path]:
    """Every file a run reads: the input (each file of a sequence), the mask-track file
    and the raster files it names."""
    files = input_files(input_path, info)
    if not isinstance(mask_track, Mapping):
        files.append(Path(os.fspath(mask_track)))
    return files + track.source_files()


def input_files(input_path: Path, info) -> list[Path]:
    """The input's files: the movie, or each file of an image sequence."""
    from .io.image_sequence import find_sequence_files

    return find_sequence_files(str(input_path))[0] if info.is_image_sequence else [input_path]


def check_writes(target: OutputTarget, options: InpaintOptions, reads: list[Path]) -> None:
    """No output of the run (-o, each frame of a sequence, --save-debug) is a file it reads,
    by resolved path or by inode (links), with -y or without."""
    debug = Path(os.fspath(options.save_debug)) if options.save_debug is not None else None
    regex = pattern_regex(normalize_pattern(target.path.name)) if target.sequence else None
    for read in reads:
        if debug is not None and same_file(debug, read):
            raise OptionError("save_debug", f" {debug}: is {read}, a file this run reads")
        if regex is None:
            hit = same_file(target.path, read)
        else:
            # A name the pattern writes (%04d writes f.0001.png, %d writes f.1.png), in the
            # same folder.
            match = regex.match(read.name)
            hit = (
                match is not None
                and frame_path(target.path, int(match.group(1))).name == read.name
                and same_file(target.path.parent, read.parent)
            )
        if hit:
            raise OptionError(
                "output",
                f" {target.path}: would write over {read}, a file this run reads; "
                "inputs are never overwritten",
            )


def _check_debug_path(options: InpaintOptions, others: tuple) -> None:
    """--save-debug is an output like -o: never one of the run's files, -y to replace one."""
    if options.save_debug is None:
        return
    path = Path(os.fspath(options.save_debug))
    for other in others:
        if isinstance(other, (str, os.PathLike)) and same_file(path, Path(os.fspath(other))):
            raise OptionError(
                "save_debug", f" {path}: is {other}, a file of this run; choose another"
            )
    if path.is_dir():
        raise OptionError("save_debug", f" {path}: is a directory; give a file name")
    if path.exists() and not options.overwrite:
        raise OutputExistsError("save_debug", path)


def _notice_to(report: ProgressCallback) -> Callable[[str], None]:
    """A filler's one-line notice ("Moebius weights not found ...") as a warning event."""

    def notice(message: str) -> None:
        report(ProgressEvent("warning", message=message))

    return notice


def _no_progress(event: ProgressEvent) -> None:
    pass
