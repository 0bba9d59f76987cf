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
