"""The allocator setting that keeps long runs flat: glibc keeps at most two arenas
however many threads allocate (checked in a fresh interpreter: it is process-wide)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from moebius_video.allocator import ARENA_MAX

PROBE = """
import ctypes, os, sys, tempfile, threading
import numpy as np
from moebius_video.allocator import limit_allocator_retention

if not limit_allocator_retention():
    print("untuned")
    sys.exit()

def work():  # frame-sized buffers from eight threads at once, as the fill threads do
    for _ in range(300):
        a = np.ones(1 << 16, np.uint8)
        b = np.ones(1 << 20, np.uint8)
        del a, b

threads = [threading.Thread(target=work) for _ in range(8)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
libc = ctypes.CDLL(None)
libc.fopen.restype = ctypes.c_void_p
path = tempfile.mktemp()
stream = ctypes.c_void_p(libc.fopen(path.encode(), b"w"))
libc.malloc_info(0, stream)  # an XML report with one <heap> per arena
libc.fclose(stream)
with open(path) as report:
    print(report.read().count("<heap nr="))
os.unlink(path)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")
def test_many_allocating_threads_share_two_arenas():
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, env=env
    )
    if done.stdout.strip() == "untuned":
        pytest.skip("not glibc")
    assert 1 <= int(done.stdout) <= ARENA_MAX


TRIM_PROBE = """
import numpy as np
from moebius_video.allocator import release_free_memory

def rss_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1]) // 1024

base = rss_mb()
kept = [np.ones(60_000, np.uint8) for _ in range(4000)]  # 240 MB in heap-sized pieces
newest = np.ones(60_000, np.uint8)  # still in use above the others
del kept
held = rss_mb() - base
release_free_memory()
print(held, rss_mb() - base)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")
def test_released_memory_goes_back_to_the_system():
    done = subprocess.run(
        [sys.executable, "-c", TRIM_PROBE], capture_output=True, text=True, check=True
    )
    held, after = map(int, done.stdout.split())
    assert held > 150, f"the probe's freed buffers were not held ({held} MB): it tests nothing"
    assert after < 50, f"{after} MB still held after release_free_memory"
