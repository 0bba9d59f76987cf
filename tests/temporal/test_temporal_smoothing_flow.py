"""Step 4b of window.py: the flow the smoothing follows, estimated again on the filled
frames, replaces the completed flow under thin holes but not on membranes of wide ones;
and which membranes step 5 leaves unsmoothed."""

from __future__ import annotations

import numpy as np
from temporaltest_helpers import panning

from moebius_video.flow.estimate import NeighbourFlows
from moebius_video.temporal.keyframes import FALLBACK, PROPAGATED, UNTOUCHED
from moebius_video.temporal.settings import TemporalOptions
from moebius_video.temporal.window import (
    _grow_mask,
    _near_wide_holes,
    _smoothing_flows,
    _thin_membranes,
    _untrusted,
    refining_estimator,
)

H, W, FRAMES = 96, 160, 6
CAMERA_STEP = (2, 0)  # pixels per frame
PAN = (-2.0, 0.0)  # the flow it gives: the picture moves the other way
WIRE = (slice(None), slice(80, 86))  # a thin vertical wire, every frame
BALL = (slice(30, 60), slice(8, 34))  # a wide hole, every frame
WIRE_MEMBRANE_ROWS = slice(0, 40)  # part of the wire filled by a membrane (fallback)


def _scene():
    """A pan whose holes have been filled exactly (the clean frames), the holes, their
    source maps, the flow grid's completed area (as fill_window grows it) and its wide
    part."""
    frames = panning(FRAMES, H, W, step=CAMERA_STEP)
    holes = np.zeros((FRAMES, H, W), bool)
    holes[(slice(None), *WIRE)] = True
    holes[(slice(None), *BALL)] = True
    regions = _untrusted(holes, TemporalOptions().edge)
    estimator = refining_estimator((H, W))
    grow = estimator.footprint  # the flow of a crop this small is on the crop's grid
    completed = np.stack([_grow_mask(region, grow) for region in regions])
    wide = _near_wide_holes(holes, (H, W), grow)
    sources = []
    for hole in holes:
        source = np.where(hole, PROPAGATED, UNTOUCHED).astype(np.uint8)
        source[BALL] = FALLBACK
        source[WIRE_MEMBRANE_ROWS, WIRE[1]] = FALLBACK
        sources.append(source)
    return frames, holes, regions, sources, completed, wide


def _flows(completed: np.ndarray | None) -> NeighbourFlows:
    """The pan's true flows, zero inside `completed` (a completion that missed the
    motion) when given."""
    forward = np.broadcast_to(np.float32(PAN), (FRAMES - 1, H, W, 2)).copy()
    backward = -forward
    if completed is not None:
        for k in range(FRAMES - 1):
            forward[k][completed[k]] = 0.0
            backward[k][completed[k + 1]] = 0.0
    return NeighbourFlows(forward, backward, 1, (W, H))


def test_wrong_flow_under_a_thin_hole_is_replaced_and_membranes_of_wide_holes_kept():
    frames, holes, regions, sources, completed, wide = _scene()
    before = _flows(completed)
    after = _smoothing_flows(frames, sources, regions, before, completed, wide)

    for name, old, new, pan in (
        ("forward", before.forward, after.forward, PAN),
        ("backward", before.backward, after.backward, (-PAN[0], -PAN[1])),
    ):
        own = completed[:-1] if name == "forward" else completed[1:]
        near_wide = wide[:-1] if name == "forward" else wide[1:]
        assert np.array_equal(new[~own], old[~own]), f"{name}: flow changed outside the gate"
        # The ball is a membrane in a wide hole: the estimate on it is not used.
        ball = np.zeros_like(own)
        ball[(slice(None), *BALL)] = True
        assert np.array_equal(new[ball], old[ball]), f"{name}: flow changed on the ball"
        # Around the wire (its membrane part included: a thin one) the new estimate
        # sees the pan.
        thin = own & ~near_wide
        error = np.hypot(*(new[thin] - np.float32(pan)).T).mean()
        was = np.hypot(*(old[thin] - np.float32(pan)).T).mean()
        assert error < 0.3, f"{name}: mean error around the wire {error:.2f} px (was {was:.2f})"
        # The wire's membrane is thin: no pixel of it is deep inside.
        at = (slice(None), WIRE_MEMBRANE_ROWS, WIRE[1])
        error = np.hypot(*(new[at] - np.float32(pan)).reshape(-1, 2).T).mean()
        was = np.hypot(*(old[at] - np.float32(pan)).reshape(-1, 2).T).mean()
        assert error < 0.3, (
            f"{name}: mean error on the wire's membrane {error:.2f} px (was {was:.2f})"
        )


def test_a_completed_flow_that_is_already_right_is_kept():
    frames, holes, regions, sources, completed, wide = _scene()
    right = _flows(None)
    after = _smoothing_flows(frames, sources, regions, right, completed, wide)
    # The new estimate is off the pan by 0.005 px on average (0.4 at most), not zero:
    # only the tolerance keeps the flow as it was.
    assert np.array_equal(after.forward, right.forward), (
        f"forward changed at {int((after.forward != right.forward).any(axis=3).sum())} px"
    )
    assert np.array_equal(after.backward, right.backward), (
        f"backward changed at {int((after.backward != right.backward).any(axis=3).sum())} px"
    )


def test_only_thin_membranes_on_a_broken_flow_are_left_unsmoothed():
    holes = np.zeros((3, H, W), bool)
    holes[(slice(None), *WIRE)] = True
    holes[(slice(None), *BALL)] = True
    sources = [np.where(holes[k], FALLBACK, UNTOUCHED).astype(np.uint8) for k in range(3)]
    sources[1][40:, 80:86] = PROPAGATED  # the lower wire is real content
    pan = np.broadcast_to(np.array(PAN, np.float32), (2, H, W, 2)).copy()
    forward, backward = pan.copy(), -pan
    # Frame 1 -> 2 broken on the top of the wire: forward and backward do not meet.
    forward[1, :20, 78:88] = (3.0, 0.0)
    flows = NeighbourFlows(forward, backward, 1, (W, H))

    thin = _thin_membranes(holes, sources, flows)

    wire_membrane = thin[1][WIRE_MEMBRANE_ROWS, 80:86]
    assert wire_membrane[:20].all(), "a thin membrane on a broken flow is smoothed"
    assert not wire_membrane[20:].any(), "a thin membrane on a consistent flow is left alone"
    assert not thin[1][40:].any(), "real content is left unsmoothed"
    assert not thin[1][BALL].any(), "a wide hole's membrane is left unsmoothed"
    assert not thin[0].any(), "a frame whose flows agree is flagged"
    # Frame 2 reaches back into the broken part of frame 1's flow, on the wire's top only.
    assert thin[2][:20, 80:86].any() and not thin[2][20:].any()
