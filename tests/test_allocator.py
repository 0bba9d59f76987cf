"""The allocator setting that keeps long runs flat: freed frame-sized buffers go back to
the system (each check in a fresh interpreter, since the setting is process-wide)."""

from __future__ import annotations

import subprocess
import sys

import pytest

PROBE = """
import sys
import numpy as np
from moebius_video.allocator import limit_allocator_retention

def rss_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1]) // 1024

tuned = sys.argv[1] == "tuned" and limit_allocator_retention()
first = np.ones(8 << 20, np.uint8)
del first  # by default glibc now keeps 8 MB buffers in its heap
base = rss_mb()
kept, small = [], []
for i in range(20):  # 160 MB of frame-sized buffers, each pinned by a small one after it
    kept.append(np.ones((8 << 20) - i * 4096, np.uint8))
    small.append(np.ones(1000, np.uint8))
peak = rss_mb()
newest = kept[-1]  # still in use above the others (the next frame), as in a real run
del kept
print(int(tuned), rss_mb() - base, peak - base)
"""


def _held_after_free(mode: str) -> tuple[bool, int]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True
    )
    tuned, held, peak = done.stdout.split()
    assert int(peak) > 140, f"the probe's buffers took only {peak} MB"
    return tuned == "1", int(held)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")
def test_freed_frame_buffers_go_back_to_the_system():
    tuned, held = _held_after_free("tuned")
    if not tuned:
        pytest.skip("not glibc")
    assert held < 40, f"{held} MB of 160 MB freed are still held"
    _, held_default = _held_after_free("default")
    # the probe itself tells the settings apart: by default glibc holds on to them
    assert held_default > 100, f"default malloc held only {held_default} MB"
