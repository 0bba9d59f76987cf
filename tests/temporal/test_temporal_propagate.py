"""Propagation's chains under slow, sub-pixel motion, on exact flows (propagate.py).

At under half a pixel a frame every hop rounds to the same pixel, so a chain that takes
over the nearest pixel's pointer follows that pixel's path, not its own; these cases pin
where that used to go wrong: pointers sliding onto the artefact (a hole that moves with
the scene), and reveals missed (a static hole over a slow pan).
"""

from __future__ import annotations

import numpy as np
import pytest

from moebius_video.flow.estimate import NeighbourFlows
from moebius_video.temporal.propagate import RegionPixels, propagate, trace

H, W, T = 24, 64, 24


def scene(shift: float) -> np.ndarray:
    """A ramp (exact under bilinear sampling) seen `shift` px to the right."""
    y, x = np.mgrid[0:H, 0:W].astype(np.float32)
    value = 2.0 * (x - shift) + 3.0 * y + 20.0
    return np.repeat(value[..., None], 3, axis=2)


def uniform_flows(speed: float) -> NeighbourFlows:
    """The scene moves `speed` px right each frame: forward flow +speed, backward -speed."""
    field = np.zeros((T - 1, H, W, 2), np.float32)
    field[..., 0] = speed
    return NeighbourFlows(field.copy(), -field, 1, (W, H))


def bar(left: float, width: int = 7) -> np.ndarray:
    x = np.arange(W)
    return np.broadcast_to((x >= np.rint(left)) & (x < np.rint(left) + width), (H, W))


@pytest.mark.parametrize(
    "speed, left", [(0.3, 28), (0.45, 28), (-0.45, 28), (0.45, W - 12), (-0.45, 2)]
)
def test_a_hole_that_moves_with_the_scene_finds_nothing_inside_it(speed, left):
    """A wire fixed to the scene is never revealed: no pointer may land in a region (also
    where the hole runs off the crop's edge, and pointers with it)."""
    regions = np.stack([bar(left + speed * k) for k in range(T)])
    pixels = [RegionPixels.of(region) for region in regions]
    flows = uniform_flows(speed)
    for towards in (-1, 1):
        traced = trace(pixels, (H, W), flows, towards, [False] * T)
        for k, pointers in enumerate(traced.sources):
            found = pointers.found
            frames = pointers.frame[found]
            xs = np.rint(pointers.x[found]).astype(int)
            ys = np.rint(pointers.y[found]).astype(int)
            assert not regions[frames, ys, xs].any(), f"frame {k}, towards {towards}"


def test_a_static_hole_over_a_slow_pan_is_revealed_from_the_frames_that_show_it():
    """A 9 px region over a 0.3 px/frame pan: every pixel whose path leaves the region
    within the window is seen, and what is read is the scene itself."""
    speed = 0.3
    frames = [scene(speed * k) for k in range(T)]
    hole = bar(28)
    # The region is the hole plus an untrusted edge of 1 px, as fill_window makes it.
    regions = np.stack([bar(27, 9)] * T)
    dirty = [np.where(hole[..., None], 0.0, frame) for frame in frames]
    result = propagate(dirty, regions, uniform_flows(speed), [False] * T)
    for k, here in enumerate(result):
        xs = here.pixels.xs
        # A point leaves the region (x 27-35) on the left after (x - 26.5) / 0.3 frames
        # in the past, on the right after (35.5 - x) / 0.3 frames in the future.
        in_reach = ((xs - 26.5) / speed <= k - 1) | ((35.5 - xs) / speed <= T - 2 - k)
        assert here.seen[in_reach].all(), f"frame {k}"
        truth = frames[k][here.pixels.ys, here.pixels.xs]
        assert np.abs(here.values[here.seen] - truth[here.seen]).max() < 0.5, f"frame {k}"
    assert result[T // 2].seen.mean() > 0.5
