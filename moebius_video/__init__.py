"""moebius-video: remove wires, rigs and objects from footage, at native resolution.

The Python API the CLI, the plugins and the Ray workers all call:

    from moebius_video import inpaint_video
    result = inpaint_video("clip.mp4", "wires.json", "clip_clean.mp4")
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__", "inpaint_video", "InpaintOptions", "InpaintResult"]


def __getattr__(name: str):
    # Imported lazily so `import moebius_video` stays cheap (no torch, no av) for plugins.
    if name in ("inpaint_video", "InpaintOptions", "InpaintResult"):
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'moebius_video' has no attribute {name!r}")
