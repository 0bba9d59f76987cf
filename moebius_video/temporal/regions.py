"""Separate regions of a window's masks, each filled on its own crop.

A wire, a ball and a logo in three corners of a 4K frame would make one crop of nearly
the whole frame; as three regions each costs its own area plus the margins. A region is
a box around masks grown by the crop margin; boxes that overlap (or touch) are merged
until none do, so the regions of a window are disjoint and each mask pixel of the
window's frames lies in exactly one. They follow from the mask track alone (its cheap
per-frame boxes), so a farm chunk, a Ray worker and a whole render cut a window the same
way.
"""

from __future__ import annotations

from collections.abc import Iterable

import cv2
import numpy as np

from ..patches import enclosing_box

Box = tuple[int, int, int, int]


def component_boxes(alpha: np.ndarray, margin: int = 0) -> list[Box]:
    """(x0, y0, x1, y1) of each 8-connected part of alpha > 0, grown by margin and clipped
    to the frame: the per-frame boxes of a track that has only `alpha`."""
    count, _, stats, _ = cv2.connectedComponentsWithStats((alpha > 0).astype(np.uint8), 8)
    h, w = alpha.shape
    boxes = []
    for x, y, bw, bh, _ in stats[1:count]:
        x, y, bw, bh = int(x), int(y), int(bw), int(bh)
        boxes.append(
            (
                max(x - margin, 0),
                max(y - margin, 0),
                min(x + bw + margin, w),
                min(y + bh + margin, h),
            )
        )
    return boxes


def merge_boxes(boxes: Iterable[Box]) -> list[Box]:
    """The boxes with every two that overlap or touch replaced by the box enclosing both,
    until none do; sorted (top to bottom, then left to right). The result does not depend
    on the order given: a merge only grows boxes, so it never undoes another."""
    merged: list[Box] = []
    for box in boxes:
        while True:
            touching = [m for m in merged if _touch(m, box)]
            if not touching:
                break
            merged = [m for m in merged if not _touch(m, box)]
            box = enclosing_box([box, *touching])
        merged.append(box)
    return sorted(merged, key=lambda b: (b[1], b[0], b[3], b[2]))


def _touch(a: Box, b: Box) -> bool:
    return a[0] <= b[2] and b[0] <= a[2] and a[1] <= b[3] and b[1] <= a[3]
