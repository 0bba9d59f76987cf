"""Optical flow between neighbouring frames of a window, on a crop around the masks.

Convention (used everywhere in moebius_video): a flow field is an H x W x 2 float32
array of (dx, dy) displacements in pixels. `forward[k]` maps frame k to frame k+1:
the content at pixel (x, y) of frame k is found at (x + dx, y + dy) in frame k+1.
`backward[k]` maps frame k+1 to frame k.

The CPU default is OpenCV's DIS (Kroeger et al., ECCV 2016), which runs a 720p pair in
a few milliseconds. A learned estimator (RAFT-class on a GPU) plugs in by implementing
`FlowEstimator.neighbour_flows`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import cv2
import numpy as np

from ..errors import UsageError
from .smooth import pull_push_fill

FLOW_QUALITIES = ("fast", "balanced", "high")


@runtime_checkable
class FlowEstimator(Protocol):
    """Computes flow between each pair of neighbouring images.

    `neighbour_flows(images)` takes T >= 2 images of one size (H x W x 3 uint8 RGB)
    and returns (forward, backward), each a float32 array of shape (T-1, h, w, 2):
    forward[k] maps images[k] to images[k+1], backward[k] maps images[k+1] to images[k].
    The grid (h, w) may be coarser than the images (H, W), with displacements in pixels
    of that grid: an estimator whose flow has no finer detail (DIS stops at a pyramid
    level, RAFT works at 1/8) saves memory and later work by returning it as it is.
    """

    name: str
    # Optional attributes: `max_pixels` (downscale larger crops before estimation),
    # `input_scale` (the images it wants, reduced by this factor: it works on a coarser
    # grid anyway; default 1) and `footprint` (crop pixels around a wrong area whose flow
    # it also spoils; default 8).

    def neighbour_flows(self, images: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]: ...


@dataclass(frozen=True)
class _DISSettings:
    # DIS stops refining at pyramid level `finest_scale` (2: quarter resolution) and
    # upsamples from there; level 1 costs about 2.5x more and is 20x more precise on fine
    # texture (0.001 px against 0.02 px on a pure translation).
    finest_scale: int
    patch_size: int
    patch_stride: int
    descent_iterations: int
    refinement_iterations: int
    # Crops larger than this many pixels are downscaled before estimation (4K and up).
    max_pixels: int


_DIS_BY_QUALITY = {
    # Measured on a 280 x 720 crop of real footage shifted by a known sub-pixel amount:
    # fast 4 ms, 0.12 px mean error; balanced 10 ms, 0.05 px; high 25 ms, 0.045 px.
    "fast": _DISSettings(2, 8, 5, 16, 5, 1280 * 720),  # OpenCV's ULTRAFAST preset
    "balanced": _DISSettings(1, 8, 5, 12, 3, 1920 * 1080),
    "high": _DISSettings(1, 8, 3, 25, 5, 1920 * 1080),
}


class DISFlowEstimator:
    """OpenCV Dense Inverse Search flow on greyscale images (CPU)."""

    def __init__(self, quality: str = "balanced"):
        if quality not in _DIS_BY_QUALITY:
            raise UsageError(
                f"flow quality must be one of {', '.join(FLOW_QUALITIES)}, got {quality!r}"
            )
        self.quality = quality
        self.name = f"dis-{quality}"
        self.max_pixels = _DIS_BY_QUALITY[quality].max_pixels
        self._settings = _DIS_BY_QUALITY[quality]
        # A bad area (the hole) drags the flow within about one patch around it, and
        # patches are measured at pyramid level `finest_scale`.
        self.footprint = self._settings.patch_size * 2**self._settings.finest_scale
        # DIS estimates on pyramid level `finest_scale` and only upsamples from there, so
        # the images are reduced to that level before they reach it: hiding the holes,
        # the grey conversion and the pyramid then cost 4-16x less, and the flow comes
        # back on that grid, which makes completion and memory as much cheaper.
        self.input_scale = 2**self._settings.finest_scale

    def neighbour_flows(self, images: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        if len(images) < 2:
            raise ValueError(f"neighbour_flows needs at least 2 images, got {len(images)}")
        # One DIS object per call: it keeps state between calc() calls, and a fresh one
        # makes each window's result independent of what ran before (determinism).
        settings = self._settings
        dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_FAST)
        dis.setFinestScale(0)  # the images arrive already reduced by `input_scale`
        dis.setPatchSize(settings.patch_size)
        dis.setPatchStride(settings.patch_stride)
        dis.setGradientDescentIterations(settings.descent_iterations)
        dis.setVariationalRefinementIterations(settings.refinement_iterations)
        grey = [cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY) for image in images]
        h, w = grey[0].shape
        forward = np.empty((len(grey) - 1, h, w, 2), np.float32)
        backward = np.empty_like(forward)
        for k in range(len(grey) - 1):
            forward[k] = dis.calc(grey[k], grey[k + 1], None)
            backward[k] = dis.calc(grey[k + 1], grey[k], None)
        return forward, backward


def make_flow_estimator(quality: str = "balanced") -> FlowEstimator:
    """The default estimator for a quality preset ('fast', 'balanced', 'high')."""
    return DISFlowEstimator(quality)


@dataclass(frozen=True)
class NeighbourFlows:
    """Forward and backward flow of a window, on a grid `scale` times coarser than the crop.

    Values are in pixels of that coarse grid; `at_crop_resolution` gives one field on the
    crop's own pixel grid, in crop pixels.
    """

    forward: np.ndarray  # (T-1, h, w, 2) float32
    backward: np.ndarray  # (T-1, h, w, 2) float32
    scale: int  # about crop size / grid size (exact ratios come from the shapes)
    crop_size: tuple[int, int]  # (width, height) of the crop the flow belongs to

    def at_crop_resolution(self, field: np.ndarray) -> np.ndarray:
        """Upsample one h x w x 2 field of this window to the crop's pixel grid."""
        if self.scale == 1:
            return field
        w, h = self.crop_size
        up = cv2.resize(field, (w, h), interpolation=cv2.INTER_LINEAR)
        up[..., 0] *= w / field.shape[1]
        up[..., 1] *= h / field.shape[0]
        return up

    def sample(self, field: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
        """Flow of one h x w x 2 field of this window at crop pixels (xs, ys), in crop pixels.

        Returns an (n, 2) float32 array. Bilinear between the coarse grid's pixel centres
        (positions may be sub-pixel).
        """
        if self.scale == 1:
            if np.issubdtype(xs.dtype, np.integer) and np.issubdtype(ys.dtype, np.integer):
                return field[ys, xs]
            return bilinear(field, xs, ys)
        w, h = self.crop_size
        ratio_x = w / field.shape[1]
        ratio_y = h / field.shape[0]
        # Pixel centres: crop x + 0.5 sits at coarse (x + 0.5) / ratio.
        values = bilinear(field, (xs + 0.5) / ratio_x - 0.5, (ys + 0.5) / ratio_y - 0.5)
        values[:, 0] *= ratio_x
        values[:, 1] *= ratio_y
        return values


# cv2.remap takes maps of at most 32767 columns: points are laid out in rows of this.
_REMAP_ROW = 4096


def bilinear(image: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Bilinear samples of an H x W (x C) image at float positions, as (n, C) float32.

    Positions outside the image take the nearest border value. Uses cv2.remap (ten times
    faster than numpy here): positions are resolved to 1/32 pixel, and samples of integer
    images come back rounded to integers.
    """
    n = int(np.size(x))
    channels = 1 if image.ndim == 2 else image.shape[2]
    if n == 0:
        return np.zeros((0, channels), np.float32)
    rows = -(-n // _REMAP_ROW)
    map_x = np.zeros(rows * _REMAP_ROW, np.float32)
    map_y = np.zeros(rows * _REMAP_ROW, np.float32)
    map_x[:n] = x
    map_y[:n] = y
    shape = (rows, _REMAP_ROW) if n > _REMAP_ROW else (1, n)
    size = shape[0] * shape[1]
    sampled = cv2.remap(
        image,
        map_x[:size].reshape(shape),
        map_y[:size].reshape(shape),
        interpolation=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )
    return sampled.reshape(-1, channels)[:n].astype(np.float32, copy=False)


# Images given to an estimator keep at least this many pixels on their short side.
MIN_FLOW_SIDE = 16
# Crops up to this many pixels (a small mask, SD footage) get their flow at full
# resolution, not the estimator's coarser `input_scale` grid: it costs little there, and
# a coarse grid of a small crop loses the motion edges that matter under the mask.
FULL_RESOLUTION_PIXELS = 256 * 192


def flow_scale(width: int, height: int, max_pixels: int) -> int:
    """Smallest power-of-two downscale that brings width x height under max_pixels (never
    below 32 pixels on the short side)."""
    scale = 1
    while (width // scale) * (height // scale) > max_pixels and min(width, height) // scale >= 64:
        scale *= 2
    return scale


def to_uint8(image: np.ndarray) -> np.ndarray:
    """8-bit view of an RGB image for flow (flow does not need 16-bit precision)."""
    if image.dtype == np.uint8:
        return image
    return (image >> 8).astype(np.uint8)


def downscale_mask(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Mask on a coarser (h, w) grid: True wherever any covered fine pixel is True."""
    h, w = size
    if mask.shape == (h, w):
        return mask
    return cv2.resize(mask.astype(np.float32), (w, h), interpolation=cv2.INTER_AREA) > 0


def estimate_neighbour_flows(
    images: Sequence[np.ndarray],
    estimator: FlowEstimator,
    holes: np.ndarray | None = None,
    max_pixels: int | None = None,
) -> NeighbourFlows:
    """Flow between neighbouring crops, computed on downscaled copies when they are large.

    images: T >= 2 crops of one size, RGB uint8 or uint16.
    holes: optional (T, H, W) bool; these pixels are replaced by a smooth guess from
      their surroundings before estimation, so that the thing being removed (a static
      wire over a moving background) does not drag the flow around it.
    max_pixels: downscale limit; defaults to the estimator's `max_pixels` or no limit.
    """
    h, w = images[0].shape[:2]
    if max_pixels is None:
        max_pixels = getattr(estimator, "max_pixels", w * h)
    scale = flow_scale(w, h, max_pixels)
    if w * h > FULL_RESOLUTION_PIXELS:
        scale *= getattr(estimator, "input_scale", 1)
    while scale > 1 and min(w, h) // scale < MIN_FLOW_SIDE:
        scale //= 2  # a sliver of a crop: keep enough pixels for the estimator's patches
    small = []
    for k, image in enumerate(images):
        image8 = to_uint8(image)
        if scale > 1:
            image8 = cv2.resize(image8, (w // scale, h // scale), interpolation=cv2.INTER_AREA)
        if holes is not None and holes[k].any():
            image8 = _hide(image8, downscale_mask(holes[k], image8.shape[:2]))
        small.append(image8)
    forward, backward = estimator.neighbour_flows(small)
    scale = max(1, round(w / forward.shape[2]))
    return NeighbourFlows(forward, backward, scale, (w, h))


def _hide(image: np.ndarray, hole: np.ndarray, context: int = 16) -> np.ndarray:
    """The image with the hole replaced by a smooth guess from `context` pixels around it."""
    rows = np.flatnonzero(hole.any(axis=1))
    cols = np.flatnonzero(hole.any(axis=0))
    h, w = hole.shape
    y0, y1 = max(rows[0] - context, 0), min(rows[-1] + 1 + context, h)
    x0, x1 = max(cols[0] - context, 0), min(cols[-1] + 1 + context, w)
    out = image.copy()
    region = out[y0:y1, x0:x1]
    region_hole = hole[y0:y1, x0:x1]
    guess = pull_push_fill(region.astype(np.float32), region_hole)
    region[region_hole] = np.rint(guess[region_hole]).astype(np.uint8)
    return out
