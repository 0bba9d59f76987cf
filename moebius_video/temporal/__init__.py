"""Temporal core: flow-guided propagation of real background, key-frame fills, segments."""

from .fillers import Filler, OpenCVFiller

__all__ = ["Filler", "OpenCVFiller"]
