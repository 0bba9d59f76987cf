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

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import cv2
import numpy as np

from ..flow.camera_motion import MODELS, CameraMotion, CameraMotionEstimator, PairFit

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

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Plain arrays (no objects: a sidecar is loaded with allow_pickle=False) that
        `from_arrays` turns back into an equal analysis, bit for bit."""
        motion = self.motion
        present = np.array([m is not None for m in self.masks], bool)
        boxes = np.array(
            [(m.x0, m.y0, *m.cells.shape) if m is not None else (0, 0, 0, 0) for m in self.masks],
            np.int64,
        ).reshape(-1, 4)
        cells = [m.cells.ravel() for m in self.masks if m is not None]
        pairs = motion.pairs
        return {
            "scale": np.array(self.scale, np.int64),
            "frame_size": np.array(self.frame_size, np.int64),
            "mask_present": present,
            "mask_boxes": boxes,  # x0, y0, height, width in cells
            "mask_cells": np.concatenate(cells) if cells else np.zeros(0, bool),
            "motion_first_frame": np.array(motion.first_frame, np.int64),
            "motion_frame_size": np.array(motion.frame_size, np.int64),
            "motion_cuts": np.array(motion.cuts, np.int64),
            "motion_positions": np.asarray(motion.positions, np.float64),
            "motion_parents": np.asarray(motion.parents, np.int64),
            "motion_link_confidence": np.asarray(motion.link_confidence, np.float64),
            "motion_global_confidence": np.array(motion.global_confidence, np.float64),
            "pair_model": np.array([p.model for p in pairs], dtype="U16"),
            "pair_is_global": np.array([p.is_global for p in pairs], bool),
            "pair_floats": np.array(
                [(p.confidence, p.inlier_fraction, p.coverage, p.median_error) for p in pairs],
                np.float64,
            ).reshape(-1, 4),
            "pair_ints": np.array([(p.inliers, p.tracked) for p in pairs], np.int64).reshape(-1, 2),
        }

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> ShotAnalysis:
        """The analysis `to_arrays` wrote. Raises ValueError (naming the array) where the
        arrays do not hold one: a file from elsewhere must not crash or loop the pull."""
        missing = [name for name in _ARRAYS if name not in arrays]
        if missing:
            raise ValueError(f"{missing[0]}: missing")
        a = {name: np.asarray(arrays[name]) for name in _ARRAYS}
        present = _shaped(a, "mask_present", (None,), np.bool_)
        n = present.shape[0]
        boxes = _shaped(a, "mask_boxes", (n, 4), np.integer)
        cells = _shaped(a, "mask_cells", (None,), np.bool_)
        scale = int(_shaped(a, "scale", (), np.integer))
        width, height = (int(v) for v in _shaped(a, "frame_size", (2,), np.integer))
        if n == 0 or scale < 1 or width < 1 or height < 1:
            raise ValueError("scale, frame_size or mask_present: no frames, or no size")
        grid_w, grid_h = -(-width // scale), -(-height // scale)
        masks: list[CoarseMask | None] = []
        offset = 0
        for here, (x0, y0, h, w) in zip(present, boxes.tolist(), strict=True):
            if not here:
                masks.append(None)
                continue
            if not (0 <= x0 and 0 <= y0 and 1 <= w <= grid_w - x0 and 1 <= h <= grid_h - y0):
                raise ValueError(f"mask_boxes: a mask box {(x0, y0, h, w)} outside the grid")
            if offset + h * w > cells.size:
                raise ValueError("mask_cells: fewer cells than the mask boxes hold")
            masks.append(CoarseMask(x0, y0, cells[offset : offset + h * w].reshape(h, w).copy()))
            offset += h * w
        if offset != cells.size:
            raise ValueError("mask_cells: more cells than the mask boxes hold")
        first = int(_shaped(a, "motion_first_frame", (), np.integer))
        positions = _shaped(a, "motion_positions", (n, 3, 3), np.floating)
        parents = _shaped(a, "motion_parents", (n,), np.integer)
        # A frame is registered against an earlier one (or is a root): no cycles.
        if first != 0 or ((parents >= first + np.arange(n)) | (parents < -1)).any():
            raise ValueError("motion_parents: a frame registered against a later one")
        models = _shaped(a, "pair_model", (None,), np.str_).tolist()
        if not set(models) <= set(MODELS):
            raise ValueError(f"pair_model: unknown models {sorted(set(models) - set(MODELS))}")
        pairs_n = len(models)
        floats = _shaped(a, "pair_floats", (pairs_n, 4), np.floating)
        ints = _shaped(a, "pair_ints", (pairs_n, 2), np.integer)
        is_global = _shaped(a, "pair_is_global", (pairs_n,), np.bool_)
        pairs = [
            PairFit(str(m), c, bool(g), fr, cov, err, int(i), int(t))
            for m, (c, fr, cov, err), g, (i, t) in zip(
                models, floats.tolist(), is_global, ints.tolist(), strict=True
            )
        ]
        motion = CameraMotion(
            first_frame=first,
            frame_size=tuple(int(v) for v in _shaped(a, "motion_frame_size", (2,), np.integer)),
            cuts=tuple(int(c) for c in _shaped(a, "motion_cuts", (None,), np.integer)),
            positions=positions.astype(np.float64),
            parents=parents.astype(np.int64),
            link_confidence=_shaped(a, "motion_link_confidence", (n,), np.floating).astype(
                np.float64
            ),
            pairs=pairs,
            global_confidence=float(_shaped(a, "motion_global_confidence", (), np.floating)),
        )
        return cls(motion, masks, scale, (width, height))


_ARRAYS = (
    "scale",
    "frame_size",
    "mask_present",
    "mask_boxes",
    "mask_cells",
    "motion_first_frame",
    "motion_frame_size",
    "motion_cuts",
    "motion_positions",
    "motion_parents",
    "motion_link_confidence",
    "motion_global_confidence",
    "pair_model",
    "pair_is_global",
    "pair_floats",
    "pair_ints",
)


def _shaped(arrays: dict, name: str, shape: tuple, kind) -> np.ndarray:
    """arrays[name], checked to have `shape` (None: any length) and a dtype of `kind`."""
    value = arrays[name]
    if len(value.shape) != len(shape) or any(
        want is not None and want != got for want, got in zip(shape, value.shape, strict=True)
    ):
        raise ValueError(f"{name}: shape {value.shape}, expected {shape}")
    if not np.issubdtype(value.dtype, kind):
        raise ValueError(f"{name}: dtype {value.dtype}")
    return value


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
