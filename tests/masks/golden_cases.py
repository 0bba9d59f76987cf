"""Golden mask cases: one small mask track per shape and option, the frame to draw, and the
geometry that frame should show, worked out by hand (interpolated, scaled), for the
brute-force reference in masktest_helpers.reference_alpha.

Used by test_mask_golden.py and make_golden.py (which writes golden/<name>.png).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from masktest_helpers import catmull_rom_reference

W, H = 64, 48
SCHEMA = "moebius.masktrack/1"


@dataclass(frozen=True)
class GoldenCase:
    doc: dict
    frame_count: int
    index: int
    adds: list[dict]  # shapes whose union is the mask, in video pixels, for the reference
    inverts: list[dict] = field(default_factory=list)
    width: int = W
    height: int = H


def _doc(*tracks, **top) -> dict:
    return {"schema": SCHEMA, "width": W, "height": H, "tracks": list(tracks), **top}


WIRE = [[3.3, 40.7], [20.6, 8.2], [44.1, 30.5], [61.2, 5.9]]
CONCAVE = [[4.5, 4.5], [60.2, 8.1], [30.7, 20.3], [55.1, 42.6], [8.8, 40.2]]
QUAD = [[12.2, 8.4], [50.7, 12.1], [45.3, 39.6], [15.8, 33.3]]


def _cases() -> dict[str, GoldenCase]:
    cases = {}
    cases["polyline"] = GoldenCase(
        _doc(
            {
                "id": "w",
                "shape": "polyline",
                "width": 3.2,
                "keyframes": [{"frame": 0, "points": WIRE}],
            }
        ),
        1,
        0,
        [{"kind": "polyline", "points": WIRE, "stroke": 3.2}],
    )
    cases["polyline_smooth_expand_feather"] = GoldenCase(
        _doc(
            {
                "id": "w",
                "shape": "polyline",
                "width": 1.5,
                "expand": 1.25,
                "feather": 2.5,
                "smooth_path": True,
                "keyframes": [{"frame": 0, "points": WIRE}],
            }
        ),
        1,
        0,
        [
            {
                "kind": "polyline",
                "points": catmull_rom_reference(WIRE, closed=False),
                "stroke": 1.5,
                "expand": 1.25,
                "feather": 2.5,
            }
        ],
    )
    cases["polygon"] = GoldenCase(
        _doc({"id": "p", "shape": "polygon", "keyframes": [{"frame": 0, "points": CONCAVE}]}),
        1,
        0,
        [{"kind": "polygon", "points": CONCAVE}],
    )
    cases["polygon_smooth_expand"] = GoldenCase(
        _doc(
            {
                "id": "p",
                "shape": "polygon",
                "expand": 2.5,
                "smooth_path": True,
                "keyframes": [{"frame": 0, "points": QUAD}],
            }
        ),
        1,
        0,
        [{"kind": "polygon", "points": catmull_rom_reference(QUAD, closed=True), "expand": 2.5}],
    )
    cases["polygon_feather"] = GoldenCase(
        _doc(
            {
                "id": "p",
                "shape": "polygon",
                "feather": 5,
                "keyframes": [{"frame": 0, "points": QUAD}],
            }
        ),
        1,
        0,
        [{"kind": "polygon", "points": QUAD, "feather": 5.0}],
    )
    cases["ellipse_rotated"] = GoldenCase(
        _doc(
            {
                "id": "e",
                "shape": "ellipse",
                "keyframes": [
                    {"frame": 0, "center": [31.3, 22.7], "axes": [20.5, 9.25], "angle": 30}
                ],
            }
        ),
        1,
        0,
        [{"kind": "ellipse", "center": (31.3, 22.7), "axes": (20.5, 9.25), "angle": 30.0}],
    )
    cases["ellipse_expand_feather"] = GoldenCase(
        _doc(
            {
                "id": "e",
                "shape": "ellipse",
                "expand": 2,
                "feather": 3,
                "keyframes": [{"frame": 0, "center": [30.5, 25], "axes": [14, 6], "angle": -20}],
            }
        ),
        1,
        0,
        [
            {
                "kind": "ellipse",
                "center": (30.5, 25.0),
                "axes": (14.0, 6.0),
                "angle": -20.0,
                "expand": 2.0,
                "feather": 3.0,
            }
        ],
    )
    cases["union_and_invert"] = GoldenCase(
        _doc(
            {"id": "p", "shape": "polygon", "keyframes": [{"frame": 0, "points": QUAD}]},
            {
                "id": "w",
                "shape": "polyline",
                "width": 2,
                "keyframes": [{"frame": 0, "points": WIRE}],
            },
            {
                "id": "keep",
                "shape": "ellipse",
                "invert": True,
                "feather": 2,
                "keyframes": [{"frame": 0, "center": [32, 24], "axes": [8, 5], "angle": 0}],
            },
        ),
        1,
        0,
        [{"kind": "polygon", "points": QUAD}, {"kind": "polyline", "points": WIRE, "stroke": 2.0}],
        [
            {
                "kind": "ellipse",
                "center": (32.0, 24.0),
                "axes": (8.0, 5.0),
                "angle": 0.0,
                "feather": 2.0,
            }
        ],
    )
    # Interpolation: a quad moving right and growing; frame 6 of keyframes 0, 4, 12.
    moving = [
        {"frame": 0, "points": [[5, 10], [20, 10], [20, 30], [5, 30]]},
        {"frame": 4, "points": [[13, 10], [28, 10], [28, 30], [13, 30]]},
        {"frame": 12, "points": [[37, 6], [60, 6], [60, 40], [37, 40]]},
    ]
    # Linear at 6: 1/4 of the way from keyframe 4 to 12 (x + 6, y -1 / +2.5).
    cases["interpolate_linear"] = GoldenCase(
        _doc({"id": "m", "shape": "polygon", "keyframes": moving}),
        13,
        6,
        [{"kind": "polygon", "points": [[19, 9], [36, 9], [36, 32.5], [19, 32.5]]}],
    )
    cases["interpolate_hold"] = GoldenCase(
        _doc({"id": "m", "shape": "polygon", "interpolation": "hold", "keyframes": moving}),
        13,
        6,
        [{"kind": "polygon", "points": [[13, 10], [28, 10], [28, 30], [13, 30]]}],
    )

    # Smooth at 6 (s = 1/4 on span 4 -> 12, h = 8), per coordinate: value v1 + Hermite terms
    # with tangents m1 = (v2 - v0) / 12 and m2 = (v2 - v1) / 8. For x = 13 -> 37 (v0 = 5):
    # 0.84375 * 13 + 0.140625 * 8 * 32/12 + 0.15625 * 37 - 0.046875 * 8 * 24/8
    # = 10.96875 + 3 + 5.78125 - 1.125 = 18.625 (linear would give 19)
    def smooth(v0, v1, v2):
        s, h = 0.25, 8.0
        m1, m2 = (v2 - v0) / 12.0, (v2 - v1) / 8.0
        return ((2 * s**3 - 3 * s**2 + 1) * v1 + (s**3 - 2 * s**2 + s) * h * m1
                + (-2 * s**3 + 3 * s**2) * v2 + (s**3 - s**2) * h * m2)  # fmt: skip

    smooth_points = [
        [smooth(*(kf["points"][i][c] for kf in moving)) for c in (0, 1)] for i in range(4)
    ]
    assert abs(smooth_points[0][0] - 18.625) < 1e-12  # the hand sum above
    cases["interpolate_smooth"] = GoldenCase(
        _doc({"id": "m", "shape": "polygon", "interpolation": "smooth", "keyframes": moving}),
        13,
        6,
        [{"kind": "polygon", "points": smooth_points}],
    )
    cases["keyframe_overrides"] = GoldenCase(
        _doc(
            {
                "id": "w",
                "shape": "polyline",
                "width": 2,
                "feather": 4,
                "keyframes": [
                    {"frame": 0, "points": [[6, 12.5], [58, 12.5]], "width": 1, "expand": 0},
                    {
                        "frame": 10,
                        "points": [[6, 36.5], [58, 36.5]],
                        "width": 5,
                        "expand": 3,
                        "feather": 0,
                    },
                ],
            }
        ),
        11,
        5,
        [
            {
                "kind": "polyline",
                "points": [[6, 24.5], [58, 24.5]],
                "stroke": 3.0,
                "expand": 1.5,
                "feather": 2.0,
            }
        ],
    )
    # Canvas 128 x 64 scaled to 64 x 48: x halves, y * 3/4, lengths * sqrt(3/8).
    cases["scale_to_video"] = GoldenCase(
        {
            "schema": SCHEMA,
            "width": 128,
            "height": 64,
            "scale_to_video": True,
            "tracks": [
                {
                    "id": "p",
                    "shape": "polygon",
                    "expand": 4,
                    "keyframes": [{"frame": 0, "points": [[20, 8], [100, 8], [60, 56]]}],
                },
            ],
        },
        1,
        0,
        [{"kind": "polygon", "points": [[10, 6], [50, 6], [30, 42]], "expand": 4 * (3 / 8) ** 0.5}],
    )
    cases["frame_base_and_range"] = GoldenCase(
        _doc(
            {
                "id": "e",
                "shape": "ellipse",
                "range": [1003, 1006],
                "keyframes": [
                    {"frame": 1001, "center": [10, 24], "axes": [6, 6]},
                    {"frame": 1011, "center": [50, 24], "axes": [6, 12]},
                ],
            },
            frame_base=1001,
        ),
        12,
        4,  # frame 1005: 40 % of the way
        [{"kind": "ellipse", "center": (26.0, 24.0), "axes": (6.0, 8.4), "angle": 0.0}],
    )
    return cases


CASES = _cases()
