"""Spread a clip's segments over workers: in this process, or on Ray actors.

    from moebius_video.distributed import clip_job, iter_patched_frames
    job = clip_job("plate.mov", "wires.json", options)
    with open_video("plate.mov") as video:
        frames = video.frames(start, stop)  # the driver decodes once, in order
        for frame, patches in iter_patched_frames(job, frames, frame_count, start, stop,
                                                  workers=4):
            writer.write(composite(frame, patches))

A segment is a run of the temporal core's windows; each window is filled once, by
whichever worker gets its segment, with the one window engine (temporal/engine.py),
and the driver cross-fades window borders with the engine's own `FrameAssembler`.
Workers decode their own frames and send back only the pixels that differ from the
source (transfer.py). So 1 worker, N workers and farm
chunks give the same bytes, and one worker without an address runs in this process
and never imports Ray.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Callable, Iterator, Mapping

from ..errors import RetryableError, UsageError
from ..fillers import FillerSpec
from ..temporal.engine import FrameAssembler
from ..temporal.settings import TemporalOptions
from .plan import Segment, plan_segments
from .transfer import frame_patches
from .worker import OOM_RETRIES, ClipJob, SegmentFiller, SegmentResult, source_path

log = logging.getLogger(__name__)

__all__ = [
    "ClipJob",
    "clip_job",
    "RayOptions",
    "Segment",
    "SegmentFiller",
    "SegmentResult",
    "fill_segments",
    "frame_patches",
    "iter_frame_parts",
    "iter_patched_frames",
    "plan_segments",
    "require_ray",
]


def __getattr__(name: str):
    # RayOptions lives next to the Ray code; importing it here would import Ray.
    if name == "RayOptions":
        from .ray_runner import RayOptions

        return RayOptions
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def uses_ray(workers: int, ray_address: str | None) -> bool:
    """True when the run needs Ray: more than one worker, or a cluster to join."""
    return workers > 1 or ray_address is not None


def require_ray(workers: int, ray_address: str | None) -> None:
    """A usage error, with the line to install it, when a run needs Ray and it is missing."""
    try:
        import ray  # noqa: F401 - the run imports it next anyway
    except ImportError:
        pass
    else:
        return
    wanted = f"--ray-address {ray_address}" if ray_address else f"--workers {workers}"
    raise UsageError(
        f'{wanted} runs on Ray, which is not installed: pip install "moebius-video[ray]" '
        "(or run with one worker)"
    )


def fill_segments(
    job: ClipJob,
    segments: list[Segment],
    keep: tuple[int, int] | None = None,
    workers: int = 1,
    ray_address: str | None = None,
    ray_options=None,
    on_result: Callable[[SegmentResult], None] | None = None,
    pack_patches: bool = False,
) -> Iterator[SegmentResult]:
    """Fill `segments` and yield their results in segment order.

    workers=1 and no address: in this process, one segment after the other.
    Otherwise on Ray (`ray_options`, a `RayOptions`, overrides workers/address).
    `on_result` is called with each result as it is handed out. `pack_patches`: Ray
    workers send `PackedPatch`es (rebuilt by `frame_patches(parts, frame)`).
    """
    if not uses_ray(workers, ray_address) and ray_options is None:
        filler = SegmentFiller(job)
        for segment in segments:
            result = _fill_with_retries(filler, segment, keep)
            if on_result is not None:
                on_result(result)
            yield result
        return

    from .ray_runner import RayOptions, RaySegmentRunner

    options = ray_options or RayOptions(workers=workers, address=ray_address)
    with RaySegmentRunner(job, options) as runner:
        for result in runner.run(segments, keep, pack_patches):
            if on_result is not None:
                on_result(result)
            yield result


def _fill_with_retries(
    filler: SegmentFiller, segment: Segment, keep: tuple[int, int] | None
) -> SegmentResult:
    """Fill in this process; out of memory retries with smaller tiles, as the Ray path does."""
    attempt = 0
    while True:
        try:
            return filler.fill(segment, keep, attempt)
        except RetryableError as error:
            if attempt >= OOM_RETRIES:
                raise
            log.warning("%s; retrying with smaller tiles", error)
            attempt += 1


def iter_frame_parts(
    job: ClipJob,
    frame_count: int,
    start: int = 0,
    stop: int | None = None,
    workers: int = 1,
    ray_address: str | None = None,
    ray_options=None,
    on_result: Callable[[SegmentResult], None] | None = None,
    pack_patches: bool = False,
) -> Iterator[tuple[int, list]]:
    """(index, parts) for every frame of [start, stop), in frame order.

    A frame's parts are the (weight, patches) shares of the windows covering it; turn
    them into the frame's FramePatches with `frame_patches(parts, frame)`. Shot cuts
    that the workers found in [start, stop) are reported here, in the driver, as the
    streaming path reports them (a warning per cut, once), and so are the workers' notices
    (a warning per distinct notice: "Moebius weights not found ...").
    """
    stop = frame_count if stop is None else stop
    # Per-frame mode: each frame is its own unit, done once its segment is.
    assembler = FrameAssembler(start, stop, job.covering(frame_count) or (lambda i: [i]))
    segments = job.segments_for(frame_count, start, stop)
    cut_report = None
    if job.temporal is not None and job.temporal.shot_cuts == "auto":
        from ..temporal.cut_report import CutReport

        cut_report = CutReport(job.frame_base, (start, stop))
    notices: set[str] = set()
    for result in fill_segments(
        job, segments, (start, stop), workers, ray_address, ray_options, on_result, pack_patches
    ):
        for notice in result.notices:
            if notice not in notices:
                notices.add(notice)
                warnings.warn(notice, stacklevel=2)
        if cut_report is not None:
            cut_report.add(result.cuts)
        for index, weight, patches in result.parts:
            assembler.add(index, (weight, patches))
        yield from assembler.ready(result.done_through)
    yield from assembler.rest()


def iter_patched_frames(
    job: ClipJob,
    frames: Iterator,
    frame_count: int,
    start: int = 0,
    stop: int | None = None,
    workers: int = 1,
    ray_address: str | None = None,
    ray_options=None,
    on_result: Callable[[SegmentResult], None] | None = None,
) -> Iterator[tuple]:
    """(decoded frame, its FramePatches) for `frames`, the driver's decode of [start, stop).

    Workers send packed patches (only the pixels that differ from the source, see
    transfer.py), rebuilt here against the frames the driver decodes anyway to composite
    and encode. Ends without error when `frames` ends early (a truncated source): the
    caller counts frames and reports that.
    """
    parts_by_frame = iter_frame_parts(
        job, frame_count, start, stop, workers, ray_address, ray_options, on_result, True
    )
    try:
        for frame in frames:
            index, parts = next(parts_by_frame, (None, None))
            if index != frame.index:
                raise RuntimeError(f"patches for frame {index} arrived with frame {frame.index}")
            yield frame, frame_patches(parts, frame)
    finally:
        parts_by_frame.close()  # stops the workers now when the caller stops early


# Segment length and context when the temporal core is off (frames are filled alone).
PER_FRAME_SEGMENT = 32
# Temporal windows per segment.
SEGMENT_WINDOWS = 4


def clip_job(
    input,
    mask_track,
    temporal: TemporalOptions | None,
    filler: FillerSpec,
    *,
    frame_base: int = 0,
    per_frame_segment: int | None = None,
    allow_damaged: bool = False,
) -> ClipJob:
    """The `ClipJob` for one run over `input` with `mask_track`.

    temporal: the temporal core's options (built by `InpaintOptions.temporal_options`), or
    None for `--temporal off`. filler: the filler each worker builds. Paths become
    absolute, so workers started elsewhere open the same files; an inline track (a dict)
    resolves its raster paths from the current folder, as in the driver. frame_base: the
    mask track's, so cuts are reported in frame numbers. per_frame_segment: segment length
    with `--temporal off` (default PER_FRAME_SEGMENT). allow_damaged: workers decode
    through damage in the stream, as the driver does (`open_video`).
    """
    if temporal is not None:
        # A segment spans several windows: its two border windows are also filled by the
        # neighbouring segments (for the cross-fade), so longer segments waste less.
        length, context = SEGMENT_WINDOWS * temporal.window, temporal.context
    else:
        length, context = per_frame_segment or PER_FRAME_SEGMENT, 0
    inline = isinstance(mask_track, Mapping)
    return ClipJob(
        source=source_path(input),
        mask_track=dict(mask_track) if inline else source_path(mask_track),
        mask_base_dir=os.getcwd() if inline else None,
        temporal=temporal,
        segment_length=length,
        context=context,
        filler=filler,
        frame_base=frame_base,
        allow_damaged=allow_damaged,
    )
