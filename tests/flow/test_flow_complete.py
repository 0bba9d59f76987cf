"""Flow completion: harmonic fills and forward-backward checks."""

from __future__ import annotations

import numpy as np
import pytest

from moebius_video.flow import (
    complete_flows,
    consistent,
    forward_backward_error,
    harmonic_fill,
    pull_push_fill,
)
from moebius_video.flow.estimate import NeighbourFlows


def linear_field(h, w):
    """A harmonic field (linear in x and y): the fill must give it back exactly."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    return np.stack([0.02 * xx - 0.01 * yy + 1.0, 0.03 * yy + 0.5], axis=-1)


@pytest.mark.parametrize(
    "shape, hole, tolerance",
    [
        ((40, 50), (slice(10, 30), slice(20, 28)), 1e-4),  # small: solved exactly
        # Large: coarse to fine, about 1.5% of the field's range across a 160 px hole.
        ((200, 240), (slice(20, 180), slice(40, 200)), 0.1),
    ],
)
def test_harmonic_fill_reproduces_a_linear_field(shape, hole, tolerance):
    truth = linear_field(*shape)
    unknown = np.zeros(shape, bool)
    unknown[hole] = True
    field = truth.copy()
    field[unknown] = 99.0
    filled = harmonic_fill(field, unknown)
    assert np.array_equal(filled[~unknown], truth[~unknown]), "known values changed"
    error = np.abs(filled - truth)[unknown].max()
    assert error < tolerance, f"max error {error:.4f}, expected < {tolerance}"


def test_harmonic_fill_at_the_image_border_has_no_flux():
    # A hole touching the top edge: the fill continues the field's vertical trend flat.
    field = np.zeros((30, 30, 1), np.float32)
    field[:, :15] = 1.0
    unknown = np.zeros((30, 30), bool)
    unknown[:10, 10:20] = True
    filled = harmonic_fill(field, unknown)[..., 0]
    assert 0.0 < filled[0, 12] < 1.0 and filled[0, 11] > filled[0, 18]


def test_everything_unknown_fills_with_zeros():
    filled = harmonic_fill(np.ones((8, 8, 2), np.float32), np.ones((8, 8), bool))
    assert np.all(filled == 0)
    filled = pull_push_fill(np.ones((8, 8, 2), np.float32), np.ones((8, 8), bool))
    assert np.all(filled == 0)


def test_pull_push_fill_keeps_known_values_and_stays_in_range():
    rng = np.random.default_rng(0)
    values = rng.uniform(10, 20, (33, 47, 3)).astype(np.float32)
    unknown = np.zeros((33, 47), bool)
    unknown[5:30, 10:20] = True
    filled = pull_push_fill(values, unknown)
    assert np.array_equal(filled[~unknown], values[~unknown])
    assert 10 <= filled[unknown].min() and filled[unknown].max() <= 20


def test_forward_backward_check_flags_disagreement():
    forward = np.full((20, 20, 2), (2.0, 0.0), np.float32)
    backward = -forward.copy()
    assert np.all(consistent(forward, backward))
    assert forward_backward_error(forward, backward).max() < 1e-5
    backward[:, 10:] = (5.0, 0.0)  # the right half does not come back
    ok = consistent(forward, backward)
    assert ok[:, :7].all() and not ok[:, 9:].any()


def test_complete_flows_replaces_the_flow_in_and_around_holes():
    h, w = 40, 60
    forward = np.full((1, h, w, 2), (-2.0, 0.5), np.float32)
    backward = -forward
    # Garbage where a static wire sits, as an estimator reports it.
    forward[0, :, 25:35] = 0.0
    backward[0, :, 25:35] = 0.0
    regions = np.zeros((2, h, w), bool)
    regions[:, :, 28:32] = True
    done = complete_flows(NeighbourFlows(forward, backward, 1, (w, h)), regions, grow=3, band=4)
    assert np.allclose(done.forward[0], (-2.0, 0.5), atol=1e-3)
    assert np.allclose(done.backward[0], (2.0, -0.5), atol=1e-3)
