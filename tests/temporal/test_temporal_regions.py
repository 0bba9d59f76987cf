"""Masks far apart are separate regions: each filled on its own crop, cost following the
masks, not their bounding box (issue 17)."""

from __future__ import annotations

import dataclasses
import itertools

import av
import numpy as np
import pytest
from temporaltest_helpers import BoxTrack, decoded, painted, panning, texture

from moebius_video.flow.estimate import make_flow_estimator
from moebius_video.masks import load_mask_track
from moebius_video.patches import enclosing_box
from moebius_video.temporal import OpenCVFiller, TemporalOptions, iter_patches
from moebius_video.temporal.engine import WindowEngine
from moebius_video.temporal.regions import component_boxes, merge_boxes
from moebius_video.temporal.window import Region, crop_margin, fill_regions, fill_window

H, W, COUNT = 240, 480, 20
SMALL = TemporalOptions(window=8, context=4, blend=2, keyframe_interval=6)
# Two small masks in opposite corners, farther apart than twice the crop margin (96).
CORNERS = ((10, 12, 24, 26), (450, 210, 466, 228))


class Boxes(BoxTrack):
    """Several axis-aligned boxes on every frame, drifting right with the pan."""

    def __init__(self, boxes):
        super().__init__([None] * COUNT, H, W)
        self.parts = boxes

    def alpha(self, index: int) -> np.ndarray:
        alpha = np.zeros((H, W), np.float32)
        for x0, y0, x1, y1 in self.parts:
            alpha[y0:y1, x0 + index // 4 : x1 + index // 4] = 1.0
        return alpha


@pytest.fixture(scope="module")
def pan():
    return panning(COUNT, H, W, step=(2, 0), seed=7)


def _engine(track, options=SMALL) -> WindowEngine:
    estimator = make_flow_estimator(options.flow_quality)
    return WindowEngine(track, OpenCVFiller(), options, estimator, frame_count=COUNT)


def _run(engine: WindowEngine, frames) -> list:
    done = [d for frame in decoded(frames) for d in engine.push(frame)]
    return done + list(engine.finish())


def _patches(frames, track, options=SMALL) -> dict[int, list]:
    return dict(iter_patches(decoded(frames), track, OpenCVFiller(), options))


def test_masks_in_opposite_corners_are_two_regions_not_their_bounding_box(pan):
    track = Boxes(CORNERS)
    engine = _engine(track)
    done = [d for d in _run(engine, painted(pan, track)) if d.filled is not None]
    assert done, "no window was filled"
    union = (0, 0, W, H)  # what the masks' bounding box, grown by the margin, comes to
    for d in done:
        regions = engine._window_regions(d.window)
        assert len(regions) == 2, f"window {d.window}: regions {regions}"
        assert union not in regions
        parts = d.filled.parts
        assert len(parts) == 2, f"window {d.window}: {len(parts)} parts"
        for part, (x0, y0, x1, y1) in zip(parts, regions, strict=True):
            bx0, by0, bx1, by1 = part.box
            assert x0 <= bx0 and y0 <= by0 and bx1 <= x1 and by1 <= y1
            # Each crop holds one mask plus its margins: well under a quarter of the frame.
            assert (bx1 - bx0) * (by1 - by0) < H * W / 4, f"part {part.box} is too large"


def test_far_apart_masks_fill_exactly_as_each_one_alone(pan):
    both = Boxes(CORNERS)
    alone = [Boxes([box]) for box in CORNERS]
    together = _patches(painted(pan, both), both)
    singles = [_patches(painted(pan, track), track) for track in alone]
    for index in range(COUNT):
        expected = sorted(
            (p for single in singles for p in single[index]), key=lambda p: (p.y0, p.x0)
        )
        got = together[index]
        assert [p.box for p in got] == [p.box for p in expected], f"frame {index}"
        for a, b in zip(got, expected, strict=True):
            assert np.array_equal(a.rgb, b.rgb), f"frame {index}: {a.box} differs"
            assert np.array_equal(a.alpha, b.alpha)


def test_masks_whose_margins_overlap_are_one_region(pan):
    near = ((100, 100, 110, 110), (200, 120, 210, 130))  # 90 px apart: margins of 96 meet
    track = Boxes(near)
    engine = _engine(track)
    done = [d for d in _run(engine, painted(pan, track)) if d.filled is not None]
    assert done and all(len(d.filled.parts) == 1 for d in done)
    assert all(len(engine._window_regions(d.window)) == 1 for d in done)


def test_held_frames_keep_only_the_regions_crops(pan):
    track = Boxes(CORNERS)
    engine = _engine(track)
    seen = 0
    for frame in decoded(painted(pan, track)):
        list(engine.push(frame))
        for index, held in engine.held.items():
            assert len(held.boxes) == 2, f"frame {index}: held {held.boxes}"
            x0, y0, x1, y1 = enclosing_box(held.boxes)
            union = (x1 - x0) * (y1 - y0) * 3  # what one crop around both would hold
            held_bytes = sum(rgb.nbytes for rgb in held.rgbs)
            assert held_bytes < union / 3, f"frame {index}: {held_bytes} of {union} bytes"
            seen += 1
    engine.abandon()
    assert seen


def test_regions_cut_at_the_same_frames_even_where_only_one_sees_the_cut():
    """A cut is frame-wide: decided once from every region's crops, pooled."""
    first, second = panning(12, 80, 120, seed=1), panning(12, 80, 120, seed=2)
    still = texture(80, 120, seed=3)  # a region whose crop shows the same thing throughout
    alpha = np.zeros((80, 120), np.float32)
    alpha[30:50, 50:70] = 1.0
    alphas = [alpha] * 24
    cut = Region(first + second, alphas, (0, 0))
    same = Region([still] * 24, alphas, (400, 300))
    options = TemporalOptions(keyframe_interval=6)
    filled = fill_regions([cut, same], OpenCVFiller(), options, 100)
    assert [part.cuts for part in filled.parts] == [(112,), (112,)]
    alone = fill_window(first + second, alphas, OpenCVFiller(), options, 100)
    assert alone.cuts == (112,), "the cut region alone finds the cut too"


def test_merge_boxes_merges_chains_and_does_not_depend_on_order():
    boxes = [(0, 0, 10, 10), (8, 8, 20, 20), (30, 0, 40, 5), (18, 25, 35, 30), (100, 100, 101, 101)]
    # (0,0,10,10) and (8,8,20,20) overlap; their enclosing box (0,0,20,20) does not reach
    # (18,25,...), nor (30,0,...): four regions.
    expected = [(0, 0, 20, 20), (30, 0, 40, 5), (18, 25, 35, 30), (100, 100, 101, 101)]
    for order in itertools.permutations(boxes):
        assert merge_boxes(order) == expected
    # A merge that makes a box reach one that neither part reached (touching counts).
    assert merge_boxes([(0, 0, 10, 10), (5, 10, 30, 20), (12, 0, 14, 4)]) == [(0, 0, 30, 20)]
    assert merge_boxes([(0, 0, 10, 10), (5, 11, 30, 20)]) == [(0, 0, 10, 10), (5, 11, 30, 20)]
    assert merge_boxes([]) == []


def test_component_boxes_are_the_parts_grown_and_clipped():
    alpha = np.zeros((50, 60), np.float32)
    alpha[2:5, 3:7] = 0.5
    alpha[40:45, 50:58] = 1.0
    assert component_boxes(alpha, 4) == [(0, 0, 11, 9), (46, 36, 60, 49)]
    assert component_boxes(np.zeros((5, 5), np.float32)) == []


def test_a_mask_tracks_shapes_are_separate_regions():
    document = {
        "schema": "moebius.masktrack/1",
        "width": W,
        "height": H,
        "tracks": [
            {
                "id": "ball",
                "shape": "ellipse",
                "range": [0, COUNT - 1],
                "keyframes": [{"frame": 0, "center": [30, 30], "axes": [8, 8], "angle": 0}],
            },
            {
                "id": "logo",
                "shape": "polygon",
                "range": [0, COUNT - 1],
                "keyframes": [{"frame": 0, "points": [[440, 200], [470, 200], [470, 230]]}],
            },
        ],
    }
    track = load_mask_track(document, W, H, COUNT)
    boxes = track.shape_boxes(0, margin=5)
    assert len(boxes) == 2 and track.box(0, margin=5) == (
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    )
    engine = _engine(track)
    engine.first, engine.size = 0, (H, W)
    regions = engine._window_regions(0)
    assert len(regions) == 2, regions
    margin = crop_margin(SMALL, engine.estimator)
    assert regions[0][2] <= 40 + margin, f"the ball's region {regions[0]} reaches too far"


def test_the_debug_preview_colours_every_regions_sources(pan, tmp_path):
    track = Boxes(CORNERS)
    target = tmp_path / "preview.mp4"
    options = dataclasses.replace(SMALL, save_debug=str(target))
    with_preview = _patches(painted(pan, track), track, options)
    assert target.exists()
    with av.open(str(target)) as container:
        first = next(container.decode(video=0)).to_ndarray(format="rgb24")
    assert first.shape == (H, 3 * W, 3)
    middle = first[:, W : 2 * W].astype(int)
    alpha = track.alpha(0)
    for x0, y0, x1, y1 in CORNERS:
        inside = middle[y0 + 2 : y1 - 2, x0 + 2 : x1 - 2].reshape(-1, 3).mean(axis=0)
        assert inside[1] > 120 and inside[0] < 90, f"mask at {x0, y0}: shown as {inside}"
    # The preview holds whole frames; the fill is the same as without it.
    plain = _patches(painted(pan, track), track)
    assert alpha.any()
    for index in range(COUNT):
        assert [(p.box, p.rgb.tobytes()) for p in with_preview[index]] == [
            (p.box, p.rgb.tobytes()) for p in plain[index]
        ], f"frame {index}"
