"""Rasteriser against geometry: areas, edge coverage, distances, and brute-force supersampling."""

from __future__ import annotations

import math

import numpy as np
import pytest
from masktest_helpers import (
    ellipse_coverage,
    ellipse_perimeter,
    polygon_area,
    polygon_coverage,
    stroke_coverage,
)

from moebius_video.masks.interpolate import catmull_rom_path
from moebius_video.masks.rasterize import (
    AlphaCrop,
    edge_alpha,
    ellipse_signed_distance,
    rasterize_binary,
    rasterize_ellipse,
    rasterize_polygon,
    rasterize_polyline,
)

W, H = 64, 48


def full_frame(crop, width=W, height=H) -> np.ndarray:
    alpha = np.zeros((height, width), dtype=np.float32)
    if crop is not None:
        x0, y0, x1, y1 = crop.box
        alpha[y0:y1, x0:x1] = crop.alpha
    return alpha


POLYGONS = {
    "sub-pixel rectangle": [[10.3, 5.7], [40.9, 5.7], [40.9, 30.2], [10.3, 30.2]],
    "triangle": [[5.2, 3.1], [58.7, 12.4], [20.3, 44.9]],
    "concave": [[4.5, 4.5], [60.2, 8.1], [30.7, 20.3], [55.1, 42.6], [8.8, 40.2]],
}


@pytest.mark.parametrize("name", POLYGONS)
def test_polygon_area_matches_geometry(name):
    points = np.array(POLYGONS[name])
    alpha = full_frame(rasterize_polygon(points, 0, 0, W, H))
    expected = polygon_area(points)
    got = float(alpha.sum())
    assert got == pytest.approx(expected, rel=0.004), f"{name}: area expected {expected}, got {got}"


@pytest.mark.parametrize("name", POLYGONS)
def test_polygon_matches_supersampled_reference(name):
    points = np.array(POLYGONS[name])
    alpha = full_frame(rasterize_polygon(points, 0, 0, W, H))
    reference = polygon_coverage(points, W, H)
    diff = np.abs(alpha - reference)
    # A box-filtered distance ramp is not the exact area coverage: within a few hundredths on
    # edges, looser in the pixels at sharp corners.
    yy, xx = np.mgrid[0:H, 0:W] + 0.5
    near_vertex = np.zeros((H, W), dtype=bool)
    for x, y in points:
        near_vertex |= np.hypot(xx - x, yy - y) < 2.0
    edge_error = diff[~near_vertex].max()
    assert edge_error < 0.06, f"{name}: max difference along edges {edge_error:.3f}"
    assert diff.max() < 0.4, f"{name}: max difference at corners {diff.max():.3f}"
    assert diff.mean() < 0.01, f"{name}: mean difference {diff.mean():.4f}"
    interior = reference == 1.0
    assert np.all(alpha[interior] > 0.75)
    assert np.all(alpha[reference == 0.0] < 0.25)


def test_edge_through_pixel_centres_gives_half_coverage():
    # Right edge at x = 20.5 passes through the centres of column 20; the left edge at x = 4
    # lies on pixel boundaries.
    alpha = full_frame(
        rasterize_polygon(np.array([[4, 6], [20.5, 6], [20.5, 30], [4, 30]]), 0, 0, W, H)
    )
    np.testing.assert_allclose(alpha[10, 20], 0.5, atol=1e-6)
    np.testing.assert_allclose(alpha[10, 4:20], 1.0, atol=1e-6)
    np.testing.assert_allclose(alpha[10, 3], 0.0, atol=1e-6)
    np.testing.assert_allclose(alpha[10, 21], 0.0, atol=1e-6)
    # A quarter-pixel offset edge: x = 20.75 -> column 20 covered 0.75.
    alpha = full_frame(
        rasterize_polygon(np.array([[4, 6], [20.75, 6], [20.75, 30], [4, 30]]), 0, 0, W, H)
    )
    np.testing.assert_allclose(alpha[10, 20], 0.75, atol=1e-6)


