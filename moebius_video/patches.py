"""The unit of work every filler returns: a filled crop of one frame and its alpha.

A patch is what the temporal core (or a Ray worker) hands to the encoder, which
composites it into the decoded source frame in the source's own pixel format.
Sending patches instead of whole frames keeps the data moved small and makes
"only masked pixels change" a property of one function (`io.composite`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class FramePatch:
    """Filled pixels for one frame.

    index: 0-based frame index in the clip.
    x0, y0: top-left corner of the crop in full-frame pixels.
    rgb: H x W x 3 crop, same dtype as the decoded RGB frames (uint8 or uint16).
    alpha: H x W float32 in [0, 1]; 0 keeps the source pixel bit for bit.
    """

    index: int
    x0: int
    y0: int
    rgb: np.ndarray
    alpha: np.ndarray

    @property
    def box(self) -> tuple[int, int, int, int]:
        """(x0, y0, x1, y1), end-exclusive."""
        h, w = self.alpha.shape
        return self.x0, self.y0, self.x0 + w, self.y0 + h

    @property
    def nbytes(self) -> int:
        return int(self.rgb.nbytes + self.alpha.nbytes)


def enclosing_box(
    boxes: Sequence[tuple[int, int, int, int]],
) -> tuple[int, int, int, int] | None:
    """The smallest box (x0, y0, x1, y1) holding every box; None for none."""
    if not boxes:
        return None
    return (
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    )


def mask_box(alpha: np.ndarray, margin: int = 0) -> tuple[int, int, int, int] | None:
    """Bounding box (x0, y0, x1, y1) of alpha > 0, grown by margin and clipped; None if empty."""
    rows = np.flatnonzero(alpha.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(alpha.any(axis=0))
    h, w = alpha.shape
    return (
        max(int(cols[0]) - margin, 0),
        max(int(rows[0]) - margin, 0),
        min(int(cols[-1]) + 1 + margin, w),
        min(int(rows[-1]) + 1 + margin, h),
    )
