"""Independent references for the mask tests: brute-force coverage by supersampling, a COCO
RLE encoder, and writers for PNG masks and matte videos (real PNG and PyAV encodes).

Nothing here imports the rasteriser: these are the second opinion the tests compare against.
"""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np


def subsample_points(width: int, height: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """x, y of n x n sample points inside every pixel, shaped (height, width, n * n)."""
    offsets = (np.arange(n) + 0.5) / n
    ox, oy = np.meshgrid(offsets, offsets)
    x = np.arange(width)[None, :, None] + ox.ravel()[None, None, :]
    y = np.arange(height)[:, None, None] + oy.ravel()[None, None, :]
    return np.broadcast_to(x, (height, width, n * n)), np.broadcast_to(y, (height, width, n * n))


def polygon_coverage(points, width: int, height: int, n: int = 16) -> np.ndarray:
    """Fraction of each pixel inside a simple polygon (even-odd ray casting)."""
    x, y = subsample_points(width, height, n)
    inside = np.zeros(x.shape, dtype=bool)
    pts = np.asarray(points, dtype=np.float64)
    for (ax, ay), (bx, by) in zip(pts, np.roll(pts, -1, axis=0), strict=True):
        if ay == by:
            continue
        crosses = (ay > y) != (by > y)
        x_at = ax + (y - ay) * (bx - ax) / (by - ay)
        inside ^= crosses & (x < x_at)
    return inside.mean(axis=2)


def stroke_coverage(points, stroke: float, width: int, height: int, n: int = 16) -> np.ndarray:
    """Fraction of each pixel within stroke / 2 of the polyline through points."""
    x, y = subsample_points(width, height, n)
    best = np.full(x.shape, np.inf)
    pts = np.asarray(points, dtype=np.float64)
    for (ax, ay), (bx, by) in zip(pts[:-1], pts[1:], strict=True):
        dx, dy = bx - ax, by - ay
        t = np.clip(((x - ax) * dx + (y - ay) * dy) / (dx * dx + dy * dy), 0, 1)
        best = np.minimum(best, np.hypot(x - ax - t * dx, y - ay - t * dy))
    return (best <= stroke / 2).mean(axis=2)


def ellipse_coverage(center, axes, angle_deg, width, height, n: int = 16) -> np.ndarray:
    x, y = subsample_points(width, height, n)
    t = math.radians(angle_deg)
    dx, dy = x - center[0], y - center[1]
    u = math.cos(t) * dx + math.sin(t) * dy
    v = -math.sin(t) * dx + math.cos(t) * dy
    return ((u / axes[0]) ** 2 + (v / axes[1]) ** 2 <= 1).mean(axis=2)


def polygon_area(points) -> float:
    x, y = np.asarray(points, dtype=np.float64).T
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def ellipse_perimeter(a: float, b: float) -> float:
    """Ramanujan's second approximation (relative error ~1e-10 for mild eccentricity)."""
    h = ((a - b) / (a + b)) ** 2
    return math.pi * (a + b) * (1 + 3 * h / (10 + math.sqrt(4 - 3 * h)))


# ---------------------------------------------------------------------------------------------
# COCO RLE, written from the format description (column-major runs, first run is zeros)


def rle_counts(mask: np.ndarray) -> list[int]:
    flat = np.asarray(mask, dtype=bool).T.ravel()  # column-major
    counts = []
    current, run = False, 0
    for value in flat:
        if value == current:
            run += 1
        else:
            counts.append(run)
            current, run = value, 1
    counts.append(run)
    return counts


def rle_string(counts: list[int]) -> str:
    """The compressed COCO string: deltas to the count two back from the 4th on, 5-bit
    little-endian groups with a continuation bit (0x20) and a sign bit (0x10), offset by 48."""
    chars = []
    for i, count in enumerate(counts):
        x = count - counts[i - 2] if i > 2 else count
        while True:
            group = x & 0x1F
            x >>= 5  # arithmetic shift: negative numbers end at -1
            more = x != -1 if group & 0x10 else x != 0
            chars.append(chr(group + (0x20 if more else 0) + 48))
            if not more:
                break
    return "".join(chars)


# ---------------------------------------------------------------------------------------------
# Media writers


def write_png(path: Path, image: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), image):
        raise OSError(f"cannot write {path}")
    return path


def write_matte_video(
    path: Path, masks: list[np.ndarray], codec: str = "ffv1", pix_fmt: str = "gray"
) -> Path:
    """Encode bool masks as a matte clip (white = remove) with PyAV."""
    height, width = masks[0].shape
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=Fraction(25))
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        if codec == "libx264":
            # Lossy, short GOPs and B-frames: decode order differs from display order.
            stream.options = {"crf": "4", "g": "6", "x264-params": "bframes=3:b-adapt=0"}
        else:
            stream.options = {"g": "5"}
        for mask in masks:
            rgb = np.repeat(mask[..., None].astype(np.uint8) * 255, 3, axis=2)
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():  # flush the encoder
            container.mux(packet)
    return path


# ---------------------------------------------------------------------------------------------
# Brute-force signed distances and soft-edge references (for golden checks)


