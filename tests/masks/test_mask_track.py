"""MaskTrack from JSON: interpolation over time, union / invert, range, frame_base, scaling."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from masktest_helpers import ellipse_coverage, polygon_area

from moebius_video.masks import load_mask_track
from moebius_video.patches import mask_box

W, H = 64, 48
SAMPLE_CLIPS = Path(__file__).resolve().parents[2] / "sample_clips"


def doc(*tracks, **top) -> dict:
    return {"schema": "moebius.masktrack/1", "width": W, "height": H, "tracks": list(tracks), **top}


def ellipse_track(keyframes, **options) -> dict:
    return {"id": "blob", "shape": "ellipse", "keyframes": keyframes, **options}


def centroid_x(alpha: np.ndarray) -> float:
    xs = np.arange(alpha.shape[1]) + 0.5
    return float((alpha.sum(axis=0) * xs).sum() / alpha.sum())


def moving_ellipse(interpolation: str) -> dict:
    # x goes 10 -> 40 -> 20 over frames 0, 10, 30.
    keyframes = [
        {"frame": 0, "center": [10.0, 24.0], "axes": [5, 5]},
        {"frame": 10, "center": [40.0, 24.0], "axes": [5, 5]},
        {"frame": 30, "center": [20.0, 24.0], "axes": [5, 5]},
    ]
    return doc(ellipse_track(keyframes, interpolation=interpolation))


def expected_smooth_x(frame: float) -> float:
    """Catmull-Rom with frame-spaced tangents, written out by hand for this curve."""
    t = [0.0, 10.0, 30.0]
    v = [10.0, 40.0, 20.0]
    m = [
        (v[1] - v[0]) / (t[1] - t[0]),
        (v[2] - v[0]) / (t[2] - t[0]),
        (v[2] - v[1]) / (t[2] - t[1]),
    ]
    k = 0 if frame < t[1] else 1
    h = t[k + 1] - t[k]
    s = (frame - t[k]) / h
    return (
        (2 * s**3 - 3 * s**2 + 1) * v[k]
        + (s**3 - 2 * s**2 + s) * h * m[k]
        + (-2 * s**3 + 3 * s**2) * v[k + 1]
        + (s**3 - s**2) * h * m[k + 1]
    )


@pytest.mark.parametrize(
    ("interpolation", "frame", "expected_x"),
    [
        ("linear", 5, 25.0),
        ("linear", 20, 30.0),
        ("hold", 5, 10.0),
        ("hold", 9, 10.0),
        ("hold", 10, 40.0),
        ("hold", 29, 40.0),
        ("smooth", 5, expected_smooth_x(5)),
        ("smooth", 20, expected_smooth_x(20)),
        ("smooth", 3, expected_smooth_x(3)),
    ],
)
def test_interpolation_between_keyframes(interpolation, frame, expected_x):
    track = load_mask_track(moving_ellipse(interpolation), W, H, 31)
    got = centroid_x(track.alpha(frame))
    assert got == pytest.approx(expected_x, abs=0.02), (
        f"{interpolation} at frame {frame}: centre x expected {expected_x:.3f}, got {got:.3f}"
    )


def test_smooth_differs_from_linear_and_passes_through_keyframes():
    smooth = load_mask_track(moving_ellipse("smooth"), W, H, 31)
    linear = load_mask_track(moving_ellipse("linear"), W, H, 31)
    assert expected_smooth_x(5) == pytest.approx(85 / 3)  # 5 + 3.75 + 20 - 5/12, by hand
    for frame in (0, 10, 30):
        np.testing.assert_allclose(smooth.alpha(frame), linear.alpha(frame), atol=1e-6)
    assert abs(centroid_x(smooth.alpha(5)) - centroid_x(linear.alpha(5))) > 3


def test_values_hold_before_first_and_after_last_keyframe_within_range():
    data = moving_ellipse("linear")
    data["tracks"][0]["range"] = [-5, 40]
    track = load_mask_track(data, W, H, 41, base_dir=None)
    data["frame_base"] = -5  # index 0 is frame -5
    track = load_mask_track(data, W, H, 46)
    assert centroid_x(track.alpha(0)) == pytest.approx(10.0, abs=0.02)
    assert centroid_x(track.alpha(45)) == pytest.approx(20.0, abs=0.02)


def test_per_keyframe_overrides_are_interpolated():
    data = doc(
        {
            "id": "wire",
            "shape": "polyline",
            "width": 2,
            "keyframes": [
                {"frame": 0, "points": [[8, 24.5], [56, 24.5]]},
                {"frame": 10, "points": [[8, 24.5], [56, 24.5]], "width": 6, "expand": 1},
            ],
        }
    )
    track = load_mask_track(data, W, H, 11)
    # Column 30: stroke 2 at frame 0, 6 + 2 x expand 1 = 8 at frame 10, (2 + 8) / 2 at frame 5.
    for frame, expected in ((0, 2), (5, 5), (10, 8)):
        got = float(track.alpha(frame)[:, 30].sum())
        assert got == pytest.approx(expected, abs=1e-4), f"frame {frame}: {expected} vs {got}"


def test_union_of_tracks_and_invert_subtracts():
    square = {
        "id": "square",
        "shape": "polygon",
        "keyframes": [{"frame": 0, "points": [[10, 10], [40, 10], [40, 40], [10, 40]]}],
    }
    disc = ellipse_track([{"frame": 0, "center": [44, 25], "axes": [8, 8]}], id="disc")
    hole = {
        "id": "protect",
        "shape": "polygon",
        "invert": True,
        "keyframes": [{"frame": 0, "points": [[20, 20], [30, 20], [30, 30], [20, 30]]}],
    }
    union = load_mask_track(doc(square, disc), W, H, 1).alpha(0)
    a = load_mask_track(doc(square), W, H, 1).alpha(0)
    b = load_mask_track(doc(disc), W, H, 1).alpha(0)
    np.testing.assert_array_equal(union, np.maximum(a, b))
    assert float(union.sum()) < float(a.sum() + b.sum())  # they overlap
    cut = load_mask_track(doc(square, disc, hole), W, H, 1).alpha(0)
    assert cut[20:30, 20:30].max() == 0.0
    assert float(cut.sum()) == pytest.approx(float(union.sum()) - 100, abs=1e-3)
    # Order does not matter: an invert listed first still subtracts.
    np.testing.assert_array_equal(load_mask_track(doc(hole, square, disc), W, H, 1).alpha(0), cut)
    # Only an invert: nothing to remove.
    assert load_mask_track(doc(hole), W, H, 1).alpha(0).max() == 0.0


def test_range_limits_where_a_track_exists():
    data = moving_ellipse("linear")
    data["tracks"][0]["range"] = [5, 12]
    track = load_mask_track(data, W, H, 31)
    assert track.alpha(4).max() == 0.0 and track.box(4) is None
    assert track.alpha(5).max() == 1.0 and track.alpha(12).max() == 1.0
    assert track.alpha(13).max() == 0.0 and track.box(13) is None
    assert track.active_track_ids(5) == ("blob",) and track.active_track_ids(13) == ()
    # Default range: first to last keyframe.
    track = load_mask_track(moving_ellipse("linear"), W, H, 40)
    assert track.alpha(30).max() == 1.0 and track.alpha(31).max() == 0.0


def test_empty_frames_are_all_zero_with_the_frame_shape():
    track = load_mask_track(doc(), W, H, 5)
    alpha = track.alpha(3)
    assert alpha.shape == (H, W) and alpha.dtype == np.float32 and alpha.max() == 0.0
    assert track.box(3) is None


def test_frame_base_maps_frame_numbers_to_indices():
    data = moving_ellipse("linear")
    for kf in data["tracks"][0]["keyframes"]:
        kf["frame"] += 1001
    data["frame_base"] = 1001
    track = load_mask_track(data, W, H, 31)
    assert track.frame_base == 1001
    assert centroid_x(track.alpha(5)) == pytest.approx(25.0, abs=0.02)  # frame 1006
    with pytest.raises(IndexError):
        track.alpha(31)


def test_scale_to_video_scales_points_and_lengths():
    # Authored on a 128 x 96 canvas, played on the 64 x 48 video: everything halves.
    big = {
        "schema": "moebius.masktrack/1",
        "width": 128,
        "height": 96,
        "scale_to_video": True,
        "tracks": [
            {
                "id": "box",
                "shape": "polygon",
                "expand": 4,
                "keyframes": [{"frame": 0, "points": [[40, 40], [80, 40], [80, 80], [40, 80]]}],
            }
        ],
    }
    scaled = load_mask_track(big, W, H, 1).alpha(0)
    small = json.loads(json.dumps(big))
    small.update(width=W, height=H, scale_to_video=False)
    small["tracks"][0].update(expand=2)
    small["tracks"][0]["keyframes"][0]["points"] = [[20, 20], [40, 20], [40, 40], [20, 40]]
    np.testing.assert_allclose(scaled, load_mask_track(small, W, H, 1).alpha(0), atol=1e-6)
    assert float(scaled.sum()) == pytest.approx(400 + 80 * 2 + math.pi * 4, rel=0.004)


def test_scale_to_video_with_different_aspect_keeps_ellipses_exact():
    # Canvas 32 x 48 stretched 2x horizontally to 64 x 48: a circle of radius 6 rotated by any
    # angle becomes an axis-aligned ellipse 12 x 6.
    data = {
        "schema": "moebius.masktrack/1",
        "width": 32,
        "height": 48,
        "scale_to_video": True,
        "tracks": [ellipse_track([{"frame": 0, "center": [16, 24], "axes": [6, 6], "angle": 33}])],
    }
    alpha = load_mask_track(data, W, H, 1).alpha(0)
    reference = ellipse_coverage((32, 24), (12, 6), 0, W, H)
    assert np.abs(alpha - reference).max() < 0.2
    assert float(alpha.sum()) == pytest.approx(math.pi * 72, rel=0.004)
    # A rotated ellipse under the stretch: area scales by 2 whatever the angle.
    data["tracks"][0]["keyframes"][0].update(axes=[10, 4], angle=30)
    alpha = load_mask_track(data, W, H, 1).alpha(0)
    assert float(alpha.sum()) == pytest.approx(2 * math.pi * 40, rel=0.004)


def test_smooth_path_polygon_and_polyline():
    points = [[10, 10], [54, 10], [54, 38], [10, 38]]
    plain = load_mask_track(
        doc({"id": "p", "shape": "polygon", "keyframes": [{"frame": 0, "points": points}]}), W, H, 1
    ).alpha(0)
    rounded = load_mask_track(
        doc(
            {
                "id": "p",
                "shape": "polygon",
                "smooth_path": True,
                "keyframes": [{"frame": 0, "points": points}],
            }
        ),
        W,
        H,
        1,
    ).alpha(0)
    assert float(plain.sum()) == pytest.approx(polygon_area(points), rel=0.002)
    # The curve passes through the corners and bulges out between them.
    assert float(rounded.sum()) > float(plain.sum()) + 50
    assert rounded[9, 32] > 0.5 and plain[9, 32] == 0.0
    # A wire through three points sags smoothly: at x = 20 the curve lies below the chord.
    wire = {"id": "w", "shape": "polyline", "width": 1, "smooth_path": True}
    wire["keyframes"] = [{"frame": 0, "points": [[4, 10], [32, 30], [60, 10]]}]
    alpha = load_mask_track(doc(wire), W, H, 1).alpha(0)
    rows = np.arange(H) + 0.5
    curve_y = float((alpha[:, 18] * rows).sum() / alpha[:, 18].sum())
    chord_y = 10 + (18.5 - 4) / 28 * 20
    assert curve_y > chord_y + 1


def test_box_bounds_alpha_and_respects_margin():
    data = doc(
        {
            "id": "wire",
            "shape": "polyline",
            "width": 3,
            "expand": 2,
            "feather": 3,
            "smooth_path": True,
            "keyframes": [{"frame": 0, "points": [[5.2, 3.3], [30, 40], [58.9, 20.1]]}],
        },
        ellipse_track([{"frame": 0, "center": [50, 10], "axes": [6, 3], "angle": 60}]),
    )
    track = load_mask_track(data, W, H, 1)
    alpha = track.alpha(0)
    x0, y0, x1, y1 = track.box(0)
    ys, xs = np.nonzero(alpha)
    assert x0 <= xs.min() and xs.max() < x1 and y0 <= ys.min() and ys.max() < y1
    # Not much larger than the mask (a pixel of slack per side at most).
    assert xs.min() - x0 <= 1 and x1 - xs.max() <= 2 and ys.min() - y0 <= 1
    assert track.box(0, margin=4) == (
        max(x0 - 4, 0),
        max(y0 - 4, 0),
        min(x1 + 4, W),
        min(y1 + 4, H),
    )


def test_keyframes_outside_the_clip_still_interpolate():
    data = moving_ellipse("linear")
    data["frame_base"] = 5  # the clip holds frames 5..14; keyframe 0 lies before it
    track = load_mask_track(data, W, H, 10)
    assert centroid_x(track.alpha(0)) == pytest.approx(25.0, abs=0.02)


def test_sample_clip_tracks_load():
    # The tracks shipped with the sample clips are valid and draw something on every frame.
    for name, size, frames in (
        ("carphone_wire", (176, 144), 120),
        ("bikes_object", (640, 272), 55),
    ):
        track = load_mask_track(SAMPLE_CLIPS / f"{name}.json", *size, frames)
        for index in (0, frames // 2, frames - 1):
            assert track.alpha(index).max() == 1.0 and track.box(index) is not None


@pytest.mark.parametrize(
    "shape",
    [
        ellipse_track([{"frame": 0, "center": [30, 20], "axes": [6, 4], "angle": 0}]),
        ellipse_track(
            [{"frame": 0, "center": [30.3, 20.8], "axes": [9, 4], "angle": 25}], feather=2
        ),
        {
            "id": "p",
            "shape": "polygon",
            "expand": 1.5,
            "keyframes": [{"frame": 0, "points": [[10.2, 8.7], [40.1, 12.3], [25.6, 30.4]]}],
        },
        {
            "id": "w",
            "shape": "polyline",
            "width": 2.5,
            "keyframes": [{"frame": 0, "points": [[10.2, 8.7], [40.1, 12.3]]}],
        },
    ],  # fmt: skip
)
def test_box_is_the_tight_box_for_simple_shapes(shape):
    from moebius_video.patches import mask_box

    track = load_mask_track(doc(shape), W, H, 1)
    assert track.box(0) == mask_box(track.alpha(0))


# --- alpha_crop: the alpha around the mask only ----------------------------------------

SQUARE = {
    "id": "square",
    "shape": "polygon",
    "keyframes": [{"frame": 0, "points": [[10, 10], [30, 10], [30, 30], [10, 30]]}],
}


def test_alpha_crop_is_the_frame_alpha_in_a_box_with_zeros_outside():
    wire = {
        "id": "wire",
        "shape": "polyline",
        "width": 2.5,
        "expand": 1,
        "feather": 2,
        "keyframes": [{"frame": 0, "points": [[20.3, 2.1], [28.7, 45.2]]}],
    }
    blob = ellipse_track([{"frame": 0, "center": [50.2, 12.6], "axes": [5, 3], "angle": 30}])
    track = load_mask_track(doc(wire, blob), W, H, 1)
    crop = track.alpha_crop(0)
    x0, y0, x1, y1 = crop.box
    assert crop.alpha.dtype == np.float32 and crop.alpha.shape == (y1 - y0, x1 - x0)
    # The union of the two shapes' windows, not the whole frame.
    assert crop.box == track.box(0) and crop.alpha.size < W * H
    alpha = track.alpha(0)
    np.testing.assert_array_equal(crop.alpha, alpha[y0:y1, x0:x1])
    outside = alpha.copy()
    outside[y0:y1, x0:x1] = 0
    assert outside.max() == 0.0, "alpha > 0 outside the crop's box"
    # Each shape on its own, drawn into a whole frame, agrees pixel for pixel.
    alone = np.maximum(
        load_mask_track(doc(wire), W, H, 1).alpha(0), load_mask_track(doc(blob), W, H, 1).alpha(0)
    )
    np.testing.assert_array_equal(crop.region((0, 0, W, H)), alone)
    assert crop.tight_box() == mask_box(alpha), f"{crop.tight_box()} vs {mask_box(alpha)}"


def test_alpha_crop_tight_box_leaves_out_what_an_invert_removed():
    square = SQUARE
    right_half = {
        "id": "protect",
        "shape": "polygon",
        "invert": True,
        "keyframes": [{"frame": 0, "points": [[20, 0], [60, 0], [60, 50], [20, 50]]}],
    }
    track = load_mask_track(doc(square, right_half), W, H, 1)
    crop = track.alpha_crop(0)
    expected = mask_box(track.alpha(0))
    assert crop.tight_box() == expected, f"tight box {crop.tight_box()}, expected {expected}"
    assert expected[2] < crop.box[2], f"the invert should narrow the box: {expected} {crop.box}"


def test_alpha_crop_subtracts_an_invert_reaching_past_the_mask():
    square = SQUARE
    # The protected area overhangs the square's box on the right and below.
    hole = {
        "id": "protect",
        "shape": "polygon",
        "invert": True,
        "feather": 1.5,
        "keyframes": [{"frame": 0, "points": [[22, 22], [50, 22], [50, 45], [22, 45]]}],
    }
    crop = load_mask_track(doc(square, hole), W, H, 1).alpha_crop(0)
    assert crop.box == load_mask_track(doc(square), W, H, 1).box(0)
    inverted = dict(hole, invert=False)
    expected = load_mask_track(doc(square), W, H, 1).alpha(0) * (
        1.0 - load_mask_track(doc(inverted), W, H, 1).alpha(0)
    )
    np.testing.assert_array_equal(crop.region((0, 0, W, H)), expected)
    assert crop.alpha[-5:, -5:].max() == 0.0 and crop.alpha[:5, :5].min() == 1.0


def test_alpha_crop_is_none_when_nothing_is_drawn():
    hole = {
        "id": "protect",
        "shape": "polygon",
        "invert": True,
        "keyframes": [{"frame": 0, "points": [[20, 20], [30, 20], [30, 30], [20, 30]]}],
    }
    assert load_mask_track(doc(hole), W, H, 1).alpha_crop(0) is None  # an invert alone
    data = moving_ellipse("linear")
    data["tracks"][0]["range"] = [5, 12]
    track = load_mask_track(data, W, H, 31)
    assert track.alpha_crop(4) is None and track.alpha_crop(5) is not None
    with pytest.raises(IndexError):
        track.alpha_crop(31)


def test_alpha_crop_of_a_raster_mask(tmp_path):
    from masktest_helpers import write_png

    mask = np.zeros((H, W), np.uint8)
    mask[7:19, 33:41] = 255
    track = load_mask_track(write_png(tmp_path / "matte.png", mask), W, H, 3)
    crop = track.alpha_crop(2)
    assert crop.box == (33, 7, 41, 19)
    assert crop.alpha.min() == 1.0
    np.testing.assert_array_equal(crop.region((0, 0, W, H)), mask / 255.0)
