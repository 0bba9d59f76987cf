"""Which pixels local propagation keeps and which go to the shot-wide pull (window.py)."""

from __future__ import annotations

import numpy as np

from moebius_video.temporal.propagate import Pointers, Propagated, RegionPixels
from moebius_video.temporal.shot_pull import Pulled
from moebius_video.temporal.window import CHECK_REACH, LOCAL_REACH, pull_request, with_pulled

# One region row of 6 pixels, (0, 0) to (0, 5); the hole is pixels 1-5, pixel 0 its edge.
REACH = np.array([1, 1, LOCAL_REACH + 1, CHECK_REACH, CHECK_REACH + 1, 0], np.int32)
SEEN = REACH > 0


def _local() -> Propagated:
    pixels = RegionPixels(np.zeros(6, np.int32), np.arange(6, dtype=np.int32))
    values = np.where(SEEN[:, None], 10.0, 0.0).astype(np.float32).repeat(3, 1)
    n = len(pixels)
    nowhere = Pointers.nowhere(n)
    return Propagated(pixels, values, SEEN.copy(), np.zeros(n, bool), nowhere, nowhere, reach=REACH)


def test_near_local_sources_are_kept_and_checked_against():
    hole = np.zeros((1, 6), bool)
    hole[0, 1:] = True
    known, asked = pull_request(_local(), hole)
    # Checked against: hole pixels with a local source at most CHECK_REACH frames away.
    assert known.tolist() == [False, True, True, True, False, False]
    # Asked: no local source, or one farther than LOCAL_REACH frames.
    assert asked.tolist() == [False, False, True, True, True, True]


def test_the_pull_replaces_far_local_sources_only_where_it_finds_one():
    found = np.array([True, True, True, False, True, True])
    pulled = Pulled(
        np.full((6, 3), 99.0, np.float32), found, np.full(6, 40, np.int32), np.full(6, 30)
    )
    merged = with_pulled(_local(), pulled)
    assert merged.values[:, 0].tolist() == [10, 10, 99, 10, 99, 99]
    assert merged.seen.all()
    assert merged.pulled.tolist() == [0, 0, 30, 0, 30, 30]
