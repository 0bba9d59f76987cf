"""The membrane fill of untrusted pixels, the rough fill for the second flow pass, and the
colour guard of the smoothing along the flow."""

from __future__ import annotations

import numpy as np
from temporaltest_helpers import texture

from moebius_video.flow.estimate import NeighbourFlows
from moebius_video.temporal import OpenCVFiller
from moebius_video.temporal.keyframes import (
    FALLBACK,
    GENERATED,
    PROPAGATED,
    PULLED,
    PULLED_FAR,
    PULLED_MID,
    fill_frames,
    membrane_fill,
    rough_fill,
)
from moebius_video.temporal.propagate import Pointers, Propagated, RegionPixels, smooth_in_time


def test_membrane_fill_continues_a_ramp_and_leaves_the_rest_alone():
    h, w = 40, 60
    yy, xx = np.mgrid[0:h, 0:w]
    ramp = np.stack([2 * xx, 3 * yy, xx + yy], axis=-1).astype(np.uint8)
    hole = np.zeros((h, w), bool)
    hole[10:30, 20:26] = True  # a wire-like strip
    dirty = ramp.copy()
    dirty[hole] = (0, 255, 0)
    filled = membrane_fill(dirty, hole)
    assert np.array_equal(filled[~hole], dirty[~hole]), "pixels outside the hole changed"
    error = np.abs(filled.astype(int) - ramp)[hole].max()
    assert error <= 1, f"max error {error} levels on a linear ramp, expected <= 1"


def _propagated(region: np.ndarray, seen: np.ndarray, value) -> Propagated:
    pixels = RegionPixels.of(region)
    n = len(pixels)
    values = np.zeros((n, 3), np.float32)
    flags = seen[pixels.ys, pixels.xs]
    values[flags] = value
    return Propagated(
        pixels, values, flags, np.zeros(n, bool), Pointers.nowhere(n), Pointers.nowhere(n)
    )


def test_rough_fill_uses_propagated_colours_and_marks_the_guessed_pixels():
    frame = texture(32, 48, seed=4)
    holes = np.zeros((1, 32, 48), bool)
    holes[0, 8:24, 10:30] = True
    seen = np.zeros((32, 48), bool)
    seen[8:24, 10:20] = True  # left half shown by another frame
    (image,), guessed = rough_fill([frame], holes, [_propagated(holes[0], seen, (7, 8, 9))])
    assert np.all(image[8:24, 10:20] == (7, 8, 9)), "propagated colours not used"
    assert np.array_equal(guessed[0], holes[0] & ~seen), "guessed pixels wrongly marked"
    assert np.array_equal(image[~holes[0]], frame[~holes[0]]), "pixels outside the hole changed"


def _still_flows(count: int, h: int, w: int) -> NeighbourFlows:
    zero = np.zeros((count - 1, h, w, 2), np.float32)
    return NeighbourFlows(zero, zero.copy(), 1, (w, h))


def test_smoothing_mixes_one_surface_but_not_two():
    # Three frames of a still scene; the middle frame's hole pixel is a little off (a
    # flicker: averaged away) in one place and another surface entirely in the other
    # (the flow confused two surfaces: kept apart by the colour guard).
    frames = [np.full((4, 8, 3), 100, np.uint8) for _ in range(3)]
    frames[1][1, 1] = 110
    frames[1][2, 5] = 250
    holes = np.zeros((3, 4, 8), bool)
    holes[1, 1, 1] = holes[1, 2, 5] = True
    flows = _still_flows(3, 4, 8)
    guarded = smooth_in_time(frames, holes, flows, passes=1, colour_scale=20.0)
    # Neighbours 10 levels off in each channel weigh exp(-300 / 800) of their share.
    share = 0.5 * np.exp(-3 * 10**2 / (2 * 20.0**2))
    expected = (0.5 * 110 + share * 100) / (0.5 + share)
    got = int(guarded[1][1, 1, 0])
    assert abs(got - expected) <= 0.5, f"flicker: expected {expected:.1f}, got {got}"
    assert guarded[1][2, 5, 0] >= 249, f"two surfaces mixed: {guarded[1][2, 5]}"
    plain = smooth_in_time(frames, holes, flows, passes=1)
    assert plain[1][2, 5, 0] == 175, f"without the guard expected 175, got {plain[1][2, 5]}"


def test_a_key_frame_painting_never_sees_the_removed_thing():
    """On a key frame, pixels nobody saw are painted and rejected ones (sources found,
    none trusted) get a membrane afterwards; until then they still show the logo, which
    the filler must not take for the background."""
    frame = np.full((40, 60, 3), 90, np.uint8)
    frame[:, :, 1] = 140
    hole = np.zeros((40, 60), bool)
    hole[10:30, 15:45] = True
    dirty = frame.copy()
    dirty[hole] = (255, 120, 0)  # an orange logo
    pixels = RegionPixels.of(hole)
    n = len(pixels)
    rejected = pixels.ys < 20  # the top half: chains found, none trusted
    propagated = Propagated(
        pixels,
        np.zeros((n, 3), np.float32),
        np.zeros(n, bool),
        rejected,
        Pointers.nowhere(n),
        Pointers.nowhere(n),
    )
    (filled,), (sources,) = fill_frames([dirty], hole[None], [propagated], [True], OpenCVFiller())
    assert np.all(sources[hole & (np.arange(40)[:, None] >= 20)] == GENERATED)
    assert np.all(sources[hole & (np.arange(40)[:, None] < 20)] == FALLBACK)
    error = np.abs(filled.astype(int) - frame)[hole].max()
    assert error <= 3, f"the fill is up to {error} levels off the plain background"


def test_the_source_map_tells_how_far_in_time_pulled_pixels_came_from():
    frame = texture(32, 48, seed=6)
    hole = np.zeros((32, 48), bool)
    hole[8:24, 8:40] = True
    propagated = _propagated(hole, hole, (50, 60, 70))
    # columns 8-15 local, then pulled from 3, 30 and 300 frames away
    distance = np.select(
        [propagated.pixels.xs >= 32, propagated.pixels.xs >= 24, propagated.pixels.xs >= 16],
        [300, 30, 3],
        0,
    ).astype(np.int32)
    propagated = Propagated(**{**propagated.__dict__, "pulled": distance})
    (_,), (sources,) = fill_frames([frame], hole[None], [propagated], [True], OpenCVFiller())
    codes = [np.unique(sources[8:24, x0 : x0 + 8]).tolist() for x0 in (8, 16, 24, 32)]
    assert codes == [[PROPAGATED], [PULLED], [PULLED_MID], [PULLED_FAR]]
