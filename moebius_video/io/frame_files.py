"""The one writer of image-sequence output: one `.png`, `.tif` or `.exr` file per frame.

    with FrameFileWriter("clean/shot.%04d.png", frame_base=1001, frame_range=(0, 100)) as out:
        for frame in out.todo:            # the frames to render (all, or the missing ones)
            out.write(frame, patches)     # -> clean/shot.1001.png, ...

Every entry point (the API, the hook, the CLI, farm chunks and batch shots) writes
sequences through this class, so they agree:
- files are numbered by clip frame: index + the mask track's `frame_base`;
- patches are composited over our own decode of the frame, in its RGB code values at
  the source's bit depth, so every pixel outside the mask is bit-identical to the
  decoded input (8-bit sources give 8-bit files, deeper ones 16-bit; EXR holds the same
  code values as 32-bit floats in [0, 1], with no colour transform);
- each file is written under a temporary name and renamed, so a killed run leaves only
  whole frames, and `skip_existing` then renders just the missing ones. Temporary files
  that a dead process left behind are removed.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import av
import numpy as np

from ..errors import OptionError
from ..patches import FramePatch
from ..paths import frame_path, is_image_pattern
from .composite import composite
from .info import DecodedFrame
from .temp_files import frame_temp, remove_stale_temps

# Per-frame formats: extension -> (PyAV encoder, pixel format by bit depth).
IMAGE_FORMATS = {
    ".png": ("png", {8: "rgb24", 16: "rgb48be"}),
    ".tif": ("tiff", {8: "rgb24", 16: "rgb48le"}),
    ".tiff": ("tiff", {8: "rgb24", 16: "rgb48le"}),
    ".exr": ("exr", {8: "gbrpf32le", 16: "gbrpf32le"}),
}


def image_format(pattern: str | os.PathLike) -> str:
    """The encoder name for an image pattern's extension (png, tiff, exr); UsageError else."""
    suffix = Path(os.fspath(pattern)).suffix.lower()
    if suffix not in IMAGE_FORMATS:
        choices = ", ".join(IMAGE_FORMATS)
        raise OptionError("output", f" {pattern}: per-frame output must end in one of {choices}")
    return IMAGE_FORMATS[suffix][0]


class FrameFileWriter:
    """Writes frames [start, stop) of a clip as files named by `pattern`.

    pattern: `name.%04d.png` / `name.####.exr` (checked with `paths.is_image_pattern`).
    frame_base: added to a frame's 0-based index to give its file number.
    skip_existing: keep files already there (`todo` leaves them out) that decode at
        `frame_size` (width, height); the others are rendered again (`redone`).
        Otherwise an existing file in the range needs `overwrite`.
    The checks run here, before any frame is decoded or filled.
    """

    def __init__(
        self,
        pattern: str | os.PathLike,
        frame_base: int,
        frame_range: tuple[int, int],
        *,
        overwrite: bool = False,
        skip_existing: bool = False,
        frame_size: tuple[int, int] | None = None,
    ) -> None:
        self.pattern = Path(os.fspath(pattern))
        if not is_image_pattern(self.pattern):
            raise OptionError("output", f" {self.pattern}: not a frame pattern (e.g. out.%04d.png)")
        image_format(self.pattern)  # UsageError for an extension we cannot write
        self._encoder = IMAGE_FORMATS[self.pattern.suffix.lower()]
        folder = self.pattern.parent
        if folder.exists() and not folder.is_dir():
            raise OptionError("output", f" {self.pattern}: {folder} is not a folder")
        self.frame_base = frame_base
        start, stop = frame_range
        self.paths = {i: frame_path(self.pattern, i + frame_base) for i in range(start, stop)}
        existing = [i for i, p in self.paths.items() if p.exists()]
        if existing and not skip_existing and not overwrite:
            raise OptionError(
                "output",
                f" {self.pattern}: {self.paths[existing[0]]} already exists "
                "(use --skip-existing to keep it, or -y to render it again)",
            )
        keep = set(existing) if skip_existing else set()
        # A kept file must decode at the video's size: a truncated, empty or foreign one is
        # rendered again (and said so), never passed on as a frame.
        self.redone = [
            i for i in sorted(keep) if not is_whole_frame_file(self.paths[i], frame_size)
        ]
        keep -= set(self.redone)
        self.todo = [i for i in range(start, stop) if i not in keep]
        self.skipped = len(keep)
        self.written = 0

    def open(self) -> FrameFileWriter:
        """Clear stale temporary files of the frames to render, and make the folder (farm
        outputs go to per-shot folders that may not exist yet, as Nuke's Write does)."""
        _remove_stale_temps([self.paths[i] for i in self.todo])
        self.pattern.parent.mkdir(parents=True, exist_ok=True)
        return self

    def write(self, frame: DecodedFrame, patches: Sequence[FramePatch]) -> None:
        """Composite `patches` over the decoded frame's RGB and write its file atomically."""
        # Without a source frame, io.composite blends in RGB and returns the array.
        rgb = composite(DecodedFrame(frame.index, frame.pts, frame.rgb, None), patches)
        write_frame_file(self.paths[frame.index], rgb, self._encoder)
        self.written += 1

    def __enter__(self) -> FrameFileWriter:
        return self.open()

    def __exit__(self, *exc_info) -> None:
        pass  # every file is already whole (or was never renamed into place)


def write_frame_file(path: Path, rgb: np.ndarray, encoder: tuple[str, dict[int, str]]) -> None:
    """Encode one RGB frame with PyAV and write it atomically (temp file, then rename)."""
    codec_name, formats = encoder
    depth = 16 if rgb.dtype == np.uint16 else 8
    pix_fmt = formats[depth]
    if pix_fmt == "gbrpf32le":
        array = rgb.astype(np.float32) / float(np.iinfo(rgb.dtype).max)
    else:
        array = rgb
    # from_ndarray takes native-endian samples for both rgb48be and rgb48le.
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(array), format=pix_fmt)
    codec = av.CodecContext.create(codec_name, "w")
    codec.width, codec.height, codec.pix_fmt = rgb.shape[1], rgb.shape[0], pix_fmt
    data = b"".join(bytes(packet) for packet in [*codec.encode(frame), *codec.encode(None)])
    temp = frame_temp(path)
    try:
        with open(temp, "xb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp, path)
    except OSError as error:
        if error.filename is None:  # a write: name the frame the user will look for
            raise OSError(error.errno, error.strerror, str(path)) from None
        raise
    finally:
        if temp.exists():
            temp.unlink()


def is_whole_frame_file(path: Path, size: tuple[int, int] | None) -> bool:
    """Whether an existing frame file decodes (to one picture of `size`, width x height,
    when given)."""
    try:
        with av.open(str(path), metadata_errors="replace") as container:
            frames = list(container.decode(video=0))
    except (av.FFmpegError, OSError, IndexError, ValueError):
        return False
    if len(frames) != 1:
        return False
    return size is None or (frames[0].width, frames[0].height) == tuple(size)


def _remove_stale_temps(paths: list[Path]) -> None:
    """Delete temp files that a killed task left for these frames (their writer is gone)."""
    for path in paths:
        remove_stale_temps(path, hidden=False)
