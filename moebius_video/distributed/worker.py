"""Filling one segment: the unit of work of a Ray worker.

A `SegmentFiller` lives once per process (a Ray actor holds one): it builds the
filler (loads the model) and parses the mask track once, then fills segment
after segment. For each segment it reads its own frames from the source (PyAV
seek; no frames travel from the driver) and returns only patches: with the
temporal core, the shares of the windows the segment owns, filled by the one window
engine (`temporal.engine.WindowEngine`); with `--temporal off`, each frame's patches.
Nothing here depends on which process runs it, so a segment gives the same patches
wherever it is filled, and the same as the single-process run.
"""

from __future__ import annotations

import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import MediaError, RetryableError
from ..fillers import Filler, FillerSpec
from ..temporal.grid import covering, needed_windows, window_core, window_span
from .plan import Segment, plan_segments
from .transfer import pack

# One frame's share of one window: (frame index, blend weight, patches).
Part = tuple[int, float, list]

# How often a segment that ran out of memory is tried again, each time with half the tile size.
OOM_RETRIES = 2


class WorkerNotice(UserWarning):
    """A notice from building a worker's filler ("Moebius weights not found, using OpenCV
    inpainting"): the worker may be another machine, so `SegmentFiller` records it and
    every `SegmentResult` carries it back for the driver to show once."""


def build_filler(spec: FillerSpec | Callable[[], Filler]) -> Filler:
    """The filler of one worker process, built once (a model is loaded there). Its
    notices are raised as `WorkerNotice` warnings. A picklable factory (a custom filler)
    is called as it is."""
    if not isinstance(spec, FillerSpec):
        return spec()
    from ..model import make_filler

    def notice(message: str) -> None:
        warnings.warn(message, WorkerNotice, stacklevel=2)

    return make_filler(spec, notice)


@dataclass(frozen=True)
class ClipJob:
    """Everything a worker needs to fill segments of one clip; small and picklable.

    source: the clip (every worker must see the same path: shared storage on a farm).
    mask_track: the track file path, or the parsed-JSON dict of an inline track.
    mask_base_dir: where relative raster paths in an inline track are resolved.
    temporal: the temporal core's options (window, context, key frames, ...); None fills
        each frame alone (`--temporal off`).
    segment_length / context: the segment plan; see `plan.plan_segments`. With the
        temporal core, segment_length is a multiple of the window.
    filler: which filler to build (`FillerSpec`, or a picklable factory of a custom
        filler); built once per worker process, never per segment. A spec's device
        decides whether Ray workers ask for a GPU.
    frame_base: the mask track's, so the driver reports shot cuts in the clip's frame
        numbers.
    allow_damaged: decode through damage in the stream (see `io.open_video`).
    """

    source: str
    mask_track: str | dict
    temporal: Any | None
    segment_length: int
    context: int
    mask_base_dir: str | None = None
    filler: FillerSpec | Callable[[], Filler] = field(default_factory=lambda: FillerSpec("opencv"))
    frame_base: int = 0
    allow_damaged: bool = False

    @property
    def device(self) -> str:
        """Where the filler runs ("auto", "cpu", "cuda[:N]")."""
        return self.filler.device if isinstance(self.filler, FillerSpec) else "auto"

    def plan(self, frame_count: int) -> list[Segment]:
        """The clip's segments, each with the frames it reads."""
        segments = plan_segments(frame_count, self.segment_length, self.context)
        if self.temporal is None:
            return segments
        planned = []
        for s in segments:
            windows = self.windows(s, (0, frame_count), frame_count)
            first = window_span(windows[0], self.temporal, 0, frame_count)
            last = window_span(windows[-1], self.temporal, 0, frame_count)
            planned.append(replace(s, read_start=first[0], read_stop=last[1]))
        return planned

    def windows(self, segment: Segment, keep: tuple[int, int], frame_count: int) -> list[int]:
        """Temporal windows that `segment` fills for frames in `keep`: those it owns (whose
        first frame is in the segment) among those the kept frames need."""
        return [
            w
            for w in needed_windows(keep[0], keep[1], self.temporal, frame_count)
            if segment.start <= window_core(w, self.temporal)[0] < segment.stop
        ]

    def segments_for(self, frame_count: int, start: int, stop: int) -> list[Segment]:
        """The segments with work for frames [start, stop), in order."""
        segments = self.plan(frame_count)
        if self.temporal is None:
            return [s for s in segments if s.start < stop and s.stop > start]
        return [s for s in segments if self.windows(s, (start, stop), frame_count)]

    def covering(self, frame_count: int) -> Callable[[int], list[int]] | None:
        """Frame -> the windows it needs (None in per-frame mode: one part per frame)."""
        if self.temporal is None:
            return None
        return lambda index: covering(index, self.temporal, frame_count)


