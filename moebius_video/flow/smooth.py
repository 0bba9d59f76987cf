"""Smooth fills of unknown pixels from the known pixels around them.

`pull_push_fill` is cheap and rough (a blurred guess, used to hide a hole from the flow
estimator); `harmonic_fill` is the smoothest field that matches its border exactly
(Laplace's equation), used to complete flow. Small systems are solved directly (sparse
LU); large ones by conjugate gradients started from the solution at half resolution.
"""

from __future__ import annotations

import cv2
import numpy as np
import scipy.sparse as sparse
import scipy.sparse.linalg as sparse_linalg

# Unknown counts up to this are solved exactly with a sparse LU (about 1 ms);
# larger holes are solved coarse to fine.
DIRECT_SOLVE_LIMIT = 1_000
# Conjugate-gradient steps per level of the coarse-to-fine solve.
REFINEMENT_STEPS = 16
# Known pixels kept around the unknowns' bounding box when solving on that box.
_BOX_MARGIN = 8
# Tiny diagonal term: keeps the system non-singular for a hole with no known border
# (which then fills with zeros) without changing bordered solutions measurably.
_REGULARISATION = 1e-6


def _half(values: np.ndarray, unknown: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Half-resolution average of the known values (H x W x C) and the new unknown mask
    (unknown only where every covered pixel is)."""
    h, w = unknown.shape
    known = (~unknown).astype(np.float32)
    size = ((w + 1) // 2, (h + 1) // 2)
    weight = cv2.resize(known, size, interpolation=cv2.INTER_AREA)
    total = cv2.resize(values * known[..., None], size, interpolation=cv2.INTER_AREA)
    total = total.reshape(size[1], size[0], -1)
    coarse = total / np.maximum(weight, 1e-6)[..., None]
    return coarse.astype(np.float32), weight <= 0.0


def pull_push_fill(values: np.ndarray, unknown: np.ndarray) -> np.ndarray:
    """Fill unknown pixels of an H x W x C float32 field with an upsampled coarser average.

    Averages known values down a pyramid until nothing is unknown, then fills each level's
    holes from the level below (Gortler et al. 1996, pull-push). Linear in the pixel count.
    """
    filled = values.astype(np.float32, copy=True).reshape(*unknown.shape, -1)
    if not unknown.any():
        return filled
    if unknown.all():
        filled[:] = 0.0
        return filled
    h, w = unknown.shape
    if min(h, w) <= 2:
        filled[unknown] = filled[~unknown].mean(axis=0)
        return filled
    coarse, coarse_unknown = _half(filled, unknown)
    coarse = pull_push_fill(coarse, coarse_unknown)
    up = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_LINEAR).reshape(h, w, -1)
    filled[unknown] = up[unknown]
    return filled


def _laplace_system(unknown: np.ndarray, field: np.ndarray):
    """Sparse 5-point Laplacian over the unknown pixels, with known neighbours moved to b."""
    h, w = unknown.shape
    ys, xs = np.nonzero(unknown)
    n = ys.size
    index = np.full(h * w, -1, np.int64)
    index[ys * w + xs] = np.arange(n)
    flat_field = field.reshape(h * w, -1).astype(np.float64)
    diagonal = np.full(n, _REGULARISATION)
    rhs = np.zeros((n, flat_field.shape[1]))
    rows, cols = [], []
    for dy, dx in ((0, 1), (0, -1), (1, 0), (-1, 0)):
        ny, nx = ys + dy, xs + dx
        inside = (ny >= 0) & (ny < h) & (nx >= 0) & (nx < w)  # outside: no-flux border
        diagonal += inside
        neighbour = np.where(inside, ny.clip(0, h - 1) * w + nx.clip(0, w - 1), 0)
        neighbour_index = np.where(inside, index[neighbour], -1)
        is_unknown = inside & (neighbour_index >= 0)
        is_known = inside & (neighbour_index < 0)
        rows.append(np.flatnonzero(is_unknown))
        cols.append(neighbour_index[is_unknown])
        rhs[is_known] += flat_field[neighbour[is_known]]
    rows.append(np.arange(n))
    cols.append(np.arange(n))
    values = np.concatenate([-np.ones(sum(r.size for r in rows[:-1])), diagonal])
    matrix = sparse.csr_matrix((values, (np.concatenate(rows), np.concatenate(cols))), (n, n))
    return matrix, rhs, ys, xs


def harmonic_fill(
    field: np.ndarray, unknown: np.ndarray, refine_steps: int = REFINEMENT_STEPS
) -> np.ndarray:
    """Fill field[unknown] with the harmonic interpolation of the known values around it.

    field: H x W x C float32; unknown: H x W bool. Known values are returned unchanged.
    Holes up to DIRECT_SOLVE_LIMIT pixels are solved exactly; larger ones coarse to fine
    (solve at half resolution, upsample, then `refine_steps` conjugate-gradient steps
    here; with 0 the fill is the coarse solution upsampled, which is cheaper and good
    enough away from the hole's border).
    """
    filled = field.astype(np.float32, copy=True).reshape(*unknown.shape, -1)
    n = int(unknown.sum())
    if n == 0:
        return filled
    if n == unknown.size:
        filled[:] = 0.0
        return filled
    # Only the unknowns and the known pixels around them take part: solve on their
    # bounding box (grown so that the coarse levels see the same border), not the field.
    rows = np.flatnonzero(unknown.any(axis=1))
    cols = np.flatnonzero(unknown.any(axis=0))
    h, w = unknown.shape
    y0, x0 = max(rows[0] - _BOX_MARGIN, 0) & ~1, max(cols[0] - _BOX_MARGIN, 0) & ~1
    y1, x1 = min(rows[-1] + 1 + _BOX_MARGIN, h), min(cols[-1] + 1 + _BOX_MARGIN, w)
    if (y1 - y0) * (x1 - x0) < h * w:
        filled[y0:y1, x0:x1] = harmonic_fill(
            filled[y0:y1, x0:x1], unknown[y0:y1, x0:x1], refine_steps
        )
        return filled
    if n <= DIRECT_SOLVE_LIMIT:
        matrix, rhs, ys, xs = _laplace_system(unknown, filled)
        solution = sparse_linalg.spsolve(matrix.tocsc(), rhs)
        filled[ys, xs] = solution.reshape(n, -1)
        return filled
    # Coarse to fine: solve at half resolution, upsample as the start, then a few
    # conjugate-gradient steps at this resolution remove what the upsampling blurred.
    h, w = unknown.shape
    coarse, coarse_unknown = _half(filled, unknown)
    coarse = harmonic_fill(coarse, coarse_unknown, refine_steps)
    start = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_LINEAR).reshape(h, w, -1)
    if refine_steps == 0:
        filled[unknown] = start[unknown]
        return filled
    matrix, rhs, ys, xs = _laplace_system(unknown, filled)
    for channel in range(filled.shape[2]):
        solution, _ = sparse_linalg.cg(
            matrix,
            rhs[:, channel],
            x0=start[ys, xs, channel].astype(np.float64),
            rtol=1e-5,
            maxiter=REFINEMENT_STEPS,
        )
        filled[ys, xs, channel] = solution
    return filled
