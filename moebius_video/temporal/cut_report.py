"""Telling the user where shot cuts were found: once per cut, in the clip's frame numbers.

Cuts are found window by window (cuts.py), and neighbouring windows overlap, so the
same cut comes back from two windows, and on Ray from two workers. The streaming path
(segment.py) and the Ray driver (distributed/) both hand every window's cuts to one
`CutReport`, which warns for each new one among the frames the run writes. The
pipeline turns these warnings into warning events (CLI, hook and farm readers).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable


def cut_found_message(frame_number: int) -> str:
    """The warning for a cut found before `frame_number` (index + the track's frame_base)."""
    return (
        f"shot cut found before frame {frame_number}: nothing is carried across it"
        " (--shot-cuts gives the cuts by hand, --shot-cuts none turns this off)"
    )


class CutReport:
    """Warns once for each cut found in the frames [start, stop) that a run writes.

    frame_base: added to clip indices to give the frame numbers users see.
    output_range: (start, stop) clip indices written; None: every frame.
    """

    def __init__(self, frame_base: int = 0, output_range: tuple[int, int] | None = None):
        self.frame_base = frame_base
        self.output_range = output_range
        self.reported: set[int] = set()

    def add(self, cuts: Iterable[int]) -> None:
        """Cuts (clip indices of frames that start a new shot) found in one window or segment."""
        for index in sorted(cuts):
            if index in self.reported or not self._written(index):
                continue
            self.reported.add(index)
            warnings.warn(cut_found_message(index + self.frame_base), stacklevel=2)

    def _written(self, index: int) -> bool:
        if self.output_range is None:
            return True
        return self.output_range[0] <= index < self.output_range[1]
