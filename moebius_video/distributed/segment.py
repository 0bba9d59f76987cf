"""Filling one segment: the unit of work, the same in the driver and in a Ray worker.

A `SegmentFiller` lives once per process (a Ray actor holds one): it builds the
filler (loads the model) and parses the mask track once, then fills segment
after segment. For each segment it reads its own frame window from the source
(PyAV seek; no frames travel from the driver) and returns only the patches of
the frames it owns. Nothing here depends on which process runs it, so a
segment gives the same patches wherever it is filled.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import MediaError, RetryableError
from ..patches import FramePatch
from ..temporal.fillers import Filler
from .plan import Segment, plan_segments
from .transfer import PackedPatch, pack, unpack

# How often a segment that ran out of memory is tried again, each time with half the tile size.
OOM_RETRIES = 2


def opencv_filler() -> Filler:
    """The default filler factory: classical inpainting, no weights needed."""
    from ..temporal.fillers import OpenCVFiller

    return OpenCVFiller()


def filler_for_options(options) -> Filler:
    """Filler factory for a run's `InpaintOptions` (bind it with functools.partial).

    Runs in each worker, so a model is loaded there, once per worker process.
    """
    from ..pipeline import _make_filler

    return _make_filler(options, lambda event: None)


@dataclass(frozen=True)
class ClipJob:
    """Everything a worker needs to fill segments of one clip; small and picklable.

    source: the clip (every worker must see the same path: shared storage on a farm).
    mask_track: the track file path, or the parsed-JSON dict of an inline track.
    mask_base_dir: where relative raster paths in an inline track are resolved.
    temporal: the temporal core's options (window, context, key frames, ...); None fills
        each frame alone (`--temporal off`).
    segment_length / context: the segment plan; see `plan.plan_segments`.
    filler_factory: a picklable callable (module-level function or functools.partial)
        that builds the filler; called once per worker process, never per segment.
    """

    source: str
    mask_track: str | dict
    temporal: Any | None
    segment_length: int
    context: int
    mask_base_dir: str | None = None
    filler_factory: Callable[[], Filler] = field(default=opencv_filler)

    def plan(self, frame_count: int) -> list[Segment]:
        """The clip's segments; in temporal mode each reads what `temporal.context_span` asks."""
        segments = plan_segments(frame_count, self.segment_length, self.context)
        if self.temporal is None:
            return segments
        from ..temporal import context_span

        return [
            replace(s, read_start=span[0], read_stop=span[1])
            for s in segments
            for span in [context_span(s.start, s.stop, frame_count, self.temporal)]
        ]


@dataclass(frozen=True)
class SegmentResult:
    """The patches of one segment, frame by frame, plus what it cost.

    frames: (index, patches) for every kept frame of the segment, in order, also
        frames without patches, so the driver can check nothing is missing. Patches are
        `FramePatch`es, or `PackedPatch`es when they crossed a process boundary
        (`frame_patches` turns either into FramePatches).
    decoded_bytes: RGB bytes this segment decoded (context included).
    patch_bytes: size of its FramePatches; sent_bytes: of what it sends back instead.
    """

    segment: Segment
    frames: list[tuple[int, list]]
    decoded_bytes: int
    patch_bytes: int
    sent_bytes: int
    seconds: float
    worker_pid: int


def frame_patches(patches: list, source_rgb: np.ndarray) -> list[FramePatch]:
    """FramePatches of one frame from a result, unpacking against the decoded source frame."""
    return [unpack(p, source_rgb) if isinstance(p, PackedPatch) else p for p in patches]


