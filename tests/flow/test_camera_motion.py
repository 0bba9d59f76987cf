"""Camera motion over a shot, on a real frame filmed along known camera paths.

A virtual camera (800 x 450, so the pass downscales to its 640 working size) moves over a
Big Buck Bunny frame (sample_clips/bbb_clean.mp4, 1280 x 720); each rendered frame carries
a dark wire drawn on screen (masked, so it must not count) and a textured object from the
bikes clip sliding across the view (unmasked: RANSAC has to reject it), plus sensor noise.
The ground truth for t -> u is known exactly from the camera path.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from moebius_video.flow.camera_motion import (
    NO_FIT,
    CameraMotion,
    CameraMotionConfig,
    estimate_camera_motion,
)

CLIPS = Path(__file__).resolve().parents[2] / "sample_clips"
WIDTH, HEIGHT = 800, 450
# Corner reprojection error allowed over long spans after drift correction (full-res px).
MAX_CORNER_ERROR = 1.0


@cache
def clip_frame(name: str, index: int = 30) -> np.ndarray:
    with av.open(str(CLIPS / f"{name}.mp4")) as container:
        for k, frame in enumerate(container.decode(video=0)):
            if k == index:
                return frame.to_ndarray(format="rgb24")
    raise AssertionError(f"{name} has fewer than {index + 1} frames")


def camera(tx: float, ty: float, roll: float, zoom: float, tilt: float = 0.0) -> np.ndarray:
    """View pixel -> source pixel: the view centred at the source centre + (tx, ty),
    rolled by `roll` degrees, seeing `zoom` source pixels per view pixel, with a keystone
    (perspective) term `tilt` per view pixel."""
    a = np.radians(roll)
    rotation = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    rotation[2, 0] = tilt
    centre = np.array([[1, 0, 640 + tx], [0, 1, 360 + ty], [0, 0, 1.0]])
    origin = np.array([[1, 0, -WIDTH / 2], [0, 1, -HEIGHT / 2], [0, 0, 1.0]])
    return centre @ rotation @ np.diag([zoom, zoom, 1.0]) @ origin


def camera_path(kind: str, count: int) -> list[np.ndarray]:
    t = np.arange(count, dtype=float)
    if kind == "pan":
        params = np.stack([-200 + 4 * t, -25 + 0.5 * t, 0 * t, 1 + 0 * t], axis=1)
    elif kind == "pan_zoom":
        params = np.stack([-150 + 3 * t, 0 * t, 0 * t, 1 / (1 + 0.004 * t)], axis=1)
    elif kind == "roll":
        params = np.stack([0 * t, 0 * t, -12 + 0.25 * t, 0.9 + 0 * t], axis=1)
    elif kind == "keystone":  # the camera swings sideways: perspective, a homography
        params = np.stack([-100 + 2 * t, 0 * t, 0 * t, 1 + 0 * t, 2e-6 * t], axis=1)
    elif kind == "handheld":
        # a random walk in position, roll and zoom
        steps = np.random.default_rng(1).normal(0, [2.0, 1.5, 0.15, 0.002], size=(count, 4))
        params = np.cumsum(steps, axis=0) + [0, 0, 0, 1]
    elif kind == "static":
        params = np.tile([0.0, 0.0, 0.0, 1.0], (count, 1))
    else:
        raise ValueError(kind)
    return [camera(*p) for p in params]


def render(
    path: list[np.ndarray],
    source: np.ndarray | None = None,
    wire: bool = True,
    foreground: bool = True,
    overlay: bool = False,
    seed: int = 0,
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Frames seen along the path, and the masks of what was drawn on them."""
    source = clip_frame("bbb_clean") if source is None else source
    texture = clip_frame("bikes_clean")
    rng = np.random.default_rng(seed)
    frames, masks = [], []
    for t, view in enumerate(path):
        frame = cv2.warpPerspective(
            source,
            view,
            (WIDTH, HEIGHT),
            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_REFLECT,
        )
        mask = np.zeros((HEIGHT, WIDTH), np.uint8)
        if wire:  # a rig wire drifting across the view: drawn, and masked
            ends = (100, 40 + t), (700, 400 - t)
            cv2.line(frame, *ends, (20, 20, 20), 6)
            cv2.line(mask, *ends, 255, 10)
        if overlay:  # a textured graphic fixed on screen over half the frame: masked
            frame[20:430, 20:420] = cv2.resize(texture, (400, 410))
            mask[16:434, 16:424] = 255
        if foreground:  # a textured object sliding across the view: not masked
            x = 40 + (5 * t) % 560
            frame[260:420, x : x + 160] = texture[40:200, 200:360]
        noise = rng.integers(-3, 4, frame.shape, dtype=np.int16)
        frames.append(np.clip(frame.astype(np.int16) + noise, 0, 255).astype(np.uint8))
        masks.append(mask)
    return frames, masks


