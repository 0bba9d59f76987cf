"""Fillers: what paints the pixels that no frame of the clip ever shows.

A filler takes one RGB image and a boolean hole and returns the image with the
hole painted. The temporal core calls it on key frames only; Moebius
(`moebius_video.model.filler`) is one filler, OpenCV inpainting the fallback.

This module sits at the bottom of the package (with patches and errors), so the API, the
Ray workers, the temporal core and the model all speak of fillers without importing each
other. `FillerSpec` says which filler a run wants; `model.make_filler(spec)` builds it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import cv2
import numpy as np

from .patches import mask_box

# Names that pick the classical filler without asking the model registry (so no torch).
CLASSICAL_FILLERS = {
    "opencv": "telea",
    "telea": "telea",
    "opencv-telea": "telea",
    "opencv-ns": "ns",
}


@dataclass(frozen=True)
class FillerSpec:
    """Which filler a run wants; small and picklable, so a Ray worker builds its own.

    model: a registered checkpoint name, a classical name (`CLASSICAL_FILLERS`), or None
        (Moebius when its weights are present, else OpenCV). weights: a checkpoint path.
    device: "auto", "cpu", "cuda" or "cuda:N". precision: float32, bfloat16, float16 or None.
    """

    model: str | None = None
    weights: str | os.PathLike | None = None
    device: str = "auto"
    precision: str | None = None

    def classical(self) -> OpenCVFiller | None:
        """The classical filler this spec names, or None when it needs the model registry."""
        if self.weights is None and self.model is not None:
            method = CLASSICAL_FILLERS.get(self.model.lower())
            if method is not None:
                return OpenCVFiller(method)
        return None


@runtime_checkable
class Filler(Protocol):
    """Paints hole pixels of an image.

    `fill(image, hole)`: image is H x W x 3 uint8 or uint16 RGB (a crop or a whole
    frame), hole is H x W bool. Returns a new array of the same shape and dtype;
    pixels outside the hole are returned unchanged.
    """

    name: str

    def fill(self, image: np.ndarray, hole: np.ndarray) -> np.ndarray: ...


class OpenCVFiller:
    """Classical per-image inpainting (Telea 2004 or Navier-Stokes), on a crop around the hole."""

    def __init__(self, method: str = "telea", radius: int = 5):
        if method not in ("telea", "ns"):
            raise ValueError(f"OpenCVFiller method must be 'telea' or 'ns', got {method!r}")
        self.name = f"opencv-{method}"
        self._flag = cv2.INPAINT_TELEA if method == "telea" else cv2.INPAINT_NS
        self.radius = radius

    def fill(self, image: np.ndarray, hole: np.ndarray) -> np.ndarray:
        out = image.copy()
        # The crop needs a ring of known pixels around the hole for the fast-marching front.
        box = mask_box(hole, margin=2 * self.radius + 2)
        if box is None:
            return out
        x0, y0, x1, y1 = box
        crop = image[y0:y1, x0:x1]
        hole_crop = hole[y0:y1, x0:x1].astype(np.uint8)
        if crop.dtype == np.uint16:
            # cv2.inpaint takes 8-bit images only; keep 16-bit precision outside the hole.
            filled8 = cv2.inpaint((crop >> 8).astype(np.uint8), hole_crop, self.radius, self._flag)
            filled = filled8.astype(np.uint16) * 257
        else:
            filled = cv2.inpaint(np.ascontiguousarray(crop), hole_crop, self.radius, self._flag)
        region = out[y0:y1, x0:x1]
        region[hole_crop.astype(bool)] = filled[hole_crop.astype(bool)]
        return out