def test_self_overlapping_polygon_is_filled_nonzero():
    # A pentagram: even-odd would leave the centre empty; non-zero winding fills it.
    angles = np.radians(-90 + 144 * np.arange(5))
    star = np.stack([32 + 20 * np.cos(angles), 24 + 20 * np.sin(angles)], axis=1)
    alpha = full_frame(rasterize_polygon(star, 0, 0, W, H))
    assert alpha[24, 32] == 1.0


@pytest.mark.parametrize("angle", [0.0, 30.0, 90.0, 137.5])
def test_ellipse_area_is_pi_rx_ry(angle):
    rx, ry = 17.2, 9.4
    alpha = full_frame(rasterize_ellipse((31.3, 22.7), (rx, ry), angle, 0, 0, W, H))
    expected = math.pi * rx * ry
    assert float(alpha.sum()) == pytest.approx(expected, rel=0.003), (
        f"angle {angle}: expected {expected:.2f}, got {alpha.sum():.2f}"
    )
    reference = ellipse_coverage((31.3, 22.7), (rx, ry), angle, W, H)
    assert np.abs(alpha - reference).max() < 0.2
    assert np.abs(alpha - reference).mean() < 0.01


def test_ellipse_angle_turns_from_x_towards_y():
    # Rotated 90 degrees, the long axis lies along y.
    alpha = full_frame(rasterize_ellipse((32, 24), (20, 5), 90, 0, 0, W, H))
    assert alpha[6, 32] == 1.0 and alpha[24, 12] == 0.0
    # 45 degrees: along the down-right diagonal on screen (y is down).
    alpha = full_frame(rasterize_ellipse((32, 24), (20, 3), 45, 0, 0, W, H))
    assert alpha[24 + 10, 32 + 10] == 1.0 and alpha[24 - 10, 32 + 10] == 0.0


def test_ellipse_distance_is_euclidean():
    # Brute force: distance to a dense sampling of the ellipse boundary.
    rx, ry = 12.0, 4.0
    t = np.linspace(0, 2 * np.pi, 200_001)
    boundary = np.stack([rx * np.cos(t), ry * np.sin(t)], axis=1)
    rng = np.random.default_rng(7)
    points = rng.uniform(-20, 20, size=(300, 2))
    points = np.concatenate([points, [[0, 0], [5, 0], [11.9, 0], [15, 0], [0, 2], [0, 9]]])
    got = ellipse_signed_distance(points[:, 0], points[:, 1], rx, ry)
    nearest = np.sqrt(((points[:, None, :] - boundary[None, ::10, :]) ** 2).sum(-1)).min(1)
    inside = (points[:, 0] / rx) ** 2 + (points[:, 1] / ry) ** 2 < 1
    expected = np.where(inside, -nearest, nearest)
    np.testing.assert_allclose(got, expected, atol=2e-3)


def test_stroke_area_and_reference():
    points = np.array([[6.3, 8.2], [40.4, 30.9], [58.1, 12.6]])
    stroke = 3.5
    alpha = full_frame(rasterize_polyline(points, stroke, 0, 0, W, H))
    # Area of a stroke with round caps and a round join: length * width + one disc, less the
    # overlap at the join (small for this angle), so compare with the supersampled reference.
    reference = stroke_coverage(points, stroke, W, H)
    assert float(alpha.sum()) == pytest.approx(float(reference.sum()), rel=0.01)
    assert np.abs(alpha - reference).max() < 0.2
    straight = full_frame(rasterize_polyline(np.array([[8.0, 20.5], [50.0, 20.5]]), 3, 0, 0, W, H))
    expected = 42 * 3 + math.pi * 1.5**2
    assert float(straight.sum()) == pytest.approx(expected, rel=0.005)
    np.testing.assert_allclose(straight[19:22, 30], 1.0)
    np.testing.assert_allclose(straight[[18, 22], 30], 0.0)


