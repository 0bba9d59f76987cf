"""Temporal core: flow-guided propagation of real background, key-frame fills, windows.

from moebius_video.temporal import TemporalOptions, iter_patches
for index, patches in iter_patches(video.frames(), track, filler, TemporalOptions()):
    writer.write(composite(frame, patches))

- `grid.py`: the window grid (which frames a window fills, reads and cross-fades);
- `engine.py`: the one window engine every run drives, and `iter_patches`;
- `window.py`: one window (flow, completion, propagation, key-frame fills);
- `per_frame.py`: the per-frame fill of `--temporal off`.
"""

from ..fillers import Filler, OpenCVFiller
from .engine import iter_patches
from .grid import context_span
from .settings import TemporalOptions

__all__ = [
    "Filler",
    "OpenCVFiller",
    "TemporalOptions",
    "context_span",
    "iter_patches",
]
