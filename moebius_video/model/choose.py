"""Building the filler a run asked for: classical by name without torch, else Moebius.

Called once per process that fills (the driver, or each Ray worker), never per frame.
"""

from __future__ import annotations

from collections.abc import Callable

from ..fillers import Filler, FillerSpec


def make_filler(spec: FillerSpec, notice: Callable[[str], None] | None = None) -> Filler:
    """The filler for pixels no frame shows: Moebius when its weights are here, else OpenCV.

    notice: called with one line when the weights are missing and OpenCV is used instead.
    A classical filler asked for by name is built here, so such runs never import torch.
    """
    classical = spec.classical()
    if classical is not None:
        return classical
    from .filler import load_filler

    return load_filler(
        spec.model,
        weights=spec.weights,
        device=spec.device,
        dtype=spec.precision,
        notice=notice,
    )
