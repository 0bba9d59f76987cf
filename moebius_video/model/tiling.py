"""Filling holes of a full-resolution frame with a model that only works on fixed-size tiles.

The released Moebius weights work on 512 x 512 images (a 64 x 64 latent: the Interactive-lambda
position embedding has exactly that size). A 4K frame with a thin wire must not be resized to
512 (the wire would vanish and the fill would be blurry), and must not be cut into a full grid
of tiles (most would hold no hole). Instead:

1. `plan_tiles` covers the hole with square tiles cut from the frame at native resolution.
   Each tile owns a *core* (the tile minus a context margin on every side that is not the frame
   border); every hole pixel lies in some core, so every filled pixel had context on all sides.
   Tiles are placed greedily along the hole: take the first uncovered hole pixel in reading
   order, centre a core on the uncovered pixels of the rows below it, repeat. A thin wire costs
   about (wire length / core size) tiles.
2. A hole too large for a tile's context (its inscribed radius beyond `max_hole_radius`) gets
   tiles cut larger than the model size and scaled down, just enough; a frame smaller than a
   tile gets one tile scaled up. Everything else runs at native resolution.
3. `fill_with_tiles` cuts each tile, calls the model, blends overlapping tiles with weights that
   ramp over the margins, and writes back only hole pixels: everything else is bit-identical.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Tile:
    """A square region [x0, x0 + size) x [y0, y0 + size) of the frame (may overhang a frame
    smaller than it, then it is padded by reflection), and the core box it is responsible for.
    """

    x0: int
    y0: int
    size: int
    margin: int
    core: tuple[int, int, int, int]  # x0, y0, x1, y1 in frame pixels, end-exclusive

    def scale(self, model_size: int) -> float:
        """Frame pixels per model pixel (1.0: native resolution)."""
        return self.size / model_size


def _place(start: int, size: int, length: int) -> int:
    """Shift a tile start so the tile stays inside [0, length), or centre it if it cannot."""
    if size <= length:
        return int(min(max(start, 0), length - size))
    return -((size - length) // 2)


def _core_box(x0: int, y0: int, size: int, margin: int, width: int, height: int):
    def span(start: int, length: int) -> tuple[int, int]:
        lo = 0 if start <= 0 else start + margin
        hi = length if start + size >= length else start + size - margin
        return max(lo, 0), min(hi, length)

    cx0, cx1 = span(x0, width)
    cy0, cy1 = span(y0, height)
    return cx0, cy0, cx1, cy1


def plan_tiles(
    hole: np.ndarray,
    tile_size: int = 512,
    context: int = 64,
    max_hole_radius: float | None = None,
) -> list[Tile]:
    """Tiles that cover every hole pixel with a core (see the module docstring).

    hole: H x W bool. context: margin in model pixels kept around each core. max_hole_radius:
    the largest distance (model pixels) from a hole pixel to known pixels that a tile handles
    at native resolution (default tile_size / 4); larger holes get scaled-down tiles.
    """
    hole = np.asarray(hole, dtype=bool)
    height, width = hole.shape
    if not hole.any():
        return []
    if not 0 <= 2 * context < tile_size:
        raise ValueError(f"context {context} leaves no core in a {tile_size} tile")
    max_radius = float(max_hole_radius or tile_size / 4)

    # Each connected hole gets one scale, from its inscribed radius.
    count, labels = cv2.connectedComponents(hole.astype(np.uint8), connectivity=8)
    inside = cv2.distanceTransform(hole.astype(np.uint8), cv2.DIST_L2, 5)
    radius = np.zeros(count, np.float64)
    np.maximum.at(radius, labels[hole], inside[hole])

    uncovered = hole.copy()
    tiles: list[Tile] = []
    while True:
        rows = np.flatnonzero(uncovered.any(axis=1))
        if rows.size == 0:
            return tiles
        y = int(rows[0])
        x = int(np.flatnonzero(uncovered[y])[0])
        scale = max(1.0, radius[labels[y, x]] / max_radius)
        size = min(int(round(tile_size * scale)), max(height, width))
        margin = int(round(context * size / tile_size))
        core = size - 2 * margin

        # Centre the core on the uncovered pixels of the band of rows starting at y.
        band = uncovered[y : y + core]
        cols = np.flatnonzero(band.any(axis=0))
        if cols[-1] - cols[0] < core:
            cx = (int(cols[0]) + int(cols[-1]) + 1 - core) // 2
        else:
            cx = int(cols[0])
        part = band[:, max(cx, 0) : cx + core]
        part_rows = np.flatnonzero(part.any(axis=1)) + y
        cy = (int(part_rows[0]) + int(part_rows[-1]) + 1 - core) // 2

        x0 = _place(cx - margin, size, width)
        y0 = _place(cy - margin, size, height)
        box = _core_box(x0, y0, size, margin, width, height)
        bx0, by0, bx1, by1 = box
        if not uncovered[by0:by1, bx0:bx1].any():  # cannot happen by construction; be safe
            x0 = _place(x - size // 2, size, width)
            y0 = _place(y - size // 2, size, height)
            box = _core_box(x0, y0, size, margin, width, height)
            bx0, by0, bx1, by1 = box
        uncovered[by0:by1, bx0:bx1] = False
        tiles.append(Tile(x0, y0, size, margin, box))


def cut(frame: np.ndarray, tile: Tile) -> np.ndarray:
    """The tile's pixels (size x size), reflected where it overhangs the frame."""
    height, width = frame.shape[:2]
    x0, y0, size = tile.x0, tile.y0, tile.size
    crop = frame[max(y0, 0) : y0 + size, max(x0, 0) : x0 + size]
    pad_y = (max(-y0, 0), max(y0 + size - height, 0))
    pad_x = (max(-x0, 0), max(x0 + size - width, 0))
    if any(pad_y + pad_x):
        pads = (pad_y, pad_x) + ((0, 0),) * (frame.ndim - 2)
        crop = np.pad(crop, pads, mode="symmetric")
    return crop


