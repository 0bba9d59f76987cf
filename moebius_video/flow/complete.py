"""Flow completion: replace the flow inside holes by a smooth fill of the flow around them.

Under a wire the estimator sees the wire, not the background, so the flow there (and in
a few pixels around it, where estimator patches overlap the wire) is wrong. We mark it
unknown, together with nearby vectors that fail the forward-backward check or that
land inside the next frame's hole, and solve Laplace's equation for the unknowns with
the surrounding good flow as boundary values (a harmonic fill: the smoothest field that
matches its border). Background motion is smooth across a thin hole, so this is close
to the truth for wires and for objects over camera motion. Big holes are solved at a
resolution coarse enough to solve directly and upsampled: the flow is smooth there, and
the vectors near the border, where upsampling blurs, are never followed.
"""

from __future__ import annotations

import cv2
import numpy as np

from .estimate import NeighbourFlows
from .smooth import harmonic_fill


def warp_to_source(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Sample `image` (the flow's target frame) at p + flow(p) for every pixel p."""
    h, w = flow.shape[:2]
    grid_x, grid_y = np.meshgrid(
        np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32), indexing="xy"
    )
    return cv2.remap(
        image,
        grid_x + flow[..., 0],
        grid_y + flow[..., 1],
        interpolation=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )


def _squared(field: np.ndarray) -> np.ndarray:
    return field[..., 0] * field[..., 0] + field[..., 1] * field[..., 1]


def forward_backward_error(flow: np.ndarray, reverse: np.ndarray) -> np.ndarray:
    """|flow(p) + reverse(p + flow(p))| per pixel: zero where the two flows agree."""
    return np.sqrt(_squared(flow + warp_to_source(reverse, flow)))


def consistent(
    flow: np.ndarray, reverse: np.ndarray, reverse_at_target: np.ndarray | None = None
) -> np.ndarray:
    """Forward-backward check of Sundaram, Brox and Keutzer (ECCV 2010), per pixel.

    The round trip may miss by 1% of the motion plus half a pixel; occluded pixels and
    bad matches miss by more. reverse_at_target: `warp_to_source(reverse, flow)`, if
    already computed.
    """
    if reverse_at_target is None:
        reverse_at_target = warp_to_source(reverse, flow)
    round_trip = _squared(flow + reverse_at_target)
    allowed = 0.01 * (_squared(flow) + _squared(reverse_at_target)) + 0.5
    return round_trip < allowed


def complete_flows(
    flows: NeighbourFlows, regions: np.ndarray, grow: int = 8, band: int = 8
) -> NeighbourFlows:
    """Flows with every vector inside or near the holes replaced by a harmonic fill.

    regions: (T, h, w) bool at the flow's resolution, True where the frame's content is
      hidden or untrustworthy (the hole plus its edge).
    grow: pixels around each region also treated as unknown (estimator patches that
      overlapped the hole).
    band: around the grown regions, vectors that fail the forward-backward check or that land
      in the other frame's region are unknown too; farther away they are left alone
      (propagation only follows flow inside the regions).
    """
    kernel_grow = cv2.getStructuringElement(cv2.MORPH_RECT, (2 * grow + 1, 2 * grow + 1))
    kernel_band = cv2.getStructuringElement(cv2.MORPH_RECT, (2 * band + 1, 2 * band + 1))
    forward = np.empty_like(flows.forward)
    backward = np.empty_like(flows.backward)
    for k in range(flows.forward.shape[0]):
        fwd, bwd = flows.forward[k], flows.backward[k]
        region0, region1 = regions[k], regions[k + 1]
        forward[k] = harmonic_fill(
            fwd, _unknown(fwd, bwd, region0, region1, kernel_grow, kernel_band), refine_steps=0
        )
        backward[k] = harmonic_fill(
            bwd, _unknown(bwd, fwd, region1, region0, kernel_grow, kernel_band), refine_steps=0
        )
    return NeighbourFlows(forward, backward, flows.scale, flows.crop_size)


def complete_inconsistent_flows(
    flows: NeighbourFlows, regions: np.ndarray, grow: int = 2
) -> NeighbourFlows:
    """Flows with the vectors in and near the regions that fail the forward-backward check
    replaced by a harmonic fill of the vectors around them.

    For flow estimated on frames whose holes are already filled (a second pass): the fill
    moves with the background almost everywhere, but where it does not (a fill that
    differs from frame to frame) the estimate is noise, and the surroundings know better.
    regions: (T, h, w) bool at the flow's resolution; grow: pixels around them checked too.
    """
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (2 * grow + 1, 2 * grow + 1))
    forward = np.empty_like(flows.forward)
    backward = np.empty_like(flows.backward)
    for k in range(flows.forward.shape[0]):
        fwd, bwd = flows.forward[k], flows.backward[k]
        near0 = cv2.dilate(regions[k].astype(np.uint8), kernel).astype(bool)
        near1 = cv2.dilate(regions[k + 1].astype(np.uint8), kernel).astype(bool)
        forward[k] = harmonic_fill(fwd, near0 & ~consistent(fwd, bwd), refine_steps=0)
        backward[k] = harmonic_fill(bwd, near1 & ~consistent(bwd, fwd), refine_steps=0)
    return NeighbourFlows(forward, backward, flows.scale, flows.crop_size)


def _unknown(
    flow: np.ndarray,
    reverse: np.ndarray,
    source_region: np.ndarray,
    target_region: np.ndarray,
    kernel_grow: np.ndarray,
    kernel_band: np.ndarray,
) -> np.ndarray:
    source = source_region.astype(np.uint8)
    if not source.any():
        return np.zeros(source_region.shape, bool)
    grown = cv2.dilate(source, kernel_grow).astype(bool)
    near = cv2.dilate(grown.astype(np.uint8), kernel_band).astype(bool)
    # One warp for both checks: the reverse flow and the target's region, side by side.
    target = np.dstack([reverse, target_region.astype(np.float32)])
    at_target = warp_to_source(target, flow)
    lands_in_region = at_target[..., 2] > 0.0
    suspect = ~consistent(flow, reverse, at_target[..., :2]) | lands_in_region
    return grown | (near & suspect)
