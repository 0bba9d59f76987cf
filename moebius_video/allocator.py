"""Keep the C allocator from holding on to freed frame buffers (Linux with glibc).

A run allocates large, short-lived arrays of many sizes (frames, crops, flows) from a
few threads. glibc's malloc raises its mmap threshold each time such a buffer is freed,
so later ones come from the threads' heaps instead, where freed space stays with the
process and fragments: peak RSS of a 720p wire clip (`benchmarks/bench_pipeline.py`,
`--shot-pull off`, 1500 frames) went 2071 MB by default, 1743 MB with two arenas, 1549
MB with two arenas and a fixed 128 KiB threshold. Fixing the threshold (glibc's starting
value) hands every large buffer back to the system when it is freed; two arenas bound
the per-thread heaps.

Process-wide, so only entry points call it (the CLI, Ray workers); a host embedding the
Python API keeps its own allocator settings. MALLOC_ARENA_MAX or MALLOC_MMAP_THRESHOLD_
in the environment win over these.
"""

from __future__ import annotations

import ctypes
import os
import sys

# mallopt parameters, from glibc's malloc.h
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8
MMAP_THRESHOLD = 128 * 1024
ARENA_MAX = 2


def limit_allocator_retention() -> bool:
    """Set glibc's mmap threshold and arena count (see the module text); False where the
    C library is not glibc, or the environment already chose."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    if not hasattr(libc, "gnu_get_libc_version"):  # glibc only (not musl)
        return False
    done = True
    if "MALLOC_MMAP_THRESHOLD_" not in os.environ:
        done &= bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD))
    if "MALLOC_ARENA_MAX" not in os.environ:
        done &= bool(mallopt(_M_ARENA_MAX, ARENA_MAX))
    return done
