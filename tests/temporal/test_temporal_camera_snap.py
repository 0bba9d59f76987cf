"""Step 4c of window.py: the smoothing's completed flow is set to the camera's motion
where the measured flow beside the hole follows the camera, and only there."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from moebius_video.flow.estimate import NeighbourFlows
from moebius_video.temporal.window import snap_to_camera

H, W, FRAMES = 40, 60, 3
SHIFT = (1.5, -0.5)  # the camera moves the picture this much a frame (pixels)
HOLE = (slice(10, 30), slice(20, 30))  # the completed area, every frame


class _Translation:
    """A camera motion of SHIFT a frame; frame 2 is cut off from the others."""

    def is_global(self, t: int, u: int) -> bool:
        return max(t, u) < 2

    def transform(self, t: int, u: int) -> np.ndarray:
        matrix = np.eye(3)
        matrix[:2, 2] = np.multiply(SHIFT, u - t)
        return matrix


def _flows(measured_left: tuple[float, float]) -> tuple[NeighbourFlows, np.ndarray]:
    """Flows following the camera, but for the completed area (off by up to a pixel)
    and, on the left half of the picture (the hole's left half included), the measured
    flow `measured_left`."""
    forward = np.empty((FRAMES - 1, H, W, 2), np.float32)
    forward[:] = SHIFT
    forward[:, :, :25] = measured_left
    backward = -forward
    rng = np.random.default_rng(0)
    for field in (forward, backward):
        field[(slice(None), *HOLE)] += rng.uniform(-1, 1, (FRAMES - 1, 20, 10, 2))
    completed = np.zeros((FRAMES, H, W), bool)
    completed[(slice(None), *HOLE)] = True
    return NeighbourFlows(forward, backward, 1, (W, H)), completed


def _snap(flows, completed):
    pull = SimpleNamespace(analysis=SimpleNamespace(motion=_Translation()))
    return snap_to_camera(flows, completed, pull, 0, (100, 50))


def test_the_hole_moves_with_the_camera_where_its_surroundings_do():
    flows, completed = _flows(measured_left=SHIFT)
    snapped = _snap(flows, completed)
    np.testing.assert_allclose(snapped.forward[0][HOLE], np.broadcast_to(SHIFT, (20, 10, 2)))
    np.testing.assert_allclose(snapped.backward[0][HOLE], -np.broadcast_to(SHIFT, (20, 10, 2)))
    # Across a break in the camera's motion (frames 1 -> 2) nothing is snapped.
    np.testing.assert_array_equal(snapped.forward[1], flows.forward[1])
    # Measured flow is never touched.
    outside = ~completed[0]
    np.testing.assert_array_equal(snapped.forward[0][outside], flows.forward[0][outside])


def test_next_to_something_that_moves_otherwise_the_completed_flow_stays():
    flows, completed = _flows(measured_left=(-1.0, 0.0))  # a body walking left
    snapped = _snap(flows, completed)
    left, right = snapped.forward[0][10:30, 20:24], snapped.forward[0][10:30, 26:30]
    np.testing.assert_array_equal(left, flows.forward[0][10:30, 20:24])
    np.testing.assert_allclose(right, np.broadcast_to(SHIFT, right.shape))
