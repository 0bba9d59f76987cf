"""What the tasks of one shot share on a farm: its analysis sidecar and its filled windows.

    moebius-video analyse plate.mov --mask-track wires.json -o plate.analysis.npz
    moebius-video plate.mov --mask-track wires.json -o clean.%04d.png --frames 1001-1012 \\
        --analysis plate.analysis.npz

A farm task renders a few frames, but the shot-wide pull needs the analysis of the whole
shot (temporal/shot_analysis.py) and each frame needs the whole windows around it
(temporal/grid.py). Without sharing, every task pays for both (benchmarks/README.md,
"Farm chunks"). So:

- `analyse` writes the analysis once, to a sidecar (`write_analysis`); every task reads it
  (`read_analysis`) instead of decoding the shot again;
- each task writes the windows it fills to a folder beside the sidecar (`WindowCache`,
  `<sidecar stem>.windows/`, one file per window, renamed into place whole); a later
  task that needs the same window reads it instead of filling it again.

Both are keyed on everything their result depends on (`shot_key`: the input file's size,
mtime and first bytes, the mask track's content, the shot cuts, the package version; a
window adds its span, crop box, the temporal options and the filler), so a stale file
never changes output: a sidecar that does not match the run is refused, naming what
differs; a window file that does not match is a miss. A window read from the folder is
the bytes the task that filled it computed, so chunks still equal a whole render. Files
are npz loaded with allow_pickle=False, and their sizes are checked against what the run
expects before anything is allocated (they come from a shared folder).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import warnings
import zipfile
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from .errors import OptionError
from .paths import is_image_pattern

# Bumped when what a sidecar or a window file holds, or how it is computed, changes.
ANALYSIS_FORMAT = 1
WINDOW_FORMAT = 1
# Bytes hashed at the start of a movie (with its size and mtime: a changed plate misses).
HEAD_BYTES = 1 << 20
# Mask-track files up to this size are hashed whole, larger rasters by their head.
WHOLE_HASH_BYTES = 16 << 20
# A sidecar holds a few numbers and a coarse mask per frame: this bounds what one may ask
# us to read (about 100 bytes a frame, plus the coarse masks' cells).
SIDECAR_BYTES_PER_FRAME = 64 << 10

# What a sidecar key's entries mean, for the message that says what differs.
KEY_NAMES = {
    "format": "the sidecar format",
    "version": "the moebius-video version",
    "input": "the input (size, mtime or first bytes)",
    "frames": "the input's frame count",
    "size": "the input's frame size",
    "mask_track": "the mask track",
    "shot_cuts": "--shot-cuts",
    "allow_damaged": "--allow-damaged",
}


def default_sidecar(input_path: str | os.PathLike) -> Path:
    """`plate.mov` -> `plate.analysis.npz`, `shot.%04d.exr` -> `shot.analysis.npz`, beside it."""
    path = Path(os.fspath(input_path))
    if is_image_pattern(path):
        stem = re.split(r"[%#@]", path.name)[0].rstrip("._-") or "shot"
    else:
        stem = path.name if path.is_dir() else path.stem  # a folder of images: its name
    return path.parent / f"{stem}.analysis.npz"


def windows_folder(sidecar: str | os.PathLike) -> Path:
    """Where a sidecar's filled windows go: `plate.analysis.npz` -> `plate.analysis.windows`."""
    path = Path(os.fspath(sidecar))
    return path.with_name(path.name.removesuffix(".npz") + ".windows")


# --- keys -------------------------------------------------------------------------------------


def shot_key(
    input_files: list[Path],
    info: Any,
    mask_track: str | os.PathLike | Mapping[str, Any],
    track_files: list[Path],
    cuts: tuple[int, ...],
    allow_damaged: bool,
) -> dict[str, Any]:
    """What a shot's analysis depends on, as JSON-ready values.

    input_files: the movie, or every file of a sequence; track_files: the raster files the
    mask track reads. Paths are not part of it: a farm may mount the shot elsewhere."""
    if isinstance(mask_track, Mapping):
        track = hashlib.sha256(json.dumps(mask_track, sort_keys=True, default=str).encode())
    else:
        track = hashlib.sha256(_file_digest(Path(os.fspath(mask_track)), WHOLE_HASH_BYTES))
    for path in track_files:
        track.update(_file_digest(path, WHOLE_HASH_BYTES))
    plate = hashlib.sha256()
    for path in input_files:
        # A movie's head is hashed; a sequence's frames by name, size and mtime only.
        plate.update(_file_digest(path, HEAD_BYTES if len(input_files) == 1 else 0))
    return {
        "format": ANALYSIS_FORMAT,
        "version": _version(),
        "input": plate.hexdigest(),
        "frames": int(info.frame_count),
        "size": [int(info.width), int(info.height)],
        "mask_track": track.hexdigest(),
        "shot_cuts": [int(c) for c in cuts],
        "allow_damaged": bool(allow_damaged),
    }