class SegmentFiller:
    """Fills segments of one clip. Build once per process; call `fill` per segment."""

    def __init__(self, job: ClipJob):
        self.job = job
        self.filler = job.filler_factory()
        self._track = None

    def _mask_track(self, info):
        if self._track is None:
            from ..masks import load_mask_track

            self._track = load_mask_track(
                self.job.mask_track,
                width=info.width,
                height=info.height,
                frame_count=info.frame_count,
                base_dir=self.job.mask_base_dir,
            )
        return self._track

    def fill(
        self,
        segment: Segment,
        keep: tuple[int, int] | None = None,
        attempt: int = 0,
        pack_patches: bool = False,
    ) -> SegmentResult:
        """Fill `segment`; return patches for its frames inside `keep` (default: all).

        `attempt` > 0 is a retry after a RetryableError (out of memory): the filler
        is asked to work in smaller tiles. `pack_patches`: return `PackedPatch`es, for
        sending to another process (see transfer.py).
        """
        import os

        from ..io import open_video

        began = time.perf_counter()
        lo, hi = segment.start, segment.stop
        if keep is not None:
            lo, hi = max(lo, keep[0]), min(hi, keep[1])
        filler = _smaller_tiles(self.filler, attempt)
        frames: list[tuple[int, list]] = [(i, []) for i in range(lo, hi)]
        stats = {"decoded": 0, "patches": 0, "sent": 0}
        with open_video(self.job.source) as video:
            track = self._mask_track(video.info)
            # A segment whose own frames have no mask decodes nothing.
            if any(track.box(i) is not None for i in range(lo, hi)):
                if self.job.temporal is None:
                    filled = self._per_frame(video, track, filler, lo, hi, stats)
                else:
                    filled = self._temporal(video, track, filler, lo, hi, stats)
                try:
                    for index, patches, rgb in filled:
                        stats["patches"] += sum(p.nbytes for p in patches)
                        if pack_patches:
                            patches = [pack(p, rgb) for p in patches]
                            stats["sent"] += sum(p.nbytes for p in patches)
                        frames[index - lo] = (index, patches)
                except Exception as exc:
                    if _is_out_of_memory(exc):
                        raise RetryableError(
                            f"{self.job.source}: out of memory filling frames "
                            f"{segment.start}-{segment.stop - 1} (attempt {attempt + 1})"
                        ) from exc
                    raise
        return SegmentResult(
            segment=segment,
            frames=frames,
            decoded_bytes=stats["decoded"],
            patch_bytes=stats["patches"],
            sent_bytes=stats["sent"] if pack_patches else stats["patches"],
            seconds=time.perf_counter() - began,
            worker_pid=os.getpid(),
        )

    def _temporal(self, video, track, filler, lo: int, hi: int, stats: dict):
        """(index, patches, rgb) for the frames [lo, hi), in order."""
        # The temporal core cuts the clip on its own fixed window grid and cross-fades
        # window borders; decoding `context_span` and asking for output_range gives
        # exactly the whole-clip result for these frames, wherever the segment starts.
        from ..temporal import context_span, iter_patches

        frame_count = video.info.frame_count
        read_start, read_stop = context_span(lo, hi, frame_count, self.job.temporal)
        held: dict[int, np.ndarray] = {}  # decoded output frames whose patches are not out yet
        decoded = read_start

        def frames():
            nonlocal decoded
            for frame in video.frames(read_start, read_stop):
                stats["decoded"] += frame.rgb.nbytes
                decoded += 1
                if lo <= frame.index < hi:
                    held[frame.index] = frame.rgb
                yield frame

        for index, patches in iter_patches(
            frames(),
            track,
            filler,
            self.job.temporal,
            output_range=(lo, hi),
            frame_count=frame_count,
        ):
            yield index, patches, held.pop(index)
        if decoded != read_stop:
            raise MediaError(
                f"{self.job.source}: decoded frames {read_start}-{decoded - 1} of "
                f"{read_start}-{read_stop - 1}; the file looks truncated"
            )

    def _per_frame(self, video, track, filler, lo: int, hi: int, stats: dict):
        """`--temporal off`: each frame alone, so no context frames are read."""
        from ..pipeline import fill_frame

        decoded = lo
        for frame in video.frames(lo, hi):
            stats["decoded"] += frame.rgb.nbytes
            decoded += 1
            yield frame.index, fill_frame(frame.index, frame.rgb, track, filler), frame.rgb
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
