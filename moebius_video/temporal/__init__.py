"""Temporal core: flow-guided propagation of real background, key-frame fills, segments.

from moebius_video.temporal import TemporalOptions, iter_patches
for index, patches in iter_patches(video.frames(), track, filler, TemporalOptions()):
    writer.write(composite(frame, patches))
"""

from ..fillers import Filler, OpenCVFiller
from .options import TemporalOptions
from .segment import context_span, fill_range, fill_segment, iter_patches

__all__ = [
    "Filler",
    "OpenCVFiller",
    "TemporalOptions",
    "context_span",
    "fill_range",
    "fill_segment",
    "iter_patches",
]
