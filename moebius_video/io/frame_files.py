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
- an EXR plate (`frame.plate`, from an EXR sequence) written as EXR keeps its own header
  and channels: half stays half, windows, compression, alpha and extra channels are
  kept, and only masked values change (`io.exr`);
- the source's alpha is written with the frame (RGBA PNG and TIFF, an A channel in
  EXR), unchanged: the fill never paints alpha;
- each file is written under a temporary name and renamed, so a killed run leaves only
  whole frames, and `skip_existing` then renders just the missing ones. Temporary files
  that a dead process left behind are removed.
"""

from __future__ import annotations

import io
import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import av
import numpy as np

from ..errors import OptionError
from ..patches import FramePatch
from ..paths import frame_path, is_image_pattern
from . import exr
from .composite import composite
from .info import DecodedFrame
from .pixels import has_alpha
from .temp_files import frame_temp, remove_stale_temps

# Per-frame formats: extension -> (PyAV encoder, pixel format by bit depth; with alpha).
IMAGE_FORMATS = {
    ".png": ("png", {8: "rgb24", 16: "rgb48be"}, {8: "rgba", 16: "rgba64be"}),
    ".tif": ("tiff", {8: "rgb24", 16: "rgb48le"}, {8: "rgba", 16: "rgba64le"}),
    ".tiff": ("tiff", {8: "rgb24", 16: "rgb48le"}, {8: "rgba", 16: "rgba64le"}),
    ".exr": ("exr", {8: "gbrpf32le", 16: "gbrpf32le"}, {8: "gbrapf32le", 16: "gbrapf32le"}),
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
        self._clip_warned = False

    def open(self) -> FrameFileWriter:
        """Clear stale temporary files of the frames to render, and make the folder (farm
        outputs go to per-shot folders that may not exist yet, as Nuke's Write does)."""
        _remove_stale_temps([self.paths[i] for i in self.todo])
        self.pattern.parent.mkdir(parents=True, exist_ok=True)
        return self

    def write(self, frame: DecodedFrame, patches: Sequence[FramePatch]) -> None:
        """Composite `patches` over the decoded frame's RGB and write its file atomically."""
        path = self.paths[frame.index]
        if frame.plate is not None:
            self._write_plate(path, frame.plate.composited(patches))
        else:
            # Without a source frame, io.composite blends in RGB and returns the array.
            rgb = composite(DecodedFrame(frame.index, frame.pts, frame.rgb, None), patches)
            write_frame_file(path, rgb, self._encoder, source_alpha(frame, rgb.dtype))
        self.written += 1

    def _write_plate(self, path: Path, plate: exr.ExrPlate) -> None:
        if self._encoder[0] == "exr":
            buffer = io.BytesIO()
            exr.write_exr(buffer, plate)
            _publish_bytes(path, buffer.getvalue())
            return
        # A float plate into 16-bit PNG/TIFF: the code values clipped to [0, 1].
        linear = plate.linear_rgb()
        alpha = plate.channels.get(exr.ALPHA)
        if not self._clip_warned and (linear.min() < 0 or linear.max() > 1):
            warnings.warn(
                f"{plate.path}: values outside [0, 1] are clipped in {self.pattern.suffix} "
                "files; write .exr to keep them",
                stacklevel=3,
            )
            self._clip_warned = True

        def to16(values: np.ndarray) -> np.ndarray:
            # float64 first: 65535 itself overflows a half.
            return np.rint(np.clip(values.astype(np.float64), 0, 1) * 65535).astype(np.uint16)

        write_frame_file(path, to16(linear), self._encoder, None if alpha is None else to16(alpha))

    def __enter__(self) -> FrameFileWriter:
        return self.open()

    def __exit__(self, *exc_info) -> None:
        pass  # every file is already whole (or was never renamed into place)


def source_alpha(frame: DecodedFrame, dtype: np.dtype) -> np.ndarray | None:
    """A frame's alpha as H x W samples of `dtype` (uint8 or uint16, as its RGB): an
    image's own, or a movie frame's converted by swscale; None when the source has none."""
    if frame.alpha is not None:
        return frame.alpha
    source = frame.source
    if source is None or not has_alpha(source.format.name):
        return None
    rgba = source.reformat(format="rgba" if dtype == np.uint8 else "rgba64le").to_ndarray()
    return np.ascontiguousarray(rgba[:, :, 3])


def write_frame_file(
    path: Path,
    rgb: np.ndarray,
    encoder: tuple[str, dict[int, str], dict[int, str]],
    alpha: np.ndarray | None = None,
) -> None:
    """Encode one RGB frame (and its alpha, H x W of the same dtype) with PyAV and write
    it atomically (temp file, then rename)."""
    codec_name, formats, alpha_formats = encoder
    depth = 16 if rgb.dtype == np.uint16 else 8
    pix_fmt = formats[depth] if alpha is None else alpha_formats[depth]
    array = rgb if alpha is None else np.concatenate([rgb, alpha[:, :, None]], axis=2)
    if pix_fmt.endswith("f32le"):
        array = array.astype(np.float32) / float(np.iinfo(rgb.dtype).max)
    # from_ndarray takes native-endian samples for both rgb48be and rgb48le.
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(array), format=pix_fmt)
    codec = av.CodecContext.create(codec_name, "w")
    codec.width, codec.height, codec.pix_fmt = rgb.shape[1], rgb.shape[0], pix_fmt
    data = b"".join(bytes(packet) for packet in [*codec.encode(frame), *codec.encode(None)])
    _publish_bytes(path, data)


def _publish_bytes(path: Path, data: bytes) -> None:
    """Write one frame file's bytes under a temporary name, then rename it into place."""
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
    when given). An EXR's size is its data window's, read by `io.exr` where installed."""
    if path.suffix.lower() == ".exr" and exr.available():
        return exr.is_whole_exr(path, size)
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