def truth(path: list[np.ndarray], t: int, u: int) -> np.ndarray:
    # x_t = path[t]^-1 s, so x_u = path[u]^-1 path[t] x_t
    return np.linalg.inv(path[u]) @ path[t]


def corner_error(estimate: np.ndarray | None, expected: np.ndarray) -> float:
    """Largest distance between where the two matrices put the frame's corners."""
    assert estimate is not None, "no transform between frames of one shot"
    corners = np.array([[[0, 0]], [[WIDTH - 1, 0]], [[WIDTH - 1, HEIGHT - 1]], [[0, HEIGHT - 1]]])
    a = cv2.perspectiveTransform(corners.astype(np.float64), estimate)
    b = cv2.perspectiveTransform(corners.astype(np.float64), expected)
    return float(np.linalg.norm(a - b, axis=2).max())


def long_span_errors(motion: CameraMotion, path: list[np.ndarray]) -> dict[tuple[int, int], float]:
    """Errors over spans of 80+ frames, both directions, plus a few random ones."""
    n = len(path)
    spans = [(0, n - 1), (n - 1, 0), (5, n - 6), (n - 10, 2)]
    rng = np.random.default_rng(7)
    while len(spans) < 10:
        t, u = (int(v) for v in rng.integers(0, n, 2))
        if abs(t - u) >= 80:
            spans.append((t, u))
    return {(t, u): corner_error(motion.transform(t, u), truth(path, t, u)) for t, u in spans}


@cache
def scene(kind: str, count: int = 100):
    path = camera_path(kind, count)
    frames, masks = render(path)
    return path, frames, masks


@cache
def scene_motion(kind: str, anchor_interval: int | None = None) -> CameraMotion:
    _, frames, masks = scene(kind)
    config = (
        None if anchor_interval is None else CameraMotionConfig(anchor_interval=anchor_interval)
    )
    return estimate_camera_motion(iter(frames), iter(masks), config=config)


@pytest.mark.parametrize("kind", ["pan", "pan_zoom", "roll", "keystone", "handheld"])
def test_long_spans_follow_the_camera_path(kind):
    path, _, _ = scene(kind)
    motion = scene_motion(kind)
    errors = long_span_errors(motion, path)
    worst = max(errors.values())
    print(f"{kind}: worst corner error over 80-99 frame spans {worst:.3f} px")
    assert worst < MAX_CORNER_ERROR, f"{kind}: corner errors (px) {errors}"
    assert motion.confidence(0, len(path) - 1) >= 0.5
    if kind == "keystone":  # the path is no similarity: dropping its perspective misses
        flat = truth(path, 0, len(path) - 1)
        flat = flat / flat[2, 2]
        assert corner_error(np.vstack([flat[:2], [0, 0, 1]]), flat) > 10 * MAX_CORNER_ERROR
    # every pair is one global motion (the sliding object and the wire do not break it)
    weak = [k for k, p in enumerate(motion.pairs) if not p.is_global]
    assert not weak, f"{kind}: pairs {weak} not global: {[motion.pairs[k] for k in weak]}"


@pytest.mark.parametrize("kind", ["pan", "handheld"])
def test_drift_correction_beats_chaining_pairs(kind):
    path, _, _ = scene(kind)
    corrected = scene_motion(kind)
    chained = scene_motion(kind, anchor_interval=0)
    with_anchors = max(long_span_errors(corrected, path).values())
    pairs_only = max(long_span_errors(chained, path).values())
    print(f"{kind}: worst {with_anchors:.3f} px with drift correction, {pairs_only:.3f} without")
    # chaining 99 pair estimates adds up their errors; direct links to anchors do not
    assert with_anchors < MAX_CORNER_ERROR
    assert pairs_only > 2 * with_anchors, (with_anchors, pairs_only)


def test_static_camera_links_every_frame_to_the_first():
    path = camera_path("static", 40)
    frames, masks = render(path)
    motion = estimate_camera_motion(frames, masks)
    # no drift at any length: each anchor links straight to frame 0, each frame to its
    # anchor
    for t in range(40):
        chain = [t]
        while motion.parents[chain[-1]] >= 0:
            chain.append(int(motion.parents[chain[-1]]))
        assert chain[-1] == 0 and len(chain) <= 3, chain
    assert corner_error(motion.transform(0, 39), np.eye(3)) < 0.2


