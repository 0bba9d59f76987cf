"""Packed patches: only what differs from the source travels, and unpacking is exact."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from moebius_video.distributed.transfer import pack, unpack
from moebius_video.patches import FramePatch


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_unpack_rebuilds_every_byte(dtype):
    rng = np.random.default_rng(3)
    top = np.iinfo(dtype).max
    source = rng.integers(0, top, size=(72, 128, 3), dtype=dtype)
    # A patch box around a thin diagonal wire: most of the box is the source picture.
    x0, y0, h, w = 10, 5, 60, 100
    rgb = source[y0 : y0 + h, x0 : x0 + w].copy()
    alpha = np.zeros((h, w), np.float32)
    for y in range(h):
        x = int(y * w / h)
        alpha[y, max(x - 2, 0) : x + 2] = rng.random(min(x + 2, w) - max(x - 2, 0))
        rgb[y, max(x - 1, 0) : x + 1] = rng.integers(0, top, size=3, dtype=dtype)
    patch = FramePatch(index=7, x0=x0, y0=y0, rgb=rgb, alpha=alpha)

    packed = pack(patch, source)
    back = unpack(packed, source)
    assert (back.index, back.x0, back.y0) == (7, x0, y0)
    assert back.rgb.dtype == rgb.dtype and back.alpha.dtype == np.float32
    assert back.rgb.tobytes() == rgb.tobytes()
    assert back.alpha.tobytes() == alpha.tobytes()
    assert packed.nbytes < patch.nbytes / 5, f"packed {packed.nbytes} B of {patch.nbytes} B"
    assert len(pickle.dumps(packed)) < len(pickle.dumps(patch)) / 4


def test_empty_and_full_patches_round_trip():
    source = np.full((4, 6, 3), 9, np.uint8)
    same = FramePatch(0, 1, 1, source[1:3, 1:4].copy(), np.zeros((2, 3), np.float32))
    full = FramePatch(0, 0, 0, np.full((4, 6, 3), 200, np.uint8), np.ones((4, 6), np.float32))
    for patch in (same, full):
        back = unpack(pack(patch, source), source)
        assert np.array_equal(back.rgb, patch.rgb) and np.array_equal(back.alpha, patch.alpha)
