"""File names the tool reads and writes: image-sequence patterns and same-file checks.

One place decides what an image-sequence pattern is, for input and output alike, so the
CLI, the API, the hook and the farm agree. Three spellings, one meaning:
- printf: `shot.%04d.exr` (at least 4 digits), `shot.%d.exr` (no padding);
- Nuke's hashes: one `#` per digit, `shot.####.exr` = `shot.%04d.exr`;
- Houdini/Katana's `@`, also one per digit: `shot.@@@@.exr` = `shot.%04d.exr`, and a
  single `@` is unpadded (`shot.@.exr` = `shot.%d.exr`). An `@` counts only right before
  the extension (`take@2x.mov`, `clip@home.mov` stay plain names).
Nothing here touches media; it sits at the bottom of the package (no av, no torch).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

_PRINTF = re.compile(r"%(0?)(\d*)d")
_HASHES = re.compile(r"#+")
# The frame-number field just before the extension, after a separator or at the start.
_ATS = re.compile(r"(?<![^._-])@+(?=\.[^.]*\Z)")


def is_image_pattern(path: str | os.PathLike) -> bool:
    """True for a numbered-file pattern: `name.%04d.png`, `name.####.png`, `name.@@@@.png`."""
    name = os.path.basename(os.fspath(path))
    return bool(_PRINTF.search(name) or _HASHES.search(name) or _ATS.search(name))


def normalize_pattern(name: str) -> str:
    """ "shot.####.png" and "shot.@@@@.png" -> "shot.%04d.png", "shot.@.png" -> "shot.%d.png";
    printf patterns pass through."""
    name = _HASHES.sub(lambda m: f"%0{len(m.group())}d", name)
    return _ATS.sub(lambda m: "%d" if len(m.group()) == 1 else f"%0{len(m.group())}d", name)


def pattern_regex(name: str) -> re.Pattern:
    """Regex with one group for the frame number of a file name pattern (any spelling)."""
    from .errors import UsageError

    name = normalize_pattern(name)
    match = _PRINTF.search(name)
    if match is None or len(_PRINTF.findall(name)) != 1:
        raise UsageError(
            f"{name}: a sequence pattern needs exactly one frame-number field (%04d, #### or @@@@)"
        )
    width = int(match.group(2) or 0)
    # %04d writes at least 4 digits, more for larger numbers; %d any number of digits.
    digits = rf"(\d{{{width},}})" if match.group(1) else r"(\d+)"
    head, tail = name[: match.start()], name[match.end() :]
    return re.compile(re.escape(head) + digits + re.escape(tail) + r"\Z")


def frame_path(pattern: str | os.PathLike, number: int) -> Path:
    """The file of one frame: `shot.%04d.png`, `shot.####.png` or `shot.@@@@.png` with
    1001 -> `shot.1001.png`."""
    folder, name = os.path.split(os.fspath(pattern))
    name = normalize_pattern(name)
    match = _PRINTF.search(name)
    width = int(match.group(2) or 0)
    return Path(folder, name[: match.start()] + f"{number:0{width}d}" + name[match.end() :])


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Whether two paths name one file (links included); paths that do not exist yet
    compare by their resolved names."""
    a, b = Path(os.fspath(a)), Path(os.fspath(b))
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return a.resolve() == b.resolve()
