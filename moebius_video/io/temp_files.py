"""Temporary outputs: made exclusively, published without clobbering, never left behind.

Every output is written to a temporary file beside it and renamed into place at the end,
so a reader never sees half a file. The temporary's name carries the writer's process
id (`.clip.tmp-4242-1a2b3c4d.mp4` for a movie, `f.0001.png.tmp-4242` for a frame), so a
later run to the same output can tell a dead run's leftovers (killed with -9, a lost
node) from a live one's, and delete them. Publishing without overwrite links the
temporary to the output name, which fails if another run got there first: two runs to
one output cannot both think they won.
"""

from __future__ import annotations

import glob
import os
import secrets
import time
from pathlib import Path

from ..errors import OutputExistsError

TEMP_MARK = ".tmp-"


def movie_temp(output: Path) -> Path:
    """Create (exclusively, empty) and return a hidden temporary beside a movie output,
    keeping its extension (FFmpeg picks the muxer by it)."""
    while True:
        temp = output.with_name(
            f".{output.stem}{TEMP_MARK}{os.getpid()}-{secrets.token_hex(4)}{output.suffix}"
        )
        try:
            os.close(os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
            return temp
        except FileExistsError:
            continue


def frame_temp(path: Path) -> Path:
    """The temporary of one frame file (created by the caller, with O_EXCL)."""
    return path.with_name(f"{path.name}{TEMP_MARK}{os.getpid()}")


def publish(temp: Path, output: Path, overwrite: bool, field: str = "output") -> None:
    """Move a finished temporary to `output`; without `overwrite`, refuse (deleting the
    temporary) when `output` appeared meanwhile."""
    if overwrite:
        os.replace(temp, output)
        return
    try:
        os.link(temp, output)
    except FileExistsError:
        temp.unlink(missing_ok=True)
        raise OutputExistsError(field, output) from None
    except OSError:  # no hard links here (some network and FAT file systems)
        if output.exists():
            temp.unlink(missing_ok=True)
            raise OutputExistsError(field, output) from None
        os.replace(temp, output)
        return
    temp.unlink()


def remove_stale_temps(output: Path, *, hidden: bool) -> int:
    """Delete the temporaries dead runs left for `output` (hidden: the movie form);
    returns how many. Stale: older than this process, and its process is gone (or it
    bears this process's id, which a dead one had before)."""
    if hidden:
        pattern = f".{glob.escape(output.stem)}{TEMP_MARK}*{glob.escape(output.suffix)}"
    else:
        pattern = glob.escape(output.name) + TEMP_MARK + "*"
    removed = 0
    for temp in output.parent.glob(pattern):
        owner = temp.name.rsplit(TEMP_MARK, 1)[1].split("-", 1)[0].split(".", 1)[0]
        if not owner.isdigit():
            continue
        if int(owner) != os.getpid() and _process_alive(int(owner)):
            continue
        try:
            if temp.stat().st_mtime < _STARTED:
                temp.unlink()
                removed += 1
        except FileNotFoundError:
            pass
    return removed


_STARTED = time.time()  # this process's start, near enough (the module loads early)


def _process_alive(pid: int) -> bool:
    if os.name == "nt":  # os.kill would terminate the process there: assume it is alive
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