def test_masks_keep_a_screen_fixed_graphic_out():
    # half the frame is a textured graphic that does not move with the camera; unmasked
    # it outvotes the scene, masked it must not count
    path = camera_path("pan", 30)
    frames, masks = render(path, overlay=True, foreground=False)
    masked = estimate_camera_motion(frames, masks)
    unmasked = estimate_camera_motion(frames, None)
    good = corner_error(masked.transform(0, 29), truth(path, 0, 29))
    bad = unmasked.transform(0, 29)
    bad_error = np.inf if bad is None else corner_error(bad, truth(path, 0, 29))
    print(f"overlay: {good:.3f} px masked, {bad_error:.1f} px unmasked")
    assert good < MAX_CORNER_ERROR
    assert bad_error > 20 * MAX_CORNER_ERROR


def test_cuts_break_the_chain():
    first = 200  # absolute frame numbers
    path = camera_path("pan", 60)
    shot_a, masks_a = render(path[:30])
    other = cv2.flip(clip_frame("bikes_clean"), 1)
    other = cv2.resize(other, (1280, 720), interpolation=cv2.INTER_CUBIC)
    shot_b, masks_b = render(path[30:], source=other)
    motion = estimate_camera_motion(
        shot_a + shot_b, masks_a + masks_b, cuts=[first + 30], first_frame=first
    )
    assert motion.transform(first + 5, first + 40) is None
    assert motion.transform(first + 40, first + 5) is None
    assert motion.confidence(first + 29, first + 30) == 0.0
    assert motion.pair(first + 29) == NO_FIT
    assert motion.shot_of(first + 45) == first + 30 and motion.shot_of(first + 3) == first
    # within each shot the chain holds
    for t, u in [(0, 29), (30, 59), (59, 31)]:
        got = motion.transform(first + t, first + u)
        assert corner_error(got, truth(path, t, u)) < MAX_CORNER_ERROR, (t, u)
    with pytest.raises(IndexError):
        motion.transform(first - 1, first)


def test_a_pair_no_global_motion_explains_gets_low_confidence():
    source = clip_frame("bbb_clean")
    path = camera_path("static", 2)
    rigid, _ = render(path, wire=False, foreground=False)
    # the two halves of the picture move opposite ways (strong parallax / a split scene)
    split = rigid[0].copy()
    split[:, : WIDTH // 2] = np.roll(rigid[0], 6, axis=1)[:, : WIDTH // 2]
    split[:, WIDTH // 2 :] = np.roll(rigid[0], -6, axis=1)[:, WIDTH // 2 :]
    # an elastic warp: every region moves its own way
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    map_x = xx + 5 * np.sin(yy / 23.0) * np.cos(xx / 31.0)
    map_y = yy + 5 * np.cos(yy / 19.0) * np.sin(xx / 27.0)
    elastic = cv2.remap(rigid[0], map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    # a cut nobody told us about
    cut, _ = render(path, source=cv2.resize(clip_frame("bikes_clean"), source.shape[1::-1]))
    moved, _ = render(camera_path("pan", 4)[2:], wire=False, foreground=False)

    def pair(a, b):
        motion = estimate_camera_motion([a, b])
        return motion.pair(0), motion.confidence(0, 1)

    good, good_confidence = pair(moved[0], moved[1])
    assert good.is_global and good_confidence > 0.7 and good.model != "none", good
    for name, second in [("split", split), ("elastic", elastic), ("cut", cut[1])]:
        fit, confidence = pair(rigid[0], second)
        print(f"{name}: {fit}")
        assert not fit.is_global and confidence < 0.5, (name, fit)
        assert confidence < good_confidence - 0.3, (name, confidence, good_confidence)


def test_same_result_twice_and_through_json():
    import json

    path, frames, masks = scene("handheld")
    frames, masks = frames[:20], masks[:20]
    a = estimate_camera_motion(frames, masks)
    b = estimate_camera_motion(frames, masks)
    np.testing.assert_array_equal(a.positions, b.positions)
    again = CameraMotion.from_dict(json.loads(json.dumps(a.to_dict(), allow_nan=False)))
    np.testing.assert_array_equal(again.positions, a.positions)
    assert again.pairs == a.pairs and again.cuts == a.cuts
    assert again.transform(3, 17) is not None
    np.testing.assert_allclose(again.transform(3, 17), a.transform(3, 17))


def test_luma_and_deep_inputs_give_the_same_motion():
    path, frames, masks = scene("pan")
    rgb = frames[:6]
    luma = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in rgb]
    deep = [f.astype(np.uint16) * 257 for f in rgb]
    base = estimate_camera_motion(rgb, masks[:6])
    for other in (luma, deep):
        np.testing.assert_allclose(
            estimate_camera_motion(other, masks[:6]).positions, base.positions, atol=1e-9
        )
