"""Native-resolution tiling: plans (pure geometry) and a real run with the tiny model."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from moebius_video.model.filler import MoebiusFiller
from moebius_video.model.sampler import SamplerSettings
from moebius_video.model.tiling import blend_weights, cut, fill_with_tiles, plan_tiles


def _wire(height: int, width: int, start, end, thickness: int) -> np.ndarray:
    hole = np.zeros((height, width), np.uint8)
    cv2.line(hole, start, end, 1, thickness)
    return hole.astype(bool)


def _assert_covered(hole, tiles):
    covered = np.zeros_like(hole)
    for tile in tiles:
        x0, y0, x1, y1 = tile.core
        covered[y0:y1, x0:x1] = True
        assert tile.x0 <= x0 and x1 <= tile.x0 + tile.size, tile
        assert tile.y0 <= y0 and y1 <= tile.y0 + tile.size, tile
    uncovered = int((hole & ~covered).sum())
    assert uncovered == 0, f"{uncovered} hole pixels lie in no tile core"


def test_thin_wire_across_4k_costs_a_few_native_tiles():
    hole = _wire(2160, 3840, (0, 300), (3839, 1900), 4)
    tiles = plan_tiles(hole, tile_size=512, context=64)
    _assert_covered(hole, tiles)
    assert all(t.size == 512 for t in tiles), "a thin wire must stay at native resolution"
    # The wire is ~4160 px long and a core is 384 px: about 11 tiles, never a full grid (40).
    assert len(tiles) <= 14, f"{len(tiles)} tiles for one wire"


def test_horizontal_wire_tiles_in_a_row():
    hole = np.zeros((2160, 3840), bool)
    hole[1000:1003] = True
    tiles = plan_tiles(hole, tile_size=512, context=64)
    _assert_covered(hole, tiles)
    assert len(tiles) == 10, f"expected ceil(3840 / 384) = 10 tiles, got {len(tiles)}"
    assert len({t.y0 for t in tiles}) == 1


def test_large_hole_gets_one_scaled_tile():
    hole = np.zeros((2160, 3840), np.uint8)
    cv2.circle(hole, (1900, 1000), 400, 1, -1)
    tiles = plan_tiles(hole.astype(bool), tile_size=512, context=64)
    _assert_covered(hole.astype(bool), tiles)
    assert len(tiles) == 1
    # Inscribed radius 400 > 128 allowed: scaled by about 400 / 128.
    assert 3.0 < tiles[0].scale(512) < 3.3


def test_frame_smaller_than_a_tile_is_one_tile():
    hole = np.zeros((144, 176), bool)
    hole[50:60, 20:150] = True
    tiles = plan_tiles(hole, tile_size=512, context=64)
    assert len(tiles) == 1 and tiles[0].size == 176
    assert tiles[0].core == (0, 0, 176, 144)
    crop = cut(np.arange(144 * 176).reshape(144, 176), tiles[0])
    assert crop.shape == (176, 176)


def test_blend_weights_ramp_inside_and_hold_at_the_frame_border():
    hole = np.zeros((200, 600), bool)
    hole[100:102, :] = True
    tiles = plan_tiles(hole, tile_size=128, context=16)
    first, second = tiles[0], tiles[1]
    w = blend_weights(first, 200, 600)
    row = 100 - first.y0  # the wire's row, in the tile
    assert first.x0 == 0 and w[row, 0] == 1.0, "the frame border side must not fade"
    assert w[row, -1] < 0.1, "the inner side fades out across the margin"
    middle = w.shape[1] // 2
    assert w[0, middle] < 0.1 and w[-1, middle] < 0.1, "top and bottom are inside the frame: fade"
    assert blend_weights(second, 200, 600).max() == 1.0


def test_fill_with_tiles_changes_only_hole_pixels():
    rng = np.random.default_rng(3)
    image = rng.integers(0, 65536, (300, 500, 3), dtype=np.uint16)
    hole = _wire(300, 500, (0, 20), (499, 280), 3)
    calls = []

    def fill_tiles(tiles, images, holes, inits):
        calls.append(len(tiles))
        assert images.shape[1:] == (64, 64, 3) and holes.shape[1:] == (64, 64)
        return np.full(images.shape, 0.25, np.float32)

    out = fill_with_tiles(image, hole, fill_tiles, tile_size=64, context=8, batch=2)
    assert out.dtype == np.uint16
    assert np.array_equal(out[~hole], image[~hole])
    assert (out[hole] == round(0.25 * 65535)).all()
    assert max(calls) == 2


@pytest.fixture()
def tiny_filler(tiny_sampler):
    return MoebiusFiller(tiny_sampler, settings=SamplerSettings(steps=2), context=8)


def test_tiny_model_fills_a_thin_wire_on_a_large_frame(tiny_filler):
    height, width = 360, 640
    yy, xx = np.mgrid[0:height, 0:width]
    image = np.stack([xx * 255 // width, yy * 255 // height, (xx + yy) % 256], -1).astype(np.uint8)
    hole = _wire(height, width, (0, 60), (639, 300), 2)
    tiles = plan_tiles(hole, tile_size=64, context=8)
    # ~680 px of wire, 48 px cores: a handful of tiles instead of the 100 of a full grid.
    assert len(tiles) <= 20, f"{len(tiles)} tiles"
    out = tiny_filler.fill(image, hole)
    assert out.shape == image.shape and out.dtype == image.dtype
    changed = (out != image).any(axis=2)
    assert not changed[~hole].any(), f"{int(changed[~hole].sum())} pixels outside the hole changed"
    assert changed[hole].mean() > 0.5, "the model left most of the hole as it was"
    assert np.array_equal(out, tiny_filler.fill(image, hole)), "not deterministic"


def test_init_image_changes_the_fill_and_keeps_the_outside(tiny_filler):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (96, 160, 3), dtype=np.uint8)
    hole = np.zeros((96, 160), bool)
    hole[40:50, 30:130] = True
    init = np.full_like(image, 200)
    plain = tiny_filler.fill(image, hole)
    seeded = tiny_filler.fill(image, hole, init=init)
    assert np.array_equal(seeded[~hole], image[~hole])
    assert not np.array_equal(plain[hole], seeded[hole])
