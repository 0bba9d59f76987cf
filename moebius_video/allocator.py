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
import functools
import os
import sys

_M_ARENA_MAX = -8  # mallopt parameter, from glibc's malloc.h
ARENA_MAX = 2


@functools.cache
def _glibc() -> ctypes.CDLL | None:
    """The process's C library when it is glibc (not musl, not another OS), else None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None)
    except OSError:
        return None
    return libc if hasattr(libc, "gnu_get_libc_version") else None


def release_free_memory() -> None:
    """Hand the heaps' free pages back to the system (glibc's malloc_trim; elsewhere
    nothing). The temporal engine calls it after each window: a window frees hundreds of
    megabytes of crops and flows in pieces of every size, which glibc would keep."""
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)


def limit_allocator_retention() -> bool:
    """Limit glibc to ARENA_MAX arenas; False where the C library is not glibc or the
    environment already chose."""
    libc = _glibc()
    if libc is None or "MALLOC_ARENA_MAX" in os.environ:
        return False
    return bool(libc.mallopt(_M_ARENA_MAX, ARENA_MAX))