def test_expand_grows_area_by_offset_formula():
    # Offsetting a convex shape by e adds perimeter * e + pi * e^2 (Steiner's formula).
    square = np.array([[20.0, 14.0], [40.0, 14.0], [40.0, 34.0], [20.0, 34.0]])
    for expand in (1.0, 2.5, 4.0):
        alpha = full_frame(rasterize_polygon(square, expand, 0, W, H))
        expected = 400 + 80 * expand + math.pi * expand**2
        assert float(alpha.sum()) == pytest.approx(expected, rel=0.004), (
            f"expand {expand}: expected {expected:.2f}, got {alpha.sum():.2f}"
        )
    rx, ry, e = 14.0, 8.0, 3.0
    alpha = full_frame(rasterize_ellipse((32, 24), (rx, ry), 20, e, 0, W, H))
    expected = math.pi * rx * ry + ellipse_perimeter(rx, ry) * e + math.pi * e * e
    assert float(alpha.sum()) == pytest.approx(expected, rel=0.004)
    wire = full_frame(rasterize_polyline(np.array([[8.0, 20.5], [50.0, 20.5]]), 2, 1.5, 0, W, H))
    assert float(wire.sum()) == pytest.approx(42 * 5 + math.pi * 2.5**2, rel=0.005)


def test_feather_ramps_linearly_outward():
    # Left edge at x = 10, expand 2 -> expanded edge at x = 8, feather 4 -> zero at x = 4.
    alpha = full_frame(
        rasterize_polygon(np.array([[10, 0], [60, 0], [60, 48], [10, 48]]), 2, 4, W, H)
    )
    row = alpha[24]
    for column in range(3, 10):
        centre = column + 0.5
        expected = float(np.clip((centre - 4.0) / 4.0, 0, 1))
        # The pixel average of a linear ramp is the ramp at the centre, except in the pixel
        # around each kink (at x = 4 and x = 8), where it is smoothed by at most 1/(8f).
        assert row[column] == pytest.approx(expected, abs=1 / 32 + 1e-6), (
            f"column {column}: expected {expected}, got {row[column]}"
        )
    assert row[5] == pytest.approx(0.375) and row[6] == pytest.approx(0.625)
    assert row[10:58].min() == 1.0 and row[:3].max() == 0.0


def test_edge_alpha_profile():
    s = np.array([-3.0, -0.5, 0.0, 0.5, 1.0, 3.0])
    np.testing.assert_allclose(edge_alpha(s, 0, 0), [1, 1, 0.5, 0, 0, 0])
    np.testing.assert_allclose(edge_alpha(s, 1, 0), [1, 1, 1, 1, 0.5, 0])
    # Feather 2: 1 - s/2 within the ramp, area under the profile grows by f/2 per unit edge.
    np.testing.assert_allclose(edge_alpha(np.array([0.5, 1.0, 1.5]), 0, 2), [0.75, 0.5, 0.25])


def test_work_is_limited_to_the_shape():
    # A small shape in an 8K frame: the crop is the shape's neighbourhood, not the frame.
    crop = rasterize_ellipse((4000.5, 2000.5), (6, 4), 10, 2, 3, 7680, 4320)
    assert crop.alpha.shape[0] < 30 and crop.alpha.shape[1] < 30
    # A diagonal wire's box is the whole frame, but each piece of it only touches its
    # neighbourhood; stroke 3 + 2 x expand 1 + feather 1 (half of it each side) = 6 px wide.
    wire = rasterize_polyline(np.array([[0, 0], [3840, 2160]]), 3, 1, 1, 3840, 2160)
    assert wire.alpha.size == 3840 * 2160
    assert wire.alpha.sum() == pytest.approx(math.hypot(3840, 2160) * 6, rel=0.001)


def test_shapes_outside_the_frame_give_nothing():
    assert rasterize_polygon(np.array([[-30, -30], [-10, -30], [-10, -10]]), 2, 2, W, H) is None
    assert rasterize_ellipse((200, 200), (10, 10), 0, 0, 0, W, H) is None
    crop = rasterize_polyline(np.array([[-100.0, 10.5], [100.0, 10.5]]), 2, 0, 0, W, H)
    assert float(full_frame(crop).sum()) == pytest.approx(W * 2)