def _version() -> str:
    # From the installed metadata: importing the package root here would be a cycle.
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("moebius-video")
    except PackageNotFoundError:
        return "unknown"


def _file_digest(path: Path, head: int) -> bytes:
    """Name, size and mtime of a file, and the hash of up to `head` first bytes (all of a
    file no larger)."""
    stat = path.stat()
    digest = hashlib.sha256(f"{path.name}\0{stat.st_size}\0{stat.st_mtime_ns}\0".encode())
    if head:
        with open(path, "rb") as file:
            digest.update(file.read(head))
    return digest.digest()


def key_digest(key: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()


# --- the sidecar -----------------------------------------------------------------------------


def write_analysis(path: str | os.PathLike, analysis: Any, key: Mapping[str, Any]) -> Path:
    """Write `analysis` (temporal.shot_analysis.ShotAnalysis) and its key to `path`,
    renamed into place whole; the windows filled for an older analysis are deleted."""
    path = Path(os.fspath(path))
    arrays = analysis.to_arrays()
    arrays["key"] = np.array(json.dumps(dict(key), sort_keys=True))
    _write_npz(path, arrays)
    folder = windows_folder(path)
    if folder.is_dir():
        for stale in folder.glob("window-*.npz"):
            stale.unlink(missing_ok=True)
    return path


def read_analysis(path: str | os.PathLike, key: Mapping[str, Any]) -> Any:
    """The ShotAnalysis in the sidecar at `path`, which must have been made for `key`.

    Raises OptionError (`--analysis`, exit 2) when the file is missing, is not a sidecar
    (or is damaged), or was made for another input, mask track or options: the message
    names the file and what differs."""
    from .temporal.shot_analysis import ShotAnalysis

    path = Path(os.fspath(path))
    if not path.is_file():
        raise OptionError(
            "analysis", f" {path}: no such file; write it with `moebius-video analyse` first"
        )
    limit = (1 << 20) + int(key["frames"]) * SIDECAR_BYTES_PER_FRAME
    try:
        arrays = read_npz(path, limit)
        stored = json.loads(str(arrays.pop("key")))
        if not isinstance(stored, dict):
            raise ValueError("key: not a mapping")
    except (ValueError, KeyError, OSError, EOFError, zipfile.BadZipFile) as error:
        raise OptionError(
            "analysis", f" {path}: not a moebius-video shot analysis, or damaged ({error})"
        ) from None
    differs = [KEY_NAMES.get(name, name) for name in key if stored.get(name) != key[name]]
    if differs:
        raise OptionError(
            "analysis",
            f" {path}: made for another shot or options: {', '.join(differs)} "
            "differ from this run's; run `moebius-video analyse` again",
        )
    try:
        return ShotAnalysis.from_arrays(arrays)
    except ValueError as error:
        raise OptionError("analysis", f" {path}: damaged shot analysis ({error})") from None


# --- filled windows ---------------------------------------------------------------------------


class WindowCache:
    """The windows filled for one shot, one npz file each in `folder`, shared by tasks.

    key: what every window of the run depends on (the shot key, the temporal options, the
    filler); `get` and `put` add the window's own span and crop box. Two tasks that miss
    the same window at once both fill it and write the same bytes; the last rename wins.
    A folder that cannot be written only costs the sharing (one warning).
    """

    def __init__(self, folder: str | os.PathLike, key: Mapping[str, Any]):
        self.folder = Path(os.fspath(folder))
        self.key = dict(key)
        self.hits = self.misses = 0
        self._warned = False

    def _file_key(self, window: int, first: int, stop: int, boxes) -> tuple[Path, str]:
        spans = [[int(v) for v in box] for box in boxes]
        key = {**self.key, "window": [window, first, stop, spans]}
        text = json.dumps(key, sort_keys=True, default=str)
        digest = hashlib.sha256(text.encode()).hexdigest()[:24]
        return self.folder / f"window-{window:06d}-{digest}.npz", text

    def get(self, window: int, first: int, stop: int, boxes) -> Any:
        """The FilledRegions stored for the window filled from the region crops `boxes`
        (frame pixels) of frames [first, stop), or None (absent, or not this run's)."""
        from .temporal.window import FilledRegions, FilledWindow

        path, text = self._file_key(window, first, stop, boxes)
        n = stop - first
        area = sum((y1 - y0) * (x1 - x0) for x0, y0, x1, y1 in boxes)
        try:
            # colours (16-bit at most), sources, alphas of the crops: more is not ours
            arrays = read_npz(path, n * area * (3 * 2 + 1 + 4) + (64 << 10))
            if str(arrays["key"]) != text or arrays["cuts"].ndim != 1:
                raise ValueError("not this window")
            if not np.issubdtype(arrays["cuts"].dtype, np.integer):
                raise ValueError("not this window")
            cuts = tuple(int(c) for c in arrays["cuts"])
            parts = []
            for i in range(int(arrays["parts"])):
                filled, sources = arrays[f"filled{i}"], arrays[f"sources{i}"]
                alphas = arrays[f"alphas{i}"]
                x0, y0, x1, y1 = (int(v) for v in arrays[f"box{i}"])  # frame pixels
                shape = (n, y1 - y0, x1 - x0)
                if (
                    not any(
                        bx0 <= x0 < x1 <= bx1 and by0 <= y0 < y1 <= by1
                        for bx0, by0, bx1, by1 in boxes
                    )
                    or filled.shape != (*shape, 3)
                    or filled.dtype not in (np.uint8, np.uint16)
                    or sources.shape != shape
                    or sources.dtype != np.uint8
                    or alphas.shape != shape
                    or alphas.dtype != np.float32
                ):
                    raise ValueError("not this window")
                parts.append(
                    FilledWindow(
                        first, (x0, y0, x1, y1), list(filled), list(sources), list(alphas), cuts
                    )
                )
            if not parts:
                raise ValueError("not this window")
        except (ValueError, KeyError, OSError, EOFError, zipfile.BadZipFile):
            self.misses += 1
            return None
        self.hits += 1
        return FilledRegions(tuple(parts))

    def put(self, window: int, first: int, stop: int, boxes, filled: Any) -> None:
        """Store a window (FilledRegions) this task filled from the region crops `boxes`
        of frames [first, stop)."""
        if filled.first_index != first or any(len(p.filled) != stop - first for p in filled.parts):
            return  # not the frames asked for: nothing another task could match
        path, text = self._file_key(window, first, stop, boxes)
        arrays = {
            "key": np.array(text),
            "parts": np.array(len(filled.parts), np.int64),
            "cuts": np.array(filled.cuts, np.int64),
        }
        for i, part in enumerate(filled.parts):
            arrays[f"box{i}"] = np.array(part.box, np.int64)
            arrays[f"filled{i}"] = np.stack(part.filled)
            arrays[f"sources{i}"] = np.stack(part.sources)
            arrays[f"alphas{i}"] = np.stack(part.alphas).astype(np.float32, copy=False)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            _write_npz(path, arrays)
        except (OSError, ValueError) as error:
            if not self._warned:
                self._warned = True
                warnings.warn(
                    f"{self.folder}: filled windows are not shared with other tasks ({error})",
                    stacklevel=2,
                )


def window_key(shot: Mapping[str, Any], temporal: Any, filler: Any, spec: Any) -> dict[str, Any]:
    """What every window of a run depends on beyond its own frames: the shot's key, the
    temporal options (not the debug preview's), the filler and its checkpoint file."""
    options = {k: v for k, v in asdict(temporal).items() if not k.startswith("save_debug")}
    weights = None
    if spec.weights is not None and Path(os.fspath(spec.weights)).is_file():
        weights = _file_digest(Path(os.fspath(spec.weights)), HEAD_BYTES).hex()
    return {
        "format": WINDOW_FORMAT,
        "shot": key_digest(shot),
        "temporal": options,
        "filler": [getattr(filler, "name", type(filler).__name__), str(spec), weights],
        "device": str(getattr(filler, "device", "")),
    }


# --- bounded npz files ------------------------------------------------------------------------


def read_npz(path: Path, limit: int) -> dict[str, np.ndarray]:
    """The arrays of an npz file, refusing (ValueError) objects, members larger than they
    say, and more than `limit` bytes in all, before allocating them."""
    if path.stat().st_size > limit:
        raise ValueError(f"{path.stat().st_size} bytes, more than the {limit} expected")
    arrays = {}
    with zipfile.ZipFile(path) as archive:
        members = archive.infolist()
        if sum(m.file_size for m in members) > limit:
            raise ValueError(f"holds more than the {limit} bytes expected")
        for member in members:
            if not member.filename.endswith(".npy"):
                raise ValueError(f"{member.filename}: not an array")
            with archive.open(member) as file:
                version = np.lib.format.read_magic(file)
                reader = (
                    np.lib.format.read_array_header_1_0
                    if version == (1, 0)
                    else np.lib.format.read_array_header_2_0
                )
                shape, _, dtype = reader(file)
                if dtype.hasobject:
                    raise ValueError(f"{member.filename}: holds objects")
                if int(np.prod(shape, dtype=np.int64)) * dtype.itemsize > member.file_size:
                    raise ValueError(f"{member.filename}: shape {shape} larger than its data")
            with archive.open(member) as file:
                arrays[member.filename.removesuffix(".npy")] = np.lib.format.read_array(
                    file, allow_pickle=False
                )
    return arrays


def _write_npz(path: Path, arrays: Mapping[str, np.ndarray]) -> None:
    """np.savez to a temporary file beside `path`, renamed into place whole."""
    # Not mkstemp: its 0600 would keep the farm's other users from reading the file.
    temp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    handle = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(handle, "wb") as file:
            np.savez(file, **arrays)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
