"""Shot analysis: the first streaming pass over the whole clip (issue 14).

For every frame: the camera motion that maps it onto any other frame of its shot
(flow/camera_motion.py, from features outside the masks), and a coarse copy of its
mask. Together they say, for every masked pixel, in which other frames of the shot its
scene point is in view and unmasked, however far away (shot_pull.py).

The pass always covers the whole clip from its first frame, whatever part of it a run
renders: the motion is composed along the shot from there, so a farm chunk and a Ray
worker get the same analysis, bit for bit, as a whole-clip render.

Cost: one decode of the clip, converted to luma only, and the camera-motion fit on a
downscaled copy (about 5-20 ms per 720p frame on one CPU core, see
benchmarks/bench_camera_motion.py). Memory: a few numbers per frame, plus the coarse
masks cropped to their own boxes.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import cv2
import numpy as np

from ..flow.camera_motion import CameraMotion, CameraMotionEstimator

# Coarse masks have a long side of at most this many cells (a cell is `scale` pixels).
COARSE_SIDE = 320


class _Track(Protocol):
    def alpha(self, index: int) -> np.ndarray: ...


@dataclass(frozen=True)
class CoarseMask:
    """A frame's mask on the coarse grid, cropped to its box (cells x0..x1, y0..y1)."""

    x0: int
    y0: int
    cells: np.ndarray  # bool, True where any pixel of the cell is masked (dilated by 1)

    def covers(self, cx: np.ndarray, cy: np.ndarray) -> np.ndarray:
        """Whether the coarse cells (cx, cy) (int arrays) are masked."""
        h, w = self.cells.shape
        x, y = cx - self.x0, cy - self.y0
        inside = (x >= 0) & (x < w) & (y >= 0) & (y < h)
        hit = np.zeros(cx.shape, bool)
        hit[inside] = self.cells[y[inside], x[inside]]
        return hit


@dataclass
class ShotAnalysis:
    """Camera motion and coarse masks of every frame of a clip (frames 0 .. count - 1)."""

    motion: CameraMotion
    masks: list[CoarseMask | None]  # per frame; None where nothing is masked
    scale: int  # pixels per coarse cell
    frame_size: tuple[int, int]  # (width, height)

    @property
    def count(self) -> int:
        return len(self.masks)

    def masked_frames(self) -> list[int]:
        return [i for i, m in enumerate(self.masks) if m is not None]


def coarse_scale(width: int, height: int) -> int:
    """Pixels per coarse cell for a frame of this size."""
    return max(1, -(-max(width, height) // COARSE_SIDE))


def coarse_mask(alpha: np.ndarray, scale: int) -> CoarseMask | None:
    """The coarse mask of a full-frame alpha: a cell is masked where any of its pixels is,
    grown by one cell (a point that lands next to the mask may be its soft edge)."""
    hole = np.asarray(alpha) > 0
    if not hole.any():
        return None
    h, w = hole.shape
    ch, cw = -(-h // scale), -(-w // scale)
    padded = np.zeros((ch * scale, cw * scale), bool)
    padded[:h, :w] = hole
    cells = padded.reshape(ch, scale, cw, scale).any(axis=(1, 3))
    cells = cv2.dilate(cells.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    ys, xs = np.nonzero(cells)
    x0, y0 = int(xs.min()), int(ys.min())
    return CoarseMask(x0, y0, cells[y0 : ys.max() + 1, x0 : xs.max() + 1].copy())


def luma_of(frame: Any) -> np.ndarray:
    """8-bit luma of a decoded frame: straight from the decoder's planes for movies (no
    RGB conversion), from `rgb` otherwise."""
    source = getattr(frame, "source", None)
    if source is not None:
        return source.to_ndarray(format="gray")
    rgb = np.asarray(frame.rgb if hasattr(frame, "rgb") else frame)
    if rgb.dtype == np.uint16:
        rgb = (rgb >> 8).astype(np.uint8)
    return cv2.cvtColor(np.ascontiguousarray(rgb[..., :3]), cv2.COLOR_RGB2GRAY)


def analyse_shots(frames: Iterable[Any], track: _Track, cuts: Iterable[int] = ()) -> ShotAnalysis:
    """Analyse a whole clip, streaming.

    frames: the clip's frames from its first (index 0), in order: DecodedFrames, objects
    with `.rgb`, or arrays; track: gives `alpha(index)`; cuts: clip indices known to start
    a new shot (given with --shot-cuts). A cut that is not given shows as a failed
    registration: the frame after it starts a new tree of the motion, and no frame is
    ever aligned across it.
    """
    estimator = CameraMotionEstimator(cuts=cuts, first_frame=0)
    masks: list[CoarseMask | None] = []
    scale = size = None
    for index, frame in enumerate(_frames(frames)):
        gray = luma_of(frame)
        if size is None:
            size = (gray.shape[1], gray.shape[0])
            scale = coarse_scale(*size)
        alpha = track.alpha(index)
        estimator.add(gray, alpha)
        masks.append(coarse_mask(alpha, scale))
    if size is None:
        raise ValueError("shot analysis: the clip has no frames")
    return ShotAnalysis(estimator.result(), masks, scale, size)


def _frames(frames: Iterable[Any]) -> Iterator[Any]:
    for expected, frame in enumerate(frames):
        index = getattr(frame, "index", expected)
        if index != expected:
            raise ValueError(f"shot analysis: frame {index} where frame {expected} was expected")
        yield frame