def test_binary_mask_expand_and_feather():
    mask = np.zeros((H, W), dtype=bool)
    mask[20:30, 25:35] = True
    np.testing.assert_array_equal(full_frame(rasterize_binary(mask, 0, 0)), mask)
    grown = full_frame(rasterize_binary(mask, 2, 0))
    assert grown[20:30, 23:37].min() == 1.0 and grown[25, 22] == 0.0 and grown[25, 37] == 0.0
    assert float(grown.sum()) == pytest.approx(100 + 4 * 10 * 2 + math.pi * 4, rel=0.03)
    soft = full_frame(rasterize_binary(mask, 0, 4))
    np.testing.assert_allclose(soft[25, 35:40], [0.875, 0.625, 0.375, 0.125, 0.0], atol=1e-6)
    assert rasterize_binary(np.zeros((H, W), dtype=bool), 3, 3) is None


def test_catmull_rom_path_passes_through_points():
    points = np.array([[0.0, 0.0], [10.0, 30.0], [40.0, 35.0], [60.0, 5.0]])
    path = catmull_rom_path(points, closed=False)
    for p in points:
        assert np.min(np.hypot(*(path - p).T)) < 1e-9
    assert np.allclose(path[0], points[0]) and np.allclose(path[-1], points[-1])
    # Between points it bends: the middle of span 1 is off the straight chord.
    closed = catmull_rom_path(points, closed=True)
    assert len(closed) > len(points) * 4
    for p in points:
        assert np.min(np.hypot(*(closed - p).T)) < 1e-9


def test_smooth_path_of_collinear_points_is_the_line():
    points = np.array([[0.0, 10.0], [10.0, 10.0], [35.0, 10.0], [40.0, 10.0]])
    path = catmull_rom_path(points, closed=False)
    np.testing.assert_allclose(path[:, 1], 10.0)
    assert np.all(np.diff(path[:, 0]) > 0)  # centripetal: no overshoot loops


def test_alpha_crop_region_pads_with_zeros_and_cuts():
    values = np.arange(1, 13, dtype=np.float32).reshape(3, 4) / 12
    crop = AlphaCrop(values, 10, 20)  # frame pixels x 10..13, y 20..22
    assert crop.box == (10, 20, 14, 23)
    np.testing.assert_array_equal(crop.region(crop.box), values)
    # A larger box: the crop inside, zeros around it.
    grown = crop.region((8, 19, 15, 25))
    assert grown.shape == (6, 7) and grown.dtype == np.float32
    np.testing.assert_array_equal(grown[1:4, 2:6], values)
    assert grown.sum() == pytest.approx(values.sum())
    # Overlapping one corner; and a box that misses the crop.
    corner = np.zeros((2, 4), np.float32)
    corner[0, :2] = values[2, 2:]
    np.testing.assert_array_equal(crop.region((12, 22, 16, 24)), corner)
    assert crop.region((0, 0, 10, 20)).max() == 0.0
    # A new array: writing to it leaves the crop alone.
    crop.region(crop.box)[:] = 0
    assert crop.alpha.min() > 0


@pytest.mark.parametrize("stroke", [3.2, 3.0, 2.1, 0.7])
def test_stroke_profile_is_computed_near_the_line_only(monkeypatch, stroke):
    # Pixels at the capped distance are far from the edge; only the others need the edge
    # profile. A diagonal wire has a box much wider than its band of near pixels.
    import moebius_video.masks.rasterize as rasterize

    sizes = []

    def counting_edge_alpha(signed, expand, feather):
        sizes.append(np.size(signed))
        return edge_alpha(signed, expand, feather)

    monkeypatch.setattr(rasterize, "edge_alpha", counting_edge_alpha)
    # NumPy floats, as a MaskTrack passes them (a Python float compares as float32 with a
    # float32 array, a NumPy float64 does not).
    stroke, expand, feather = np.float64(stroke), np.float64(2.0), np.float64(2.0)
    crop = rasterize_polyline(
        np.array([[100.5, -6.0], [160.2, 730.0]]), stroke, expand, feather, 400, 720
    )
    (near,) = sizes
    # Pixels within the cap (reach + 1/2) of the centre line, each row ~ 2 x cap wide.
    cap = stroke / 2 + expand + feather + 1.0
    assert near <= 720 * (2 * cap + 2), f"{near} pixels through the profile, box {crop.alpha.size}"
    assert near >= int((crop.alpha > 0).sum())
