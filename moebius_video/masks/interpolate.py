"""Curves: keyframe values over time, and smooth paths through points.

Over time (`KeyframeCurve`), each keyframe holds a vector of numbers (all the points of a
shape plus its width / expand / feather) and a frame between keyframes gets:

- `hold`: the value of the last keyframe at or before it;
- `linear`: straight-line interpolation between the two keyframes around it;
- `smooth`: a Catmull-Rom spline through the keyframe values. Keyframes may be unevenly spaced,
  so the tangent at keyframe k is the finite difference over its neighbours in *frames*,
  (v[k+1] - v[k-1]) / (t[k+1] - t[k-1]), and one-sided at the first and last keyframe; each
  span is then a cubic Hermite curve. With two keyframes this is the straight line.

Before the first keyframe the first value holds, after the last one the last value holds.

In space (`catmull_rom_path`), `smooth_path` draws a curve through a polyline's or polygon's
points. We use the centripetal parametrisation (knot spacing = sqrt of the chord length),
which passes through every point like the uniform one but makes no cusps or loops when points
are unevenly spaced (Yuksel, Schaefer, Keyser 2011).
"""

from __future__ import annotations

import numpy as np

# How finely smooth paths are sampled: one segment per this many px of chord, at most
# MAX_SEGMENTS_PER_SPAN per span. A 4 px chord deviates from a gentle wire's curve by far less
# than 0.01 px.
PATH_SAMPLE_SPACING = 4.0
MAX_SEGMENTS_PER_SPAN = 64


class KeyframeCurve:
    """Values (K x D) at sorted integer frames (K), evaluated at any frame."""

    def __init__(self, frames: np.ndarray, values: np.ndarray, mode: str) -> None:
        if mode not in ("linear", "hold", "smooth"):
            raise ValueError(f"unknown interpolation {mode!r}")
        self.frames = np.asarray(frames, dtype=np.float64)
        self.values = np.asarray(values, dtype=np.float64)
        self.mode = mode
        self.tangents = _finite_difference_tangents(self.frames, self.values)

    def __call__(self, frame: int) -> np.ndarray:
        frames, values = self.frames, self.values
        if frame <= frames[0]:
            return values[0].copy()
        if frame >= frames[-1]:
            return values[-1].copy()
        k = int(np.searchsorted(frames, frame, side="right")) - 1  # frames[k] <= frame < [k+1]
        if self.mode == "hold":
            return values[k].copy()
        span = frames[k + 1] - frames[k]
        s = (frame - frames[k]) / span
        if self.mode == "linear":
            return (1.0 - s) * values[k] + s * values[k + 1]
        # Cubic Hermite basis on [0, 1]; tangents are per frame, so scale them by the span.
        h00 = 2 * s**3 - 3 * s**2 + 1
        h10 = s**3 - 2 * s**2 + s
        h01 = -2 * s**3 + 3 * s**2
        h11 = s**3 - s**2
        return (
            h00 * values[k]
            + h10 * span * self.tangents[k]
            + h01 * values[k + 1]
            + h11 * span * self.tangents[k + 1]
        )


def _finite_difference_tangents(frames: np.ndarray, values: np.ndarray) -> np.ndarray:
    tangents = np.zeros_like(values)
    if len(frames) < 2:
        return tangents
    tangents[0] = (values[1] - values[0]) / (frames[1] - frames[0])
    tangents[-1] = (values[-1] - values[-2]) / (frames[-1] - frames[-2])
    if len(frames) > 2:
        tangents[1:-1] = (values[2:] - values[:-2]) / (frames[2:] - frames[:-2])[:, None]
    return tangents


def catmull_rom_path(points: np.ndarray, closed: bool) -> np.ndarray:
    """Sample a centripetal Catmull-Rom curve through points (N x 2); returns M x 2 vertices.

    Open paths get phantom end points mirrored through the ends, so the curve starts and ends
    heading towards its neighbours. Closed paths wrap around; the result does not repeat the
    first vertex at the end.
    """
    points = np.asarray(points, dtype=np.float64)
    n = len(points)
    if n < 3 and not closed:
        return points.copy()
    if closed:
        extended = np.concatenate([points[-1:], points, points[:2]])
        span_count = n
    else:
        extended = np.concatenate(
            [2 * points[:1] - points[1:2], points, 2 * points[-1:] - points[-2:-1]]
        )
        span_count = n - 1

    samples = []
    for i in range(span_count):
        p0, p1, p2, p3 = extended[i : i + 4]
        chord = float(np.hypot(*(p2 - p1)))
        segments = int(min(max(np.ceil(chord / PATH_SAMPLE_SPACING), 1), MAX_SEGMENTS_PER_SPAN))
        u = np.arange(segments, dtype=np.float64) / segments  # the span's end is the next start
        samples.append(_centripetal_span(p0, p1, p2, p3, u))
    if not closed:
        samples.append(points[-1:])
    return np.concatenate(samples)


def _centripetal_span(
    p0: np.ndarray, p1: np.ndarray, p2: np.ndarray, p3: np.ndarray, u: np.ndarray
) -> np.ndarray:
    """Points on the span p1 -> p2 at fractions u in [0, 1) (Barry-Goldman pyramid)."""

    # Knot gaps: sqrt of chord length; a floor keeps repeated points from dividing by zero.
    def gap(a: np.ndarray, b: np.ndarray) -> float:
        return max(float(np.hypot(*(b - a))) ** 0.5, 1e-6)

    t0 = 0.0
    t1 = t0 + gap(p0, p1)
    t2 = t1 + gap(p1, p2)
    t3 = t2 + gap(p2, p3)
    t = (t1 + (t2 - t1) * u)[:, None]

    a1 = ((t1 - t) * p0 + (t - t0) * p1) / (t1 - t0)
    a2 = ((t2 - t) * p1 + (t - t1) * p2) / (t2 - t1)
    a3 = ((t3 - t) * p2 + (t - t2) * p3) / (t3 - t2)
    b1 = ((t2 - t) * a1 + (t - t0) * a2) / (t2 - t0)
    b2 = ((t3 - t) * a2 + (t - t1) * a3) / (t3 - t1)
    return ((t2 - t) * b1 + (t - t1) * b2) / (t2 - t1)
