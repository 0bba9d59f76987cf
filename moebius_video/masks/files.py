"""Opening the files a mask track names: untrusted paths, read safely.

One place that knows how to open them: regular files only (symlinks followed; FIFOs and
devices refused without blocking), with a size limit, and a track's relative paths
resolved against its own folder (optionally confined to it). The JSON parser and the
raster sources both read through here.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from ..errors import MaskTrackError
from ..paths import is_image_pattern


class SourceError(Exception):
    """A problem with a source's files; track.py adds the file label and JSON path."""


def read_regular_file(path: Path, max_bytes: int, what: str, label: str) -> bytes:
    """Read a whole regular file (symlinks followed); refuse FIFOs, devices and huge files."""
    try:
        return read_regular(path, max_bytes)
    except SourceError as exc:
        raise MaskTrackError(f"{label}: cannot read the {what}: {exc}") from None


def read_file_head(path: Path, size: int) -> bytes:
    """The first size bytes of a regular file (raises SourceError like every read here)."""
    return read_regular(path, 1 << 62, head=size)


def read_regular(path: Path, max_bytes: int, head: int | None = None) -> bytes:
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)  # non-blocking: opening a FIFO must not wait for a writer
    except FileNotFoundError:
        raise SourceError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise SourceError(f"{path}: is a directory, expected a file") from None
    except OSError as exc:
        raise SourceError(f"{path}: {exc.strerror or exc}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = "a directory" if stat.S_ISDIR(info.st_mode) else "not a regular file"
            raise SourceError(f"{path}: {kind}, expected a file")
        if info.st_size > max_bytes:
            raise SourceError(f"{path}: {info.st_size} bytes, more than the limit {max_bytes}")
        with os.fdopen(fd, "rb", closefd=False) as stream:
            return stream.read(head if head is not None else max_bytes + 1)
    except OSError as exc:
        raise SourceError(f"{path}: {exc.strerror or exc}") from None
    finally:
        os.close(fd)


def resolve_source_path(text: str, base_dir: Path, confine_to: Path | None) -> Path:
    """The path written in a mask track, made absolute against base_dir."""
    path = Path(os.path.expanduser(text)) if text.startswith("~") else Path(text)
    if confine_to is not None:
        if path.is_absolute():
            raise SourceError(f"{text}: absolute paths are not allowed here")
        root = confine_to.resolve()
        # A pattern's file names do not exist as such: check the folder that holds them.
        check = (base_dir / path).parent if is_image_pattern(path.name) else base_dir / path
        try:
            check.resolve().relative_to(root)
        except ValueError:
            raise SourceError(f"{text}: leads outside {root}") from None
    return path if path.is_absolute() else base_dir / path
