"""Optical flow for the temporal core: estimation on crops, completion inside holes."""

from .complete import complete_flows, consistent, forward_backward_error
from .estimate import (
    DISFlowEstimator,
    FlowEstimator,
    NeighbourFlows,
    estimate_neighbour_flows,
    make_flow_estimator,
)
from .smooth import harmonic_fill, pull_push_fill

__all__ = [
    "DISFlowEstimator",
    "FlowEstimator",
    "NeighbourFlows",
    "complete_flows",
    "consistent",
    "estimate_neighbour_flows",
    "forward_backward_error",
    "harmonic_fill",
    "make_flow_estimator",
    "pull_push_fill",
]