def catmull_rom_reference(points, closed: bool, samples_per_span: int = 40) -> np.ndarray:
    """Centripetal Catmull-Rom in Hermite form (tangents from the knot-weighted differences of
    Yuksel et al.), a different formulation from the library's Barry-Goldman pyramid."""
    pts = np.asarray(points, dtype=np.float64)
    if closed:
        ext = np.concatenate([pts[-1:], pts, pts[:2]])
        spans = len(pts)
    else:
        ext = np.concatenate([2 * pts[:1] - pts[1:2], pts, 2 * pts[-1:] - pts[-2:-1]])
        spans = len(pts) - 1
    out = []
    s = np.linspace(0, 1, samples_per_span, endpoint=False)[:, None]
    for i in range(spans):
        p0, p1, p2, p3 = ext[i : i + 4]
        d01, d12, d23 = (
            math.dist(p0, p1) ** 0.5,
            math.dist(p1, p2) ** 0.5,
            math.dist(p2, p3) ** 0.5,
        )
        m1 = d12 * ((p1 - p0) / d01 - (p2 - p0) / (d01 + d12) + (p2 - p1) / d12)
        m2 = d12 * ((p2 - p1) / d12 - (p3 - p1) / (d12 + d23) + (p3 - p2) / d23)
        out.append(
            (2 * s**3 - 3 * s**2 + 1) * p1
            + (s**3 - 2 * s**2 + s) * m1
            + (-2 * s**3 + 3 * s**2) * p2
            + (s**3 - s**2) * m2
        )
    if not closed:
        out.append(pts[-1:])
    return np.concatenate(out)


def _segment_distance(x, y, points, closed: bool) -> np.ndarray:
    pts = np.asarray(points, dtype=np.float64)
    ends = np.roll(pts, -1, axis=0) if closed else pts[1:]
    best = np.full(x.shape, np.inf)
    for (ax, ay), (bx, by) in zip(pts[: len(ends)], ends, strict=True):
        dx, dy = bx - ax, by - ay
        length2 = dx * dx + dy * dy
        t = 0.0 if length2 == 0 else np.clip(((x - ax) * dx + (y - ay) * dy) / length2, 0, 1)
        best = np.minimum(best, np.hypot(x - ax - t * dx, y - ay - t * dy))
    return best


def _even_odd_inside(x, y, points) -> np.ndarray:
    pts = np.asarray(points, dtype=np.float64)
    inside = np.zeros(x.shape, dtype=bool)
    for (ax, ay), (bx, by) in zip(pts, np.roll(pts, -1, axis=0), strict=True):
        if ay != by:
            inside ^= ((ay > y) != (by > y)) & (x < ax + (y - ay) * (bx - ax) / (by - ay))
    return inside


def _ellipse_distance(x, y, center, axes, angle_deg) -> np.ndarray:
    """Signed distance by a coarse search over the parameter angle, then Newton steps."""
    a, b = axes
    t = math.radians(angle_deg)
    dx, dy = x - center[0], y - center[1]
    u = math.cos(t) * dx + math.sin(t) * dy
    v = -math.sin(t) * dx + math.cos(t) * dy
    grid = np.linspace(0, 2 * np.pi, 96, endpoint=False)
    best = np.argmin(
        (u[..., None] - a * np.cos(grid)) ** 2 + (v[..., None] - b * np.sin(grid)) ** 2, axis=-1
    )
    phi = grid[best]
    for _ in range(6):  # minimise |(u, v) - (a cos phi, b sin phi)|^2
        c, s = np.cos(phi), np.sin(phi)
        f1 = (a * c - u) * (-a * s) + (b * s - v) * (b * c)
        f2 = (a * s) ** 2 + (b * c) ** 2 + (a * c - u) * (-a * c) + (b * s - v) * (-b * s)
        phi = phi - f1 / np.where(np.abs(f2) < 1e-12, 1e-12, f2)
    d = np.hypot(u - a * np.cos(phi), v - b * np.sin(phi))
    return np.where((u / a) ** 2 + (v / b) ** 2 < 1, -d, d)


def _signed_distance(shape: dict, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    kind = shape["kind"]
    if kind == "polygon":
        d = _segment_distance(x, y, shape["points"], closed=True)
        return np.where(_even_odd_inside(x, y, shape["points"]), -d, d)
    if kind == "polyline":
        return _segment_distance(x, y, shape["points"], closed=False) - shape["stroke"] / 2
    if kind == "ellipse":
        return _ellipse_distance(x, y, shape["center"], shape["axes"], shape["angle"])
    raise ValueError(kind)


def reference_alpha(shape: dict, width: int, height: int, n: int = 8) -> np.ndarray:
    """Area average over each pixel of the soft-edge profile (1 inside, 1 - s/feather on the
    ramp outside the expanded edge), by n x n supersampling of brute-force distances. Pixels
    whose centre is farther than the ramp plus a pixel diagonal from the edge are constant."""
    expand = shape.get("expand", 0.0)
    feather = shape.get("feather", 0.0)
    cx, cy = subsample_points(width, height, 1)
    centre = _signed_distance(shape, cx[..., 0], cy[..., 0]) - expand
    alpha = (centre <= 0).astype(np.float64)
    band = (centre > -0.75) & (centre < feather + 0.75)
    x, y = subsample_points(width, height, n)
    s = _signed_distance(shape, x[band], y[band]) - expand
    if feather > 0:
        profile = np.clip(1 - s / feather, 0, 1)
    else:
        profile = (s <= 0).astype(np.float64)
    alpha[band] = profile.mean(axis=1)
    return alpha
