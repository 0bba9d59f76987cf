"""Keep long runs flat in memory: bound glibc's heaps, and hand freed pages back.

A run allocates large, short-lived arrays of many sizes (frames, crops, flows) from a
few threads. glibc gives each contending thread an arena of its own (up to 8 per core),
and freed space stays in those heaps, fragmented. Peak RSS of a 720p wire clip (1500
frames, `--shot-pull off`): 2071 MB by default, 1743 MB with two arenas, 1650 MB with
two arenas and `release_free_memory` after each temporal window (RSS then goes up and
down instead of climbing), 1549 MB with two arenas and a fixed 128 KiB mmap threshold
(`MALLOC_MMAP_THRESHOLD_=131072`), which costs 15-25% more wall time in page faults and
is left to the user's environment.

`limit_allocator_retention` is process-wide, so only entry points call it (the CLI, Ray
actors); a host embedding the Python API keeps its own settings. MALLOC_ARENA_MAX in
the environment wins. `release_free_memory` (malloc_trim) only returns free pages.
"""

from __future__ import annotations

import ctypes
import os
import sys

_M_ARENA_MAX = -8  # mallopt parameter, from glibc's malloc.h
ARENA_MAX = 2


def release_free_memory() -> None:
    """Hand the heaps' free pages back to the system (glibc's malloc_trim; elsewhere
    nothing). The temporal engine calls it after each window: a window frees hundreds of
    megabytes of crops and flows in pieces of every size, which glibc would keep."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


def _malloc_trim():
    global _TRIM
    if _TRIM is None:
        _TRIM = False
        if sys.platform.startswith("linux"):
            try:
                libc = ctypes.CDLL(None)
                if hasattr(libc, "gnu_get_libc_version"):
                    _TRIM = libc.malloc_trim
            except (OSError, AttributeError):
                pass
    return _TRIM or None


_TRIM = None  # libc.malloc_trim once looked up, False where there is none


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