@dataclass(frozen=True)
class SegmentResult:
    """What one segment produced, plus what it cost.

    parts: (frame index, weight, patches) in frame order, then window order: with the
        temporal core, each window's share of each frame it covers (the driver
        cross-fades the shares of a frame, see temporal.engine.FrameAssembler); per-frame mode,
        one part of weight 1 per frame. Patches are `FramePatch`es, or `PackedPatch`es
        when they crossed a process boundary (see transfer.py).
    done_through: the last window filled (temporal) or the last frame (per-frame).
    decoded_bytes: RGB bytes this segment decoded (context included).
    patch_bytes: size of its FramePatches; sent_bytes: of what it sends back instead.
    cuts: shot cuts its windows used (clip indices of frames that start a new shot, found
        or given; context frames included), so the driver can report the ones found.
    notices: what building the worker's filler said (`WorkerNotice`s), for the driver
        to show once: which filler a farm run really used is decided on the workers.
    filler: the name of the filler the worker built (the run's summary names it).
    """

    segment: Segment
    parts: list[Part]
    done_through: int
    decoded_bytes: int
    patch_bytes: int
    sent_bytes: int
    seconds: float
    worker_pid: int
    cuts: tuple[int, ...] = ()
    notices: tuple[str, ...] = ()
    filler: str = ""


