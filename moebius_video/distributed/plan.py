"""Segment planning: cut a clip into runs of frames that workers fill independently.

A segment owns the output frames [start, stop) and reads [read_start, read_stop):
its own frames plus context on each side. With the temporal core a segment is a run
of whole temporal windows (its length is a multiple of the window) and reads what
those windows read; the driver cross-fades the borders (temporal.engine.FrameAssembler). With
`--temporal off` it reads just its own frames.

Segments lie on a grid anchored at frame 0 of the clip and depend only on the clip
length and the options, never on the number of workers or on the frame range asked
for: a farm chunk or a Ray run fills the same windows the same way, so the output
does not depend on how the work was split.

All indices are 0-based frame indices of the clip; every stop is exclusive.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import UsageError


@dataclass(frozen=True)
class Segment:
    """One unit of work: output frames [start, stop), read frames [read_start, read_stop)."""

    index: int
    start: int
    stop: int
    read_start: int
    read_stop: int

    @property
    def frame_count(self) -> int:
        return self.stop - self.start


def plan_segments(frame_count: int, length: int, context: int) -> list[Segment]:
    """Segments of `length` output frames covering [0, frame_count), each with `context`.

    The last segment is merged into the one before it when it would be shorter
    than half a segment, so no segment is a sliver with little to propagate from.
    """
    if frame_count < 1:
        raise UsageError(f"cannot plan segments for a clip of {frame_count} frames")
    if length < 1:
        raise UsageError(f"segment length must be at least 1 frame, got {length}")
    if context < 0:
        raise UsageError(f"context must be 0 or more frames, got {context}")
    starts = list(range(0, frame_count, length))
    if len(starts) > 1 and frame_count - starts[-1] < (length + 1) // 2:
        starts.pop()
    stops = starts[1:] + [frame_count]
    return [
        Segment(
            index=i,
            start=start,
            stop=stop,
            read_start=max(start - context, 0),
            read_stop=min(stop + context, frame_count),
        )
        for i, (start, stop) in enumerate(zip(starts, stops, strict=True))
    ]
