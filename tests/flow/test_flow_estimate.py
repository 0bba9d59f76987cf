"""Flow estimation on crops: DIS presets, downscaled grids, hiding the hole from DIS."""

from __future__ import annotations

import numpy as np
import pytest

from moebius_video.errors import UsageError
from moebius_video.flow import (
    DISFlowEstimator,
    FlowEstimator,
    estimate_neighbour_flows,
    make_flow_estimator,
)
from moebius_video.flow.estimate import (
    FULL_RESOLUTION_PIXELS,
    NeighbourFlows,
    bilinear,
    flow_scale,
)

H, W = 72, 96


def texture(seed: int = 0):
    import cv2

    rng = np.random.default_rng(seed)
    noise = cv2.GaussianBlur(
        rng.integers(0, 256, (H + 40, W + 40, 3)).astype(np.float32), (0, 0), 2.5
    )
    return cv2.normalize(noise, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)


def shifted(big, dx, dy):
    return np.ascontiguousarray(big[20 + dy : 20 + dy + H, 20 + dx : 20 + dx + W])


@pytest.mark.parametrize("quality, tolerance", [("fast", 0.15), ("balanced", 0.05), ("high", 0.03)])
def test_translation_is_measured(quality, tolerance):
    big = texture()
    # Content moves by (-3, +2) from image 0 to image 1.
    images = [shifted(big, 0, 0), shifted(big, 3, -2)]
    estimator = make_flow_estimator(quality)
    assert isinstance(estimator, FlowEstimator)
    flows = estimate_neighbour_flows(images, estimator)
    inner = (slice(12, -12), slice(12, -12))
    forward = flows.at_crop_resolution(flows.forward[0])[inner]
    backward = flows.at_crop_resolution(flows.backward[0])[inner]
    for got, want in ((forward, (-3, 2)), (backward, (3, -2))):
        error = np.abs(got - np.array(want, np.float32)).mean()
        assert error < tolerance, f"{quality}: mean error {error:.3f} px, expected < {tolerance}"


def test_flow_is_kept_on_the_estimators_own_grid():
    big = np.tile(texture(1), (4, 4, 1))  # larger than FULL_RESOLUTION_PIXELS
    images = [np.ascontiguousarray(big[:, k : k + 4 * W]) for k in range(3)]
    h, w = images[0].shape[:2]
    assert h * w > FULL_RESOLUTION_PIXELS
    flows = estimate_neighbour_flows(images, DISFlowEstimator("balanced"))
    assert flows.forward.shape == (2, h // 2, w // 2, 2) and flows.scale == 2
    # Sampling at crop pixels gives crop-pixel displacements.
    ys, xs = np.mgrid[20 : h - 20, 20 : w - 20]
    sampled = flows.sample(flows.forward[1], xs.ravel(), ys.ravel())
    assert np.abs(sampled - (-1, 0)).mean() < 0.05


def test_small_crops_get_their_flow_at_full_resolution():
    images = [shifted(texture(1), k, 0) for k in range(3)]
    assert H * W <= FULL_RESOLUTION_PIXELS
    flows = estimate_neighbour_flows(images, DISFlowEstimator("balanced"))
    assert flows.forward.shape == (2, H, W, 2) and flows.scale == 1
    assert np.abs(flows.forward[1, 20:50, 20:70] - (-1, 0)).mean() < 0.05


def test_a_static_hole_does_not_drag_the_flow_around_it():
    big = texture(2)
    images = [shifted(big, 2 * k, 0) for k in range(3)]
    holes = np.zeros((3, H, W), bool)
    holes[:, :, 44:52] = True
    for image, hole in zip(images, holes, strict=True):
        image[hole] = (255, 0, 255)  # a static wire that does not move with the pan
    flows = estimate_neighbour_flows(images, DISFlowEstimator("balanced"), holes=holes)
    field = flows.at_crop_resolution(flows.forward[0])
    # Beyond one DIS patch footprint from the hole the flow is the pan's.
    near = field[10:-10, 24:36, 0]
    assert np.abs(near + 2).mean() < 0.1, f"flow near the hole: {near.mean():.2f}, expected -2"


def test_unknown_quality_is_a_usage_error():
    with pytest.raises(UsageError, match="flow quality must be one of fast, balanced, high"):
        DISFlowEstimator("ultra")


def test_flow_scale_halves_until_under_the_limit():
    assert flow_scale(1280, 720, 1920 * 1080) == 1
    assert flow_scale(3840, 2160, 1920 * 1080) == 2
    assert flow_scale(100, 40, 10) == 1  # never below 32 px on the short side


def test_bilinear_interpolates_and_clamps():
    image = np.arange(12, dtype=np.float32).reshape(3, 4)
    values = bilinear(image, np.array([0.5, 3.0, -5.0]), np.array([0.0, 2.0, 1.5]))
    assert values[:, 0].tolist() == pytest.approx([0.5, 11.0, 6.0])


def test_neighbour_flows_is_the_plugin_interface():
    class Constant:
        name = "constant"
        native_scale = 1

        def neighbour_flows(self, images):
            count = len(images) - 1
            h, w = images[0].shape[:2]
            forward = np.full((count, h, w, 2), (1.5, 0.0), np.float32)
            return forward, -forward

    flows = estimate_neighbour_flows([shifted(texture(), 0, 0)] * 3, Constant())
    assert isinstance(flows, NeighbourFlows) and flows.scale == 1
    assert np.all(flows.forward[..., 0] == 1.5) and np.all(flows.backward[..., 0] == -1.5)
