"""The shot-wide pull: real background for a masked pixel from anywhere in its shot.

Inside a window, propagation follows chains of neighbour flows, so a pixel takes real
background only from frames within the window and its context (a few dozen frames). Real
footage reveals slowly: a wire on a camera drifting 0.3 px a frame shows what it hides
30 frames later, a logo on a slow pan 50-100 frames later. The pull reaches there:

1. plan (`plan_references`): for each masked frame t, its coarse masked cells are
   mapped by the shot's camera motion (shot_analysis.py) into the reference frames u of
   the same shot, nearest in time first, both ways, until each cell is seen unmasked;
   references are every `stride`-th frame of the clip (fixed in clip numbers, so every
   chunk picks the same ones), and only links that one global motion explains count.
   Each reference u keeps the box of what was mapped into it;
2. store (`ReferenceStore`): a second decoding pass keeps each reference's box
   (colour, and its mask), in memory up to a byte budget, in a temporary file beyond;
3. pull (`ShotPull.fetch`): the window asks for a frame's hole pixels. Each is mapped
   into the references of its plan, nearest first, and read (bilinear) from the first
   one on each side that shows it unmasked. A reference is used only where it agrees
   with the frame around the hole (the ring just outside the hole, aligned the same way,
   after removing a constant colour offset): a residual above RESIDUAL_LIMIT means the
   global motion does not hold there (parallax, moving foreground, a missed cut). The
   past and future reads are averaged, nearer weighing more, when they agree, and the
   nearer one is taken when they do not.

window.py gives these values to the pixels local propagation did not see (it keeps
priority: it follows moving foreground and lighting best), before key-frame fills.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from ..patches import alpha_in
from .shot_analysis import ShotAnalysis

Box = tuple[int, int, int, int]
# References: every STRIDE-th frame of the clip.
STRIDE = 2
# Frames searched on each side of a masked frame.
MAX_DISTANCE = 400
# Pixels around a planned area kept in a reference (bilinear reads, the ring, the
# coarse grid's rounding).
BOX_MARGIN = 12
# Width (pixels) of the ring outside the hole on which a reference's alignment is checked.
RING = 6
# Residual (8-bit levels, see _AlignmentCheck) on the ring near a hole pixel above which a
# reference is not used for it.
RESIDUAL_LIMIT = 8.0
# Side (pixels) of the cells in which ring residuals are pooled; a hole pixel's residual
# is the mean over the 3 x 3 cells around its nearest ring pixel.
CELL = 8
# Samples (evenly spread over the ring) on which a reference's exposure offset is measured.
MEDIAN_SAMPLES = 512
# Ring pixels a reference must cover to be checked at all (fewer: not used).
MIN_RING_PIXELS = 24
# Past and future reads farther apart than this (8-bit levels, RGB distance) disagree.
AGREEMENT = 30.0
# Bytes of reference crops kept in memory; the rest goes to a temporary file.
MEMORY_BUDGET = 256 * 2**20


# --- 1. plan ------------------------------------------------------------------------------


@dataclass
class ReferencePlan:
    """Which reference frames each masked frame reads, and what each reference keeps."""

    past: dict[int, list[int]] = field(default_factory=dict)  # t -> references, nearest first
    future: dict[int, list[int]] = field(default_factory=dict)
    boxes: dict[int, Box] = field(default_factory=dict)  # reference -> box kept (pixels)

    def references(self) -> list[int]:
        return sorted(self.boxes)

    def restricted(self, frames: Iterable[int]) -> ReferencePlan:
        """The plan of `frames` only: their references, with the boxes of this plan."""
        frames = set(frames)
        past = {t: us for t, us in self.past.items() if t in frames}
        future = {t: us for t, us in self.future.items() if t in frames}
        used = {u for lists in (past, future) for us in lists.values() for u in us}
        return ReferencePlan(past, future, {u: b for u, b in self.boxes.items() if u in used})


def plan_references(
    analysis: ShotAnalysis,
    frames: Iterable[int],
    stride: int = STRIDE,
    max_distance: int = MAX_DISTANCE,
) -> ReferencePlan:
    """The references the masked frames among `frames` (clip indices) need."""
    plan = ReferencePlan()
    motion, scale = analysis.motion, analysis.scale
    width, height = analysis.frame_size
    areas: dict[int, list[float]] = {}  # reference -> [x0, y0, x1, y1] mapped so far
    for t in frames:
        mask = analysis.masks[t] if 0 <= t < analysis.count else None
        if mask is None:
            continue
        cy, cx = np.nonzero(mask.cells)
        # cell corners and centre, in pixels: the area a cell covers maps inside the box
        points = _cell_points(cx + mask.x0, cy + mask.y0, scale)
        for direction, chosen in ((-1, plan.past), (1, plan.future)):
            todo = np.ones(len(cx), bool)
            used = []
            first = t + direction
            first += (-first % stride) if direction > 0 else -(first % stride)
            for u in range(first, t + direction * (max_distance + 1), direction * stride):
                if not todo.any() or not 0 <= u < analysis.count:
                    break
                if not motion.is_global(t, u):
                    if motion.transform(t, u) is None:
                        break  # another shot, or a lost registration: nothing beyond
                    continue
                mapped = apply_homography(motion.transform(t, u), points[todo])  # (n, 5, 2)
                x, y = mapped[..., 0], mapped[..., 1]
                inside = ((x >= 0) & (x <= width - 1) & (y >= 0) & (y <= height - 1)).all(1)
                centre = mapped[:, 0]
                other = analysis.masks[u]
                if other is not None:
                    ccx = np.floor(centre[:, 0] / scale).astype(np.int64)
                    ccy = np.floor(centre[:, 1] / scale).astype(np.int64)
                    inside &= ~other.covers(ccx, ccy)
                if not inside.any():
                    continue
                rows = np.flatnonzero(todo)[inside]
                todo[rows] = False
                used.append(u)
                box = areas.setdefault(u, [np.inf, np.inf, -np.inf, -np.inf])
                seen = mapped[inside].reshape(-1, 2)
                box[0] = min(box[0], seen[:, 0].min())
                box[1] = min(box[1], seen[:, 1].min())
                box[2] = max(box[2], seen[:, 0].max())
                box[3] = max(box[3], seen[:, 1].max())
            if used:
                chosen[t] = used
    for u, (x0, y0, x1, y1) in areas.items():
        plan.boxes[u] = (
            max(0, int(np.floor(x0)) - BOX_MARGIN),
            max(0, int(np.floor(y0)) - BOX_MARGIN),
            min(width, int(np.ceil(x1)) + 1 + BOX_MARGIN),
            min(height, int(np.ceil(y1)) + 1 + BOX_MARGIN),
        )
    return plan


def _cell_points(cx: np.ndarray, cy: np.ndarray, scale: int) -> np.ndarray:
    """(n, 5, 2) pixel positions: each cell's centre, then its four corners."""
    x0, y0 = cx * scale - 0.5, cy * scale - 0.5
    x1, y1 = x0 + scale, y0 + scale
    centre_x, centre_y = (x0 + x1) / 2, (y0 + y1) / 2
    xs = np.stack([centre_x, x0, x1, x0, x1], 1)
    ys = np.stack([centre_y, y0, y0, y1, y1], 1)
    return np.stack([xs, ys], 2).astype(np.float64)


