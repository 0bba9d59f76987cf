"""Flow completion in time: carry measured flow into a hole from the frames that saw it.

Inside a wide hole (a ball rolling over a walking leg) the flow of steps 2 and 2b is a
guess: a harmonic fill of the border, or an estimate on a blank membrane. But an object
that moves hides a given point of the background for a few frames only; just before
and after, that point was visible and its flow was measured there. So, like the pixel
propagation of propagate.py but with flow vectors instead of colours, every flow pixel
of the hole follows the flow chain into the past and into the future to the nearest
frame where it lies outside the hole, and takes the flow measured there (the motion of
a point changes little over a few frames).

A candidate is trusted as far as that assumption holds where it was read: its flow to
the next frame and its flow to the previous frame must be opposite (a steady motion;
near an occlusion or a bad estimate they are not). Candidates are weighted like the
colour sources of propagate.py (near in time and consistent chains weigh more) and
blended with the guess already there; chains longer than MAX_DISTANCE frames are not
used (they drift), and where no frame saw the point the guess stays.

Everything runs on the flow's own (coarse) grid, one step per hole pixel and frame.
"""

from __future__ import annotations

import numpy as np

from ..flow.estimate import NeighbourFlows, bilinear
from .propagate import Pointers, RegionPixels, chain_reliability, trace

# Scale (flow-grid pixels) of a chain's forward-backward mismatch, and of the disagreement
# between a candidate's flows to the next and to the previous frame, at which its weight
# halves.
MISMATCH_SCALE = 1.0
# Candidates found more than this many frames away are not used: the chain that reached
# them followed the guessed flow, and its position error grows with every step.
MAX_DISTANCE = 9
# Weight of the guess already in the hole, against 1 / distance for a candidate: the
# guess wins over a candidate four frames away whose chain and motion look perfect.
GUESS_WEIGHT = 0.25


def complete_flows_in_time(flows: NeighbourFlows, unknown: np.ndarray) -> NeighbourFlows:
    """The flows with the vectors at `unknown` blended with flow measured in other frames.

    unknown: (T, h, w) bool on the flow's grid, True where frame k's flow vectors (the
      forward flow k -> k+1 and the backward flow k -> k-1) are a guess, not a measurement.
      Chains follow the flows as they are (the guesses inside the holes included).
    """
    if not unknown.any():
        return flows
    count, h, w = unknown.shape
    # The flow's grid as a crop of its own: chains are traced in flow-grid pixels.
    grid = NeighbourFlows(flows.forward, flows.backward, 1, (w, h))
    pixels = [RegionPixels.of(region) for region in unknown]
    no_keys = [False] * count
    past = trace(pixels, (h, w), grid, -1, no_keys).sources
    future = trace(pixels, (h, w), grid, +1, no_keys).sources
    forward, backward = flows.forward.copy(), flows.backward.copy()
    for k, here in enumerate(pixels):
        n = len(here)
        if n == 0:
            continue
        ahead = np.zeros((n, 2), np.float32)  # motion k -> k+1
        behind = np.zeros((n, 2), np.float32)  # motion k -> k-1
        total = np.zeros(n, np.float32)
        for pointers in (past[k], future[k]):
            to_next, to_previous = _measured(flows, pointers, count)
            steadiness = np.hypot(*(to_next + to_previous).T) / MISMATCH_SCALE
            weight = _chain_weight(pointers) / (1.0 + steadiness**2)
            ahead += weight[:, None] * to_next
            behind += weight[:, None] * to_previous
            total += weight
        seen = total > 0
        if not seen.any():
            continue
        ys, xs = here.ys[seen], here.xs[seen]
        share = total[seen, None]
        if k + 1 < count:
            guess = forward[k][ys, xs]
            forward[k][ys, xs] = (ahead[seen] + GUESS_WEIGHT * guess) / (share + GUESS_WEIGHT)
        if k > 0:
            guess = backward[k - 1][ys, xs]
            backward[k - 1][ys, xs] = (behind[seen] + GUESS_WEIGHT * guess) / (share + GUESS_WEIGHT)
    return NeighbourFlows(forward, backward, flows.scale, flows.crop_size)


def _chain_weight(pointers: Pointers) -> np.ndarray:
    used = pointers.found & (pointers.distance <= MAX_DISTANCE)
    return np.where(used, chain_reliability(pointers, MISMATCH_SCALE), 0.0).astype(np.float32)


def _measured(flows: NeighbourFlows, pointers: Pointers, count: int):
    """The flow towards the next and the previous frame at each pointer's position, as
    measured in the frame it points to ((n, 2) each; zero where nothing was found). At the
    window's first or last frame one direction is unknown: the other, reversed, stands in
    (and the pair then agrees by construction)."""
    n = pointers.frame.size
    to_next = np.zeros((n, 2), np.float32)
    to_previous = np.zeros((n, 2), np.float32)
    for j in np.unique(pointers.frame[pointers.found]):
        rows = np.flatnonzero(pointers.frame == j)
        x, y = pointers.x[rows], pointers.y[rows]
        ahead = bilinear(flows.forward[j], x, y) if j + 1 < count else None
        behind = bilinear(flows.backward[j - 1], x, y) if j > 0 else None
        to_next[rows] = ahead if ahead is not None else -behind
        to_previous[rows] = behind if behind is not None else -ahead
    return to_next, to_previous