class SegmentFiller:
    """Fills segments of one clip. Build once per process; call `fill` per segment."""

    def __init__(self, job: ClipJob):
        self.job = job
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", WorkerNotice)
            self.filler = build_filler(job.filler)
        for warning in caught:
            if not issubclass(warning.category, WorkerNotice):  # not ours: pass it on
                warnings.warn_explicit(
                    warning.message, warning.category, warning.filename, warning.lineno
                )
        notices = [str(w.message) for w in caught if issubclass(w.category, WorkerNotice)]
        self.notices = tuple(dict.fromkeys(notices))
        self.estimator = None
        if job.temporal is not None:
            from ..flow.estimate import make_flow_estimator

            self.estimator = make_flow_estimator(job.temporal.flow_quality)
        self._track = None
        self._analysis = None  # the clip's shot analysis, made on first use

    def _mask_track(self, info):
        if self._track is None:
            from ..masks import load_mask_track

            self._track = load_mask_track(
                self.job.mask_track,
                width=info.width,
                height=info.height,
                frame_count=info.frame_count,
                base_dir=self.job.mask_base_dir,
                rotation=info.rotation,
            )
        return self._track

    def fill(
        self,
        segment: Segment,
        keep: tuple[int, int] | None = None,
        attempt: int = 0,
        pack_patches: bool = False,
    ) -> SegmentResult:
        """Fill `segment` for the frames in `keep` (default: the whole clip).

        `attempt` > 0 is a retry after a RetryableError (out of memory): the filler
        is asked to work in smaller tiles. `pack_patches`: return `PackedPatch`es, for
        sending to another process (see transfer.py).
        """
        import os

        from ..io import open_video

        began = time.perf_counter()
        filler = _smaller_tiles(self.filler, attempt)
        stats = {"decoded": 0, "patches": 0, "sent": 0}
        cuts: set[int] = set()
        with open_video(self.job.source, allow_damaged=self.job.allow_damaged) as video:
            frame_count = video.info.frame_count
            keep = keep or (0, frame_count)
            track = self._mask_track(video.info)
            if self.job.temporal is None:
                lo, hi = max(segment.start, keep[0]), min(segment.stop, keep[1])
                parts = self._per_frame(video, track, filler, lo, hi, pack_patches, stats)
                done_through = hi - 1
            else:
                windows = self.job.windows(segment, keep, frame_count)
                parts = self._windows(
                    video, track, filler, windows, keep, pack_patches, stats, cuts
                )
                done_through = windows[-1]
            try:
                parts = list(parts)  # the filling happens here
            except Exception as exc:
                if _is_out_of_memory(exc):
                    raise RetryableError(
                        f"{self.job.source}: out of memory filling frames "
                        f"{segment.start}-{segment.stop - 1} (attempt {attempt + 1})"
                    ) from exc
                raise
        parts.sort(key=lambda part: part[0])  # by frame; stable, so windows stay in order
        return SegmentResult(
            segment=segment,
            parts=parts,
            done_through=done_through,
            decoded_bytes=stats["decoded"],
            patch_bytes=stats["patches"],
            sent_bytes=stats["sent"] if pack_patches else stats["patches"],
            seconds=time.perf_counter() - began,
            worker_pid=os.getpid(),
            cuts=tuple(sorted(cuts)),
            notices=self.notices,
            filler=getattr(self.filler, "name", type(self.filler).__name__),
        )

    def _shot_pull(self, video, track, lo: int, hi: int):
        """The shot-wide references of frames [lo, hi). The clip's analysis is made once
        per process, from the clip's first frame, as a single-process run makes it, so
        every worker aligns frames exactly as that run does."""
        from ..temporal.shot_analysis import analyse_shots
        from ..temporal.shot_pull import build_shot_pull

        options = self.job.temporal
        cuts = options.shot_cuts if isinstance(options.shot_cuts, tuple) else ()
        if self._analysis is None:
            frame_count = video.info.frame_count
            self._analysis = analyse_shots(video.frames(0, frame_count), track, cuts)
        return build_shot_pull(
            video.frames, track, video.info.frame_count, (lo, hi), cuts, analysis=self._analysis
        )

    def _windows(self, video, track, filler, windows, keep, pack_patches: bool, stats, cuts):
        """The shares of `windows` (consecutive, owned by this segment) in the frames of
        `keep`, filled by the one window engine over the frames their spans read."""
        from ..temporal.engine import WindowEngine

        options = self.job.temporal
        frame_count = video.info.frame_count
        lo = window_span(windows[0], options, 0, frame_count)[0]
        hi = window_span(windows[-1], options, 0, frame_count)[1]
        engine = WindowEngine(
            track,
            filler,
            options,
            self.estimator,
            output_range=keep,
            frame_count=frame_count,
            owned=windows,
            pull=self._shot_pull(video, track, lo, hi) if options.shot_pull else None,
        )
        held: dict = {}  # decoded frames, for packing patches against the source

        def shares(done) -> list[Part]:
            if not done.owned:
                return []
            if done.filled is not None:
                cuts.update(done.filled.cuts)
            out = []
            for index, weight in done.shares:
                patches = done.patches(index)
                stats["patches"] += sum(p.nbytes for p in patches)
                if pack_patches:
                    patches = [pack(p, held[index]) for p in patches]
                    stats["sent"] += sum(p.nbytes for p in patches)
                out.append((index, weight, patches))
            # Frames before the next window's shares are done with.
            forget = window_core(done.window + 1, options)[0] - options.blend
            for index in [i for i in held if i < forget]:
                del held[index]
            return out

        decoded = lo
        try:
            for frame in video.frames(lo, hi):
                held[frame.index] = frame
                stats["decoded"] += rgb_bytes(frame)
                decoded += 1
                for done in engine.push(frame):
                    yield from shares(done)
            if decoded != hi:
                raise MediaError(
                    f"{video.info.path}: frame {decoded} could not be decoded; "
                    "the file looks truncated"
                )
            for done in engine.finish():
                yield from shares(done)
        finally:
            engine.abandon()

    def _per_frame(self, video, track, filler, lo: int, hi: int, pack_patches: bool, stats):
        """`--temporal off`: each frame alone, so no context frames are read."""
        from ..temporal.per_frame import fill_frame

        if not any(track.box(i) is not None for i in range(lo, hi)):
            return  # nothing masked: nothing to decode
        decoded = lo
        for frame in video.frames(lo, hi):
            stats["decoded"] += rgb_bytes(frame)
            decoded += 1
            patches = fill_frame(frame.index, frame, track, filler)
            stats["patches"] += sum(p.nbytes for p in patches)
            if pack_patches:
                patches = [pack(p, frame) for p in patches]
                stats["sent"] += sum(p.nbytes for p in patches)
            yield frame.index, 1.0, patches
        if decoded != hi:
            raise MediaError(
                f"{self.job.source}: decoded frames {lo}-{decoded - 1} of {lo}-{hi - 1}; "
                "the file looks truncated"
            )


def _smaller_tiles(filler: Filler, attempt: int) -> Filler:
    """The filler with its tile size halved per attempt (fillers without tiles are unchanged)."""
    tile = getattr(filler, "tile_size", None)
    if attempt == 0 or not isinstance(tile, int):
        return filler
    smaller = max(tile >> attempt, 64)
    try:
        return replace(filler, tile_size=smaller)  # frozen-dataclass fillers
    except TypeError:
        import copy

        clone = copy.copy(filler)
        clone.tile_size = smaller
        return clone


def _is_out_of_memory(exc: BaseException) -> bool:
    """CUDA (or other accelerator) out-of-memory, without importing torch when it is not used."""
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(exc, torch.cuda.OutOfMemoryError):
        torch.cuda.empty_cache()
        return True
    return isinstance(exc, MemoryError)


def source_path(path: str | Path) -> str:
    """Absolute path, so that workers started in another directory open the same file."""
    return str(Path(path).resolve())


def rgb_bytes(frame) -> int:
    """Bytes of a decoded frame's RGB (whether or not it was converted)."""
    height, width = frame.height, frame.width
    return height * width * 3 * np.dtype(frame.rgb_dtype).itemsize