def apply_homography(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Points (..., 2) mapped by a 3 x 3 homography."""
    flat = points.reshape(-1, 2)
    q = flat @ matrix[:2, :2].T + matrix[:2, 2]
    w = flat @ matrix[2, :2] + matrix[2, 2]
    return (q / w[:, None]).reshape(points.shape)


# --- 2. store -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reference:
    """A reference frame's kept box: colours and where its own mask blocks a read."""

    box: Box
    rgb: np.ndarray  # (h, w, 3) uint8 or uint16
    blocked: np.ndarray  # (h, w) bool: masked, grown by one pixel (a bilinear read's reach)


class ReferenceStore:
    """Reference crops, in memory up to `budget` bytes, in a temporary file beyond it.

    spill_dir: where the temporary file goes (beside the output), None for the system's.
    The file is unlinked at once, so nothing is left behind however the run ends.
    """

    def __init__(self, budget: int = MEMORY_BUDGET, spill_dir: str | os.PathLike | None = None):
        self.budget = budget
        self.spill_dir = spill_dir
        self.in_memory: dict[int, Reference] = {}
        self.spilled: dict[int, tuple[Box, int, np.dtype, tuple]] = {}  # u -> box, offset...
        self.bytes_in_memory = 0
        self.bytes_spilled = 0
        self._file = None

    def add(self, index: int, box: Box, rgb: np.ndarray, alpha: np.ndarray) -> None:
        grown = cv2.dilate((alpha > 0).astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
        size = rgb.nbytes + grown.nbytes
        if self.bytes_in_memory + size <= self.budget:
            self.in_memory[index] = Reference(box, np.ascontiguousarray(rgb), grown)
            self.bytes_in_memory += size
            return
        if self._file is None:
            self._file = tempfile.TemporaryFile(prefix="moebius-references-", dir=self.spill_dir)
        offset = self.bytes_spilled
        self._file.seek(offset)
        self._file.write(np.ascontiguousarray(rgb).tobytes())
        self._file.write(np.packbits(grown).tobytes())
        self._file.flush()  # `get` reads the descriptor, past Python's buffer
        self.spilled[index] = (box, offset, rgb.dtype, rgb.shape)
        self.bytes_spilled = self._file.tell()

    def get(self, index: int) -> Reference | None:
        if index in self.in_memory:
            return self.in_memory[index]
        if index not in self.spilled:
            return None
        box, offset, dtype, shape = self.spilled[index]
        count = int(np.prod(shape)) * np.dtype(dtype).itemsize
        bits = -(-shape[0] * shape[1] // 8)
        data = os.pread(self._file.fileno(), count + bits, offset)
        rgb = np.frombuffer(data[:count], dtype).reshape(shape)
        blocked = np.unpackbits(np.frombuffer(data[count:], np.uint8))[: shape[0] * shape[1]]
        return Reference(box, rgb, blocked.reshape(shape[:2]).astype(bool))

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def collect_references(
    frames: Iterable[Any], track: Any, plan: ReferencePlan, store: ReferenceStore
) -> ReferenceStore:
    """Fill `store` from a pass over frames covering the plan's references (frames with
    `.index` and `rgb_crop(box)` or `.rgb`; others are skipped)."""
    for frame in frames:
        box = plan.boxes.get(int(frame.index))
        if box is None:
            continue
        x0, y0, x1, y1 = box
        if hasattr(frame, "rgb_crop"):
            rgb = np.array(frame.rgb_crop(box))
        else:
            rgb = np.array(frame.rgb[y0:y1, x0:x1])
        store.add(int(frame.index), box, rgb, alpha_in(track, int(frame.index), box))
    return store


# --- 3. pull --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pulled:
    """What the pull found for a frame's pixels."""

    values: np.ndarray  # (n, 3) float32
    found: np.ndarray  # (n,) bool
    source: np.ndarray  # (n,) int32: the reference read (the nearer one), -1 where none
    distance: np.ndarray  # (n,) int32: frames from the pixel's frame to `source`, 0: none


class ShotPull:
    """The analysis, the plan and the stored references of a run."""

    def __init__(self, analysis: ShotAnalysis, plan: ReferencePlan, store: ReferenceStore):
        self.analysis, self.plan, self.store = analysis, plan, store

    def fetch(
        self,
        index: int,
        frame: np.ndarray,
        hole: np.ndarray,
        origin: tuple[int, int],
        ys: np.ndarray,
        xs: np.ndarray,
        known: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
        asked: np.ndarray | None = None,
    ) -> Pulled:
        """Values for the pixels (ys, xs) of frame `index`'s crop `frame` (placed at
        origin (x, y) in the frame), whose hole (bool, crop-sized) is `hole`.

        known: (ys, xs, colours) of hole pixels local propagation found: a reference is
        checked against them as against the ring around the hole. Where something moves
        in front of the background (a person behind a ball), a far frame shows the
        background, the near frames show the person: the pull must not paint the
        background over them.
        asked: (n,) bool, the pixels to read (default all); the others are not found.
        """
        ring_ys, ring_xs = _ring(hole)
        samples = (ring_ys, ring_xs, frame[ring_ys, ring_xs].astype(np.float32))
        if known is not None:
            samples = tuple(np.concatenate([a, b]) for a, b in zip(samples, known, strict=True))
        n = ys.size
        check = _AlignmentCheck(samples, ys, xs, frame.shape[:2], origin, _level(frame))
        reads = []
        for references in (self.plan.past.get(index, []), self.plan.future.get(index, [])):
            reads.append(self._read_side(index, origin, ys, xs, references, check, asked))
        (past, past_found, past_u), (future, future_found, future_u) = reads
        d_past = np.abs(index - past_u).astype(np.float32)
        d_future = np.abs(future_u - index).astype(np.float32)
        both = past_found & future_found
        apart = np.sqrt(((past - future) ** 2).sum(1)) / _level(frame)
        agree = both & (apart <= AGREEMENT)
        values = np.zeros((n, 3), np.float32)
        source = np.full(n, -1, np.int32)
        only_past = past_found & ~agree & (~future_found | (d_past <= d_future))
        only_future = future_found & ~agree & ~only_past
        values[only_past], source[only_past] = past[only_past], past_u[only_past]
        values[only_future], source[only_future] = future[only_future], future_u[only_future]
        if agree.any():
            wp, wf = 1.0 / d_past[agree], 1.0 / d_future[agree]
            values[agree] = (wp[:, None] * past[agree] + wf[:, None] * future[agree]) / (wp + wf)[
                :, None
            ]
            source[agree] = np.where(d_past <= d_future, past_u, future_u)[agree]
        distance = np.where(source >= 0, np.abs(source - index), 0).astype(np.int32)
        return Pulled(values, past_found | future_found, source, distance)

    def _read_side(self, index, origin, ys, xs, references, check, asked):
        """(values, found, reference read) per pixel, from the nearest of `references`
        that shows it and lines up with the frame near it."""
        n = ys.size
        values = np.zeros((n, 3), np.float32)
        found = np.zeros(n, bool)
        used = np.full(n, index, np.int32)
        todo = np.ones(n, bool) if asked is None else asked.copy()
        if not references or not todo.any() or check.count < MIN_RING_PIXELS:
            return values, found, used
        ox, oy = origin
        px, py = (xs + ox).astype(np.float64), (ys + oy).astype(np.float64)
        for u in references:
            if not todo.any():
                break
            reference = self.store.get(u)
            matrix = self.analysis.motion.transform(index, u)
            if reference is None or matrix is None:
                continue
            rows = np.flatnonzero(todo)
            rows = rows[check.residual(matrix, reference, rows) <= RESIDUAL_LIMIT]
            points = np.stack([px[rows], py[rows]], 1)
            ok, sample = _read(reference, apply_homography(matrix, points))
            rows = rows[ok]
            values[rows] = sample
            found[rows] = True
            todo[rows] = False
            used[rows] = u
        return values, found, used


def _level(frame: np.ndarray) -> float:
    return 257.0 if frame.dtype == np.uint16 else 1.0


def _ring(hole: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Crop pixels within RING of the hole, outside its edge (1 px)."""
    near = cv2.dilate(hole.astype(np.uint8), np.ones((3, 3), np.uint8))
    size = 2 * (RING + 1) + 1
    far = cv2.dilate(
        hole.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size,) * 2)
    )
    return np.nonzero((far > 0) & (near == 0))


def _read(reference: Reference, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bilinear reads at frame positions q (n, 2) that fall inside the reference's box
    and away from its mask: (which rows, their colours)."""
    x0, y0, x1, y1 = reference.box
    x, y = q[:, 0] - x0, q[:, 1] - y0
    h, w = reference.blocked.shape
    ok = (x >= 0) & (x <= w - 1) & (y >= 0) & (y <= h - 1)
    xi = np.clip(np.rint(x), 0, w - 1).astype(np.int64)
    yi = np.clip(np.rint(y), 0, h - 1).astype(np.int64)
    ok &= ~reference.blocked[yi, xi]
    if not ok.any():
        return ok, np.zeros((0, 3), np.float32)
    at = np.stack([x[ok], y[ok]], 1).astype(np.float32)
    sample = cv2.remap(reference.rgb, at[:, None, 0], at[:, None, 1], cv2.INTER_LINEAR).reshape(
        -1, 3
    )
    return ok, sample.astype(np.float32)


class _AlignmentCheck:
    """How well a reference, aligned by its global motion, agrees with the frame near
    each hole pixel: the frame's samples (the ring just outside the hole, and the hole
    pixels local propagation found) are read from the reference and compared.

    The residual of a sample is its largest channel difference (8-bit levels), after
    removing the median difference over the samples compared (exposure drift is not
    misalignment; the window's edge match removes it from the fill). A hole pixel's
    residual is the mean over the samples in the cells (CELL pixels square) around its
    nearest sample. A hole pixel thus trusts the reference where the background next to
    it lines up: a pan's far reveal is taken, a part where something moves in front (or
    parallax breaks the global motion) is not.

    Built once per frame: which sample is nearest each pixel and the cell of each
    sample. Each reference then reads only the samples near the pixels still to do, so
    trying many references for a few rejected pixels costs little.
    """

    def __init__(self, samples, ys, xs, shape, origin, level):
        sample_ys, sample_xs, self.colour = samples
        self.count = sample_ys.size
        self.level = level
        ox, oy = origin
        self.points = np.stack([sample_xs + ox, sample_ys + oy], 1).astype(np.float64)
        rows, cols = -(-shape[0] // CELL), -(-shape[1] // CELL)
        self.grid = (rows, cols)
        self.cell = (sample_ys // CELL) * cols + sample_xs // CELL
        self.spread = np.zeros(self.count, bool)  # MEDIAN_SAMPLES spread over the samples
        self.spread[:: max(1, self.count // MEDIAN_SAMPLES)] = True
        if self.count < MIN_RING_PIXELS:
            return
        marked = np.ones(shape, np.uint8)
        marked[sample_ys, sample_xs] = 0
        # label of the nearest sample for every pixel, then the sample it belongs to
        _, labels = cv2.distanceTransformWithLabels(
            marked, cv2.DIST_L2, 3, labelType=cv2.DIST_LABEL_PIXEL
        )
        owner = np.zeros(labels.max() + 1, np.int64)
        owner[labels[sample_ys, sample_xs]] = np.arange(self.count)
        self.near_cell = self.cell[owner[labels[ys, xs]]]

    def residual(self, matrix: np.ndarray, reference: Reference, rows: np.ndarray) -> np.ndarray:
        """The residual of the pixels `rows` against `reference`; inf where the
        reference covers too little of the samples near them."""
        rows_n, cols_n = self.grid
        wanted = np.zeros(self.grid, np.uint8)
        wanted.flat[self.near_cell[rows]] = 1
        wanted = cv2.dilate(wanted, np.ones((3, 3), np.uint8))  # the cells around
        near = wanted.ravel()[self.cell] > 0
        read = np.flatnonzero(near | self.spread)
        ok, sample = _read(reference, apply_homography(matrix, self.points[read]))
        read = read[ok]
        local, spread = near[read], self.spread[read]
        if local.sum() < MIN_RING_PIXELS:
            return np.full(rows.size, np.inf, np.float32)
        difference = (sample - self.colour[read]) / self.level
        # exposure drift: the median offset over the whole ring (a fixed subsample of it)
        offset = difference[spread] if spread.sum() >= MIN_RING_PIXELS else difference
        difference = difference[local] - np.median(offset, axis=0)
        cells = self.cell[read[local]]
        size = rows_n * cols_n
        total = np.bincount(cells, np.abs(difference).max(axis=1), size).reshape(self.grid)
        count = np.bincount(cells, None, size).reshape(self.grid).astype(np.float64)
        kernel = (3, 3)
        total = cv2.boxFilter(total, -1, kernel, normalize=False, borderType=cv2.BORDER_CONSTANT)
        count = cv2.boxFilter(count, -1, kernel, normalize=False, borderType=cv2.BORDER_CONSTANT)
        cell = self.near_cell[rows]
        with np.errstate(divide="ignore", invalid="ignore"):
            mean = total.ravel()[cell] / count.ravel()[cell]
        return np.where(count.ravel()[cell] > 0, mean, np.inf).astype(np.float32)


# --- the whole step -----------------------------------------------------------------------


def build_shot_pull(
    read: Callable[[int, int], Iterator[Any]],
    track: Any,
    frame_count: int,
    span: tuple[int, int],
    cuts: Iterable[int] = (),
    *,
    budget: int = MEMORY_BUDGET,
    spill_dir: str | os.PathLike | None = None,
    analysis: ShotAnalysis | None = None,
) -> ShotPull | None:
    """Analyse the clip (unless `analysis` is given), plan the references frames
    span = (start, stop) need, and collect them. read(start, stop) decodes frames.
    None when nothing in the span needs a reference."""
    from .shot_analysis import analyse_shots

    if analysis is None:
        analysis = analyse_shots(read(0, frame_count), track, cuts)
    # Planned over the whole clip, kept for the span: a reference's box decides which ring
    # samples check its alignment, so the box a span alone would give (smaller, near the
    # span's ends) would change the pull, and a chunk's windows would differ from the
    # whole render's (the shared windows of a farm made it show).
    plan = plan_references(analysis, range(analysis.count)).restricted(range(*span))
    references = plan.references()
    if not references:
        return None
    store = ReferenceStore(budget, spill_dir)
    collect_references(read(references[0], references[-1] + 1), track, plan, store)
    return ShotPull(analysis, plan, store)
