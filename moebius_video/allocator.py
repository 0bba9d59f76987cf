"""Bound the C allocator's per-thread heaps (Linux with glibc).

A run allocates large, short-lived arrays of many sizes (frames, crops, flows) from a
few threads. glibc gives each contending thread an arena of its own (up to 8 per core),
and freed space stays in those heaps, fragmented: peak RSS of a 720p wire clip
(1500 frames, `--shot-pull off`) was 2071 MB by default and 1743 MB with two arenas, at
the same speed. A fixed mmap threshold on top (`MALLOC_MMAP_THRESHOLD_=131072`, which
hands every large buffer back to the system when freed) gave 1549 MB, but 15-25% more
wall time in page faults, so it is left to the user's environment.

Process-wide, so only entry points call it (the CLI, Ray actors); a host embedding the
Python API keeps its own allocator settings. MALLOC_ARENA_MAX in the environment wins.
"""

from __future__ import annotations

import ctypes
import os
import sys

_M_ARENA_MAX = -8  # mallopt parameter, from glibc's malloc.h
ARENA_MAX = 2


def limit_allocator_retention() -> bool:
    """Limit glibc to ARENA_MAX arenas; False where the C library is not glibc or the
    environment already chose."""
    if not sys.platform.startswith("linux") or "MALLOC_ARENA_MAX" in os.environ:
        return False
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    if not hasattr(libc, "gnu_get_libc_version"):  # glibc only (not musl)
        return False
    return bool(mallopt(_M_ARENA_MAX, ARENA_MAX))