def blend_weights(tile: Tile, height: int, width: int) -> np.ndarray:
    """Weights over the tile's in-frame part: 1 in the core, ramping down across the margins
    (except along the frame border, where no other tile can take over)."""

    def ramp(start: int, length: int) -> np.ndarray:
        coords = np.arange(max(start, 0), min(start + tile.size, length))
        weight = np.ones(coords.shape, np.float32)
        if tile.margin == 0:
            return weight
        if start > 0:
            weight = np.minimum(weight, (coords - start + 0.5) / tile.margin)
        if start + tile.size < length:
            weight = np.minimum(weight, (start + tile.size - coords - 0.5) / tile.margin)
        return np.clip(weight, 0.0, 1.0).astype(np.float32)

    return np.outer(ramp(tile.y0, height), ramp(tile.x0, width))


# fill_tiles(tiles, images [B, T, T, 3] float32 in [0, 1], holes [B, T, T] bool,
#            inits [B, T, T, 3] or None) -> filled images [B, T, T, 3] float32 in [0, 1]
TileFiller = Callable[[list[Tile], np.ndarray, np.ndarray, np.ndarray | None], np.ndarray]


def _to_model(pixels: np.ndarray, model_size: int, nearest: bool = False) -> np.ndarray:
    size = pixels.shape[0]
    if size == model_size:
        return pixels
    if nearest:
        # Any hole coverage makes a model pixel a hole: thin wires survive the scaling.
        area = cv2.resize(
            pixels.astype(np.float32), (model_size, model_size), interpolation=cv2.INTER_AREA
        )
        return area > 0
    method = cv2.INTER_AREA if size > model_size else cv2.INTER_CUBIC
    return cv2.resize(pixels, (model_size, model_size), interpolation=method)


def _from_model(pixels: np.ndarray, size: int) -> np.ndarray:
    if pixels.shape[0] == size:
        return pixels
    method = cv2.INTER_AREA if size < pixels.shape[0] else cv2.INTER_CUBIC
    return np.clip(cv2.resize(pixels, (size, size), interpolation=method), 0.0, 1.0)


def fill_with_tiles(
    image: np.ndarray,
    hole: np.ndarray,
    fill_tiles: TileFiller,
    tile_size: int,
    context: int = 64,
    init: np.ndarray | None = None,
    tiles: list[Tile] | None = None,
    batch: int = 1,
    max_hole_radius: float | None = None,
) -> np.ndarray:
    """Fill `hole` in `image` (H x W x 3 uint8/uint16) tile by tile; only hole pixels change.

    init: optional H x W x 3 image of the same dtype whose hole pixels seed the sampling.
    tiles: a plan from `plan_tiles` (made here when None). batch: tiles per fill_tiles call.
    """
    hole = np.asarray(hole, dtype=bool)
    height, width = hole.shape
    if tiles is None:
        tiles = plan_tiles(hole, tile_size, context, max_hole_radius)
    out = image.copy()
    if not tiles:
        return out
    top = float(np.iinfo(image.dtype).max)

    # Accumulate only over hole pixels: a 4K frame with a wire has few of them.
    hole_flat = np.flatnonzero(hole.ravel())
    total = np.zeros((hole_flat.size, 3), np.float64)
    weight_sum = np.zeros(hole_flat.size, np.float64)

    for start in range(0, len(tiles), batch):
        group = tiles[start : start + batch]
        images = np.stack(
            [_to_model(cut(image, t).astype(np.float32) / top, tile_size) for t in group]
        )
        holes = np.stack([_to_model(cut(hole, t), tile_size, nearest=True) for t in group])
        inits = None
        if init is not None:
            inits = np.stack(
                [_to_model(cut(init, t).astype(np.float32) / top, tile_size) for t in group]
            )
        filled = fill_tiles(group, images, holes, inits)
        for tile, pixels in zip(group, filled, strict=True):
            pixels = _from_model(np.asarray(pixels, np.float32), tile.size)
            # The in-frame part of the tile, and the hole pixels in it.
            fy0, fx0 = max(tile.y0, 0), max(tile.x0, 0)
            fy1, fx1 = min(tile.y0 + tile.size, height), min(tile.x0 + tile.size, width)
            inner = pixels[fy0 - tile.y0 : fy1 - tile.y0, fx0 - tile.x0 : fx1 - tile.x0]
            local_hole = hole[fy0:fy1, fx0:fx1]
            ys, xs = np.nonzero(local_hole)
            index = np.searchsorted(hole_flat, (ys + fy0) * width + (xs + fx0))
            weights = blend_weights(tile, height, width)[ys, xs]
            total[index] += inner[ys, xs] * weights[:, None]
            weight_sum[index] += weights

    values = total / np.maximum(weight_sum, 1e-12)[:, None]
    rows, cols = np.unravel_index(hole_flat, (height, width))
    out[rows, cols] = np.clip(np.rint(values * top), 0, top).astype(image.dtype)
    return out
