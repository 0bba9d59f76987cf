"""Anti-aliased rasterisation of mask shapes, computed only around each shape.

Pixel convention (mask-track spec, "Coordinates and frames"): pixel (i, j) covers
[i, i+1) x [j, j+1) and its centre is (i + 0.5, j + 0.5).

Every shape is drawn the same way:

1. Signed distance `d` from each pixel centre to the shape's edge, negative inside, for the
   pixels of the shape's bounding box only (grown by how far the soft edge reaches). A
   polyline's "edge" is its centre line minus half the stroke width (round caps and joins); a
   polygon is filled by the non-zero winding rule, so self-overlapping loops stay filled; an
   ellipse uses the exact Euclidean distance (after Eberly), not the algebraic one, so
   `expand` grows it evenly all round.
2. `expand` moves the edge outward: s = d - expand.
3. Alpha is the edge profile averaged over the pixel across the edge: a profile that is 1
   inside, falls linearly from 1 to 0 over `feather` px outside the (expanded) edge, and is 0
   beyond. With feather 0 this is the box-filtered hard edge, clip(0.5 - s, 0, 1): a straight
   edge through a pixel centre gives 0.5, and a polygon's summed alpha equals its area up to a
   small error at corners. With feather f, alpha = 1 - s/f inside the ramp.

Distances are capped a little beyond where alpha reaches 0, so each path segment only touches
the pixels near it: a long wire costs in proportion to its length, not to the frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from ..patches import mask_box

# Long segments are split into pieces of this length (px) so that each piece's window stays
# small even for a wire that crosses the frame diagonally.
_PIECE_LENGTH = 32.0
_ALPHA_DUST = 1e-6
_ELLIPSE_NEWTON_STEPS = 24  # enough for 1e-9 px even for a 1000:1 ellipse


@dataclass(frozen=True)
class AlphaCrop:
    """Alpha (float32, in [0, 1]) of a window of the frame whose top-left pixel is (x0, y0)."""

    alpha: np.ndarray
    x0: int
    y0: int

    @property
    def box(self) -> tuple[int, int, int, int]:
        h, w = self.alpha.shape
        return self.x0, self.y0, self.x0 + w, self.y0 + h

    def tight_box(self) -> tuple[int, int, int, int] | None:
        """(x0, y0, x1, y1) in frame pixels of the alpha > 0 pixels; None if there are none."""
        inside = mask_box(self.alpha)
        if inside is None:
            return None
        x0, y0, x1, y1 = inside
        return x0 + self.x0, y0 + self.y0, x1 + self.x0, y1 + self.y0

    def region(self, box: tuple[int, int, int, int]) -> np.ndarray:
        """A new float32 array: the alpha of the frame pixels in box (x0, y0, x1, y1,
        end-exclusive), taken as zero outside this crop."""
        x0, y0, x1, y1 = box
        region = np.zeros((y1 - y0, x1 - x0), dtype=np.float32)
        cx0, cy0, cx1, cy1 = self.box
        ax0, ay0, ax1, ay1 = max(cx0, x0), max(cy0, y0), min(cx1, x1), min(cy1, y1)
        if ax0 < ax1 and ay0 < ay1:
            region[ay0 - y0 : ay1 - y0, ax0 - x0 : ax1 - x0] = self.alpha[
                ay0 - cy0 : ay1 - cy0, ax0 - cx0 : ax1 - cx0
            ]
        return region


def edge_alpha(signed_distance: np.ndarray, expand: float, feather: float) -> np.ndarray:
    """Alpha of pixels whose centres lie at signed_distance from the edge (negative inside)."""
    s = np.asarray(signed_distance, dtype=np.float64) - expand
    if feather <= 0:
        return _snap(0.5 - s)

    # Average of the profile P over [s - 1/2, s + 1/2], via its antiderivative
    # F(t) = integral_0^t P: t inside, t - t^2 / 2f on the ramp, f / 2 beyond it.
    def antiderivative(t: np.ndarray) -> np.ndarray:
        ramp = np.clip(t, 0.0, feather)
        return np.minimum(t, 0.0) + ramp - ramp * ramp / (2.0 * feather)

    alpha = antiderivative(s + 0.5) - antiderivative(s - 0.5)
    return _snap(alpha)


def _snap(alpha: np.ndarray) -> np.ndarray:
    """Clip to [0, 1] and drop rounding dust, so that alpha > 0 means "inside the reach"."""
    alpha = np.clip(alpha, 0.0, 1.0)
    alpha[alpha < _ALPHA_DUST] = 0.0
    alpha[alpha > 1.0 - _ALPHA_DUST] = 1.0
    return alpha.astype(np.float32)


def pixel_window(
    bounds: tuple[float, float, float, float], reach: float, width: int, height: int
) -> tuple[int, int, int, int] | None:
    """Pixels (x0, y0, x1, y1, end-exclusive) whose centres lie strictly within reach of
    bounds (alpha reaches 0 exactly at reach, so these are all that can be non-zero).

    bounds are (xmin, ymin, xmax, ymax) in px; the window is clipped to the frame.
    """
    xmin, ymin, xmax, ymax = bounds
    # Pixel i qualifies when xmin - reach < i + 0.5 < xmax + reach.
    x0 = max(math.floor(xmin - reach - 0.5) + 1, 0)
    y0 = max(math.floor(ymin - reach - 0.5) + 1, 0)
    x1 = min(math.ceil(xmax + reach - 0.5), width)
    y1 = min(math.ceil(ymax + reach - 0.5), height)
    if x0 >= x1 or y0 >= y1:
        return None
    return x0, y0, x1, y1


def points_bounds(points: np.ndarray) -> tuple[float, float, float, float]:
    lo = points.min(axis=0)
    hi = points.max(axis=0)
    return float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1])


def ellipse_bounds(
    center: tuple[float, float], axes: tuple[float, float], angle_deg: float
) -> tuple[float, float, float, float]:
    a, b = axes
    theta = math.radians(angle_deg)
    half_x = math.hypot(a * math.cos(theta), b * math.sin(theta))
    half_y = math.hypot(a * math.sin(theta), b * math.cos(theta))
    cx, cy = center
    return cx - half_x, cy - half_y, cx + half_x, cy + half_y


# ---------------------------------------------------------------------------------------------
# Shapes


def rasterize_polyline(
    points: np.ndarray,
    stroke_width: float,
    expand: float,
    feather: float,
    width: int,
    height: int,
) -> AlphaCrop | None:
    """A stroke of stroke_width px along the open path points (N x 2), round caps and joins."""
    points = np.asarray(points, dtype=np.float64)
    half = stroke_width / 2.0
    reach = half + expand + feather + 0.5
    window = pixel_window(points_bounds(points), reach, width, height)
    if window is None:
        return None
    segments = np.stack([points[:-1], points[1:]], axis=1)
    cap = reach + 0.5
    distance = _distance_to_segments(segments, window, cap)
    alpha = _alpha_near_edge(distance, cap, None, half, expand, feather)
    return AlphaCrop(alpha, window[0], window[1])


def rasterize_polygon(
    points: np.ndarray, expand: float, feather: float, width: int, height: int
) -> AlphaCrop | None:
    """The closed polygon points (N x 2), filled by the non-zero winding rule."""
    points = np.asarray(points, dtype=np.float64)
    reach = expand + feather + 0.5
    window = pixel_window(points_bounds(points), reach, width, height)
    if window is None:
        return None
    closed = np.concatenate([points, points[:1]])
    segments = np.stack([closed[:-1], closed[1:]], axis=1)
    cap = reach + 0.5
    distance = _distance_to_segments(segments, window, cap)
    inside = _inside_nonzero(segments, window)
    alpha = _alpha_near_edge(distance, cap, inside, 0.0, expand, feather)
    return AlphaCrop(alpha, window[0], window[1])


def rasterize_ellipse(
    center: tuple[float, float],
    axes: tuple[float, float],
    angle_deg: float,
    expand: float,
    feather: float,
    width: int,
    height: int,
) -> AlphaCrop | None:
    """An ellipse with semi-axes (rx, ry), rotated by angle_deg from +x towards +y."""
    reach = expand + feather + 0.5
    window = pixel_window(ellipse_bounds(center, axes, angle_deg), reach, width, height)
    if window is None:
        return None
    x0, y0, x1, y1 = window
    theta = math.radians(angle_deg)
    cos_t, sin_t = math.cos(theta), math.sin(theta)
    dx = np.arange(x0, x1, dtype=np.float64)[None, :] + 0.5 - center[0]
    dy = np.arange(y0, y1, dtype=np.float64)[:, None] + 0.5 - center[1]
    u = cos_t * dx + sin_t * dy  # pixel centres in the ellipse's own axes
    v = -sin_t * dx + cos_t * dy
    cap = reach + 0.5
    signed = ellipse_signed_distance(u, v, axes[0], axes[1], cap)
    alpha = _alpha_near_edge(np.abs(signed), cap, signed < 0, 0.0, expand, feather)
    return AlphaCrop(alpha, x0, y0)


def rasterize_binary(mask: np.ndarray, expand: float, feather: float) -> AlphaCrop | None:
    """A raster mask (bool H x W), grown by expand and feathered; the raster has no sub-pixel
    edge, so each mask pixel counts as a filled square."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    height, width = mask.shape
    if expand == 0 and feather == 0:
        y0, y1, x0, x1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
        return AlphaCrop(mask[y0:y1, x0:x1].astype(np.float32), int(x0), int(y0))
    grow = math.ceil(expand + feather + 0.5)
    x0, y0 = max(int(cols[0]) - grow, 0), max(int(rows[0]) - grow, 0)
    x1, y1 = min(int(cols[-1]) + 1 + grow, width), min(int(rows[-1]) + 1 + grow, height)
    crop = mask[y0:y1, x0:x1]
    # Distance from each pixel centre to the nearest mask pixel centre (exact Euclidean);
    # the edge of that mask pixel's square is about half a pixel closer.
    to_mask = cv2.distanceTransform((~crop).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    signed = np.where(crop, -0.5, to_mask.astype(np.float64) - 0.5)
    return AlphaCrop(edge_alpha(signed, expand, feather), x0, y0)


def _alpha_near_edge(
    distance: np.ndarray,
    cap: float,
    inside: np.ndarray | None,
    offset: float,
    expand: float,
    feather: float,
) -> np.ndarray:
    """Alpha from unsigned distances capped at cap: pixels at the cap are far from the edge,
    so 1 when inside, 0 when outside; only the others go through the edge profile."""
    alpha = np.zeros(distance.shape, dtype=np.float32)
    if inside is not None:
        alpha[inside] = 1.0
    # Compare in the distances' own type: a float32 array filled with cap holds cap
    # rounded, which may lie below a NumPy float64 cap and make every pixel look near.
    near = np.flatnonzero(distance < distance.dtype.type(cap))
    signed = distance.ravel()[near].astype(np.float64) - offset
    if inside is not None:
        signed = np.where(inside.ravel()[near], -signed, signed)
    alpha.ravel()[near] = edge_alpha(signed, expand, feather)
    return alpha


# ---------------------------------------------------------------------------------------------
# Distances


def _distance_to_segments(
    segments: np.ndarray, window: tuple[int, int, int, int], cap: float
) -> np.ndarray:
    """min(cap, distance from each pixel centre of window to the segments (S x 2 x 2))."""
    x0, y0, x1, y1 = window
    distance = np.full((y1 - y0, x1 - x0), cap, dtype=np.float32)
    for ax, ay, bx, by in _pieces_near(segments, (x0 - cap, y0 - cap, x1 + cap, y1 + cap)):
        # Pixels whose centres can be within cap of this piece.
        wx0 = max(math.ceil(min(ax, bx) - cap - 0.5), x0)
        wx1 = min(math.floor(max(ax, bx) + cap - 0.5) + 1, x1)
        wy0 = max(math.ceil(min(ay, by) - cap - 0.5), y0)
        wy1 = min(math.floor(max(ay, by) + cap - 0.5) + 1, y1)
        if wx0 >= wx1 or wy0 >= wy1:
            continue
        px = np.arange(wx0, wx1, dtype=np.float64)[None, :] + (0.5 - ax)
        py = np.arange(wy0, wy1, dtype=np.float64)[:, None] + (0.5 - ay)
        dx, dy = bx - ax, by - ay
        length2 = dx * dx + dy * dy
        if length2 > 0:
            t = np.clip((px * dx + py * dy) / length2, 0.0, 1.0)
            ex, ey = px - t * dx, py - t * dy
        else:
            ex, ey = px, py
        piece = np.sqrt(ex * ex + ey * ey)
        view = distance[wy0 - y0 : wy1 - y0, wx0 - x0 : wx1 - x0]
        np.minimum(view, piece, out=view)
    return distance


def _pieces_near(
    segments: np.ndarray, rect: tuple[float, float, float, float]
) -> list[tuple[float, float, float, float]]:
    """Segments clipped to rect (Liang-Barsky), then split into pieces of <= _PIECE_LENGTH."""
    a, b = segments[:, 0], segments[:, 1]
    delta = b - a
    t_lo = np.zeros(len(segments))
    t_hi = np.ones(len(segments))
    keep = np.ones(len(segments), dtype=bool)
    with np.errstate(divide="ignore", invalid="ignore"):
        for axis, low, high in ((0, rect[0], rect[2]), (1, rect[1], rect[3])):
            d = delta[:, axis]
            p = a[:, axis]
            flat = d == 0
            keep &= ~(flat & ((p < low) | (p > high)))
            t_enter = np.where(d > 0, (low - p) / d, (high - p) / d)
            t_leave = np.where(d > 0, (high - p) / d, (low - p) / d)
            t_lo = np.where(flat, t_lo, np.maximum(t_lo, t_enter))
            t_hi = np.where(flat, t_hi, np.minimum(t_hi, t_leave))
    keep &= t_lo <= t_hi
    starts = a[keep] + t_lo[keep, None] * delta[keep]
    ends = a[keep] + t_hi[keep, None] * delta[keep]
    lengths = np.hypot(*(ends - starts).T)
    counts = np.maximum(np.ceil(lengths / _PIECE_LENGTH), 1).astype(np.int64)
    pieces = []
    for start, end, count in zip(starts, ends, counts, strict=True):
        f = np.linspace(0.0, 1.0, count + 1)[:, None]
        stops = start + f * (end - start)
        pieces.extend(np.concatenate([stops[:-1], stops[1:]], axis=1).tolist())
    return pieces


def _inside_nonzero(segments: np.ndarray, window: tuple[int, int, int, int]) -> np.ndarray:
    """Non-zero winding number of the closed outline (segments) at each pixel centre."""
    x0, y0, x1, y1 = window
    h, w = y1 - y0, x1 - x0
    ax, ay = segments[:, 0, 0], segments[:, 0, 1]
    bx, by = segments[:, 1, 0], segments[:, 1, 1]
    # Rows whose centre line y = j + 0.5 the edge crosses, half-open [ymin, ymax) so that a
    # vertex shared by two edges is counted once.
    row_first = np.maximum(np.ceil(np.minimum(ay, by) - 0.5), y0).astype(np.int64)
    row_end = np.minimum(np.ceil(np.maximum(ay, by) - 0.5), y1).astype(np.int64)
    counts = np.where(ay != by, np.maximum(row_end - row_first, 0), 0)
    total = int(counts.sum())
    if total == 0:
        return np.zeros((h, w), dtype=bool)
    edge = np.repeat(np.arange(len(segments)), counts)
    offset_in_edge = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
    row = row_first[edge] + offset_in_edge
    centre_y = row + 0.5
    cross_x = ax[edge] + (centre_y - ay[edge]) * (bx[edge] - ax[edge]) / (by[edge] - ay[edge])
    direction = np.where(by[edge] > ay[edge], 1.0, -1.0)
    # The crossing changes the winding of every pixel whose centre lies right of it.
    first_col = np.clip(np.floor(cross_x - 0.5).astype(np.int64) + 1 - x0, 0, w)
    flat_index = (row - y0) * (w + 1) + first_col
    delta = np.bincount(flat_index, weights=direction, minlength=h * (w + 1))
    winding = np.cumsum(delta.reshape(h, w + 1)[:, :w], axis=1)
    return np.abs(winding) > 0.5


def ellipse_signed_distance(
    u: np.ndarray, v: np.ndarray, rx: float, ry: float, cap: float = math.inf
) -> np.ndarray:
    """Signed Euclidean distance from points (u, v), in the ellipse's own axes, to the ellipse
    u^2/rx^2 + v^2/ry^2 = 1; negative inside. Values beyond +-cap come back as +-cap.

    Follows D. Eberly, "Distance from a point to an ellipse, an ellipsoid, or a
    hyperellipsoid" (2013): by symmetry work in the first quadrant with the major axis along u,
    then find the root of a monotone function of one variable.
    """
    u, v = np.broadcast_arrays(np.abs(u), np.abs(v))
    if rx < ry:
        u, v, rx, ry = v, u, ry, rx
    level = np.sqrt((u / rx) ** 2 + (v / ry) ** 2)  # 1 on the ellipse
    inside = level < 1.0
    signed = np.where(inside, -cap, cap)
    # The ellipse grown or shrunk by a factor k lies between (k-1)*ry and (k-1)*rx away from
    # it, so only points with |level - 1| * ry <= cap can be nearer than cap.
    near = np.abs(level - 1.0) * ry <= cap
    y0, y1 = u[near], v[near]

    distance = np.empty_like(y0)
    on_major = y1 == 0
    # Points on the major axis: the nearest point is off-axis when close to the centre.
    a2_b2 = rx * rx - ry * ry
    x0 = np.zeros_like(y0)
    if a2_b2 > 0:
        x0 = rx * rx * y0 / a2_b2
    off_axis = on_major & (y0 * rx < a2_b2)
    x0_off = x0[off_axis]
    distance[off_axis] = np.hypot(
        x0_off - y0[off_axis], ry * np.sqrt(np.maximum(1.0 - (x0_off / rx) ** 2, 0.0))
    )
    at_tip = on_major & ~off_axis
    distance[at_tip] = np.abs(y0[at_tip] - rx)

    general = ~on_major
    z0, z1 = y0[general] / rx, y1[general] / ry
    ratio = (rx / ry) ** 2
    n0 = ratio * z0
    # The nearest point is (ratio * y0 / (s + ratio), y1 / (s + 1)) for the root s > -1 of
    # G(s) = (n0 / (s + ratio))^2 + (z1 / (s + 1))^2 - 1. G is convex and decreasing there, so
    # Newton's method started left of the root (where G >= 0: each term alone is 1 at its own
    # bound) climbs to it without overshooting. Eberly brackets it and bisects; Newton needs
    # fewer steps for the same 1e-9 px.
    s = np.maximum(z1 - 1.0, n0 - ratio)
    for _ in range(_ELLIPSE_NEWTON_STEPS):
        a = n0 / (s + ratio)
        b = z1 / (s + 1.0)
        value = a * a + b * b - 1.0
        slope = -2.0 * (a * a / (s + ratio) + b * b / (s + 1.0))
        s = s - value / slope
    g0, g1 = y0[general], y1[general]
    distance[general] = np.hypot(ratio * g0 / (s + ratio) - g0, g1 / (s + 1.0) - g1)

    near_signed = np.where(inside[near], -distance, distance)
    signed[near] = np.clip(near_signed, -cap, cap)
    return signed
