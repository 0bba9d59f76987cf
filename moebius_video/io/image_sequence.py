"""Image sequences as clips: "shot.%04d.png", "shot.####.png", or a folder of PNGs.

    with open_video("plates/shot.%04d.png", fps=24) as video:
        for frame in video.frames():
            frame.rgb  # uint8, or uint16 for 16-bit PNGs

A printf pattern starts at the lowest number found on disk and must have no gaps; a
folder is read in natural name order (frame2.png before frame10.png). Frame i has pts i
in a time base of 1/fps. PNGs (8 and 16 bit, gray, RGB, RGBA: the alpha rides along in
each frame's `alpha`, never filled) are read with OpenCV. OpenEXR plates are read by
`io.exr` (the `[exr]` extra) exactly as stored: each frame's `plate` holds every channel
in its own type, and its `rgb` is the plate's working image for the fill (R, G, B in
ACEScct as 16-bit codes; see `io.exr`).
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from ..errors import MediaError, UsageError
from ..paths import is_image_pattern, normalize_pattern, pattern_regex
from . import exr
from .info import DecodedFrame, VideoInfo
from .pixels import ColorTags

IMAGE_SUFFIXES = (".png", ".exr")


def is_image_sequence(text: str) -> bool:
    """True for folders, printf/# patterns and single image files."""
    if os.path.isdir(text):
        return True
    return is_image_pattern(text) or os.path.basename(text).lower().endswith(IMAGE_SUFFIXES)


def _natural_key(name: str) -> list:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def _trailing_number(name: str) -> int:
    numbers = re.findall(r"\d+", Path(name).stem)
    return int(numbers[-1]) if numbers else 0


def find_sequence_files(text: str) -> tuple[list[Path], int]:
    """The files of a sequence in frame order, and the number of the first one."""
    if os.path.isdir(text):
        folder = Path(text)
        names = [
            p.name for p in folder.iterdir() if p.is_file() and p.suffix.lower() == ".png"
        ] or [p.name for p in folder.iterdir() if p.is_file() and p.suffix.lower() == ".exr"]
        if not names:
            raise MediaError(f"{text}: folder holds no .png or .exr images")
        names.sort(key=_natural_key)
        return [folder / n for n in names], _trailing_number(names[0])
    path = Path(text)
    name = normalize_pattern(path.name)
    if not is_image_pattern(name):
        if not path.is_file():
            raise MediaError(f"{text}: no such file")
        return [path], _trailing_number(path.name)
    folder = path.parent
    if not folder.is_dir():
        raise MediaError(f"{text}: folder {folder} does not exist")
    regex = pattern_regex(name)
    numbered = {}
    for entry in folder.iterdir():
        match = regex.match(entry.name)
        if match and entry.is_file():
            numbered[int(match.group(1))] = entry
    if not numbered:
        raise MediaError(f"{text}: no files match the pattern")
    first, last = min(numbered), max(numbered)
    missing = [n for n in range(first, last + 1) if n not in numbered]
    if missing:
        raise MediaError(
            f"{text}: {len(missing)} frame(s) missing between {first} and {last}, "
            f"first missing: {folder / (name % missing[0])}"
        )
    return [numbered[n] for n in range(first, last + 1)], first


def read_image(path: Path) -> np.ndarray:
    """One image as H x W x 3 RGB, uint8 or uint16; MediaError naming the file otherwise."""
    return read_image_and_alpha(path)[0]


def read_image_and_alpha(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """One image as H x W x 3 RGB, uint8 or uint16, and its alpha (H x W, same type) or
    None; MediaError naming the file otherwise. (An EXR's RGB is its working image.)"""
    if path.suffix.lower() == ".exr":
        return _read_exr(path), None
    try:
        data = np.fromfile(path, dtype=np.uint8)  # cv2.imread mishandles non-ASCII paths
    except OSError as error:
        raise MediaError(f"{path}: cannot be read: {error.strerror}") from None
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if image is None:
        raise MediaError(f"{path}: not a readable image")
    if image.dtype not in (np.uint8, np.uint16):
        raise MediaError(f"{path}: {image.dtype} samples are not supported (8 or 16 bit)")
    if image.ndim == 2:
        return np.repeat(image[:, :, None], 3, axis=2), None
    alpha = np.ascontiguousarray(image[:, :, 3]) if image.shape[2] == 4 else None
    return np.ascontiguousarray(image[:, :, 2::-1]), alpha  # OpenCV is BGR(A)


def _read_exr(path: Path) -> np.ndarray:
    return exr.read_exr(path).working_rgb()


class ImageSequenceReader:
    """Reads a sequence of images like a clip. Create with `open_video`."""

    def __init__(self, text: str, fps: Fraction | int | float = 24) -> None:
        self.path = text
        try:
            rate = Fraction(fps).limit_denominator(1001000)
        except (TypeError, ValueError):
            raise UsageError(f"fps must be a positive number, got {fps!r}") from None
        if rate <= 0:
            raise UsageError(f"fps must be a positive number, got {fps}")
        self._files, start_number = find_sequence_files(text)
        self._exr_layout = None  # an EXR sequence: the first plate's windows and channels
        self.has_alpha = False  # alpha the output keeps (RGBA PNGs, an EXR plate's A)
        if self._files[0].suffix.lower() == ".exr":
            plate = exr.read_exr(self._files[0])
            self._exr_layout, self.has_alpha = plate.layout(), plate.has_alpha
            first = plate.working_rgb()
            self._check_exr_headers()
            self._warn_about(plate)
        else:
            first, alpha = read_image_and_alpha(self._files[0])
            self.has_alpha = alpha is not None
        height, width = first.shape[:2]
        self._shape, self._dtype = first.shape, first.dtype
        deep = first.dtype == np.uint16
        self.info = VideoInfo(
            path=text,
            width=width,
            height=height,
            frame_count=len(self._files),
            time_base=1 / rate,
            average_rate=rate,
            is_vfr=False,
            rotation=0,
            pix_fmt="rgb48le" if deep else "rgb24",
            bit_depth=16 if deep else 8,
            color=ColorTags(transfer="linear") if self._files[0].suffix == ".exr" else ColorTags(),
            stream_index=None,
            start_number=start_number,
            codec="exr" if self._files[0].suffix.lower() == ".exr" else "png",
            field_order="progressive",
        )

    def frames(self, start: int = 0, stop: int | None = None) -> Iterator[DecodedFrame]:
        """Frames start..stop-1 (0-based); file i of the sequence is frame i."""
        count = self.info.frame_count
        stop = count if stop is None else stop
        if not (0 <= start < stop <= count):
            raise UsageError(
                f"{self.path}: frame range {start}-{stop - 1} is outside the sequence "
                f"(frames 0-{count - 1})"
            )
        return self._frames(start, stop)

    def _check_exr_headers(self) -> None:
        """Every file's data window and channel names against the first's, from the headers
        alone (microseconds a file), so a mismatch stops the run before any output."""
        window, channels = self._exr_layout
        expected = (window, tuple(name for name, _ in channels))
        for path in self._files[1:]:
            found = exr.header_layout(path)
            if found != expected:
                raise MediaError(
                    f"{path}: {exr.describe_layout(found)} differs from the first image of "
                    f"the sequence ({self._files[0].name}: {exr.describe_layout(expected)})"
                )

    @staticmethod
    def _warn_about(plate: exr.ExrPlate) -> None:
        """Once per sequence: what about the first plate the user should know."""
        if plate.windows_differ():
            (x0, y0, x1, y1), _ = plate.layout()
            warnings.warn(
                f"{plate.path}: the data window ({x0}, {y0})-({x1}, {y1}) differs from the "
                f"display window; the fill works on the data window ({plate.width}x"
                f"{plate.height}), so the mask track's (0, 0) is its top-left corner; both "
                "windows are kept in the output",
                stacklevel=4,
            )
        if plate.compression_name() in exr.INEXACT:
            warnings.warn(
                f"{plate.path}: {plate.compression_name()} is lossy in blocks of pixels, so "
                "an EXR output with the same compression changes some values outside the "
                "mask too (B44: in the 4x4 blocks the mask touches; DWA: anywhere); convert "
                "the plates to ZIP or PIZ for an exact result",
                stacklevel=4,
            )

    def _frames(self, start: int, stop: int) -> Iterator[DecodedFrame]:
        for index in range(start, stop):
            path = self._files[index]
            if self._exr_layout is not None:
                yield self._exr_frame(index, path)
                continue
            rgb, alpha = read_image_and_alpha(path)
            if rgb.shape != self._shape or rgb.dtype != self._dtype:
                raise MediaError(
                    f"{path}: {rgb.shape[1]}x{rgb.shape[0]} {rgb.dtype} differs from the first "
                    f"image of the sequence ({self._shape[1]}x{self._shape[0]} {self._dtype})"
                )
            if (alpha is not None) != self.has_alpha:
                have, first = ("has", "has none") if alpha is not None else ("has no", "has one")
                raise MediaError(
                    f"{path}: {have} alpha channel, and the first image of the sequence "
                    f"({self._files[0].name}) {first}"
                )
            yield DecodedFrame(index=index, pts=index, rgb=rgb, source=None, alpha=alpha)

    def _exr_frame(self, index: int, path: Path) -> DecodedFrame:
        plate = exr.read_exr(path)
        if plate.layout() != self._exr_layout:
            raise MediaError(
                f"{path}: {exr.describe_layout(plate.layout())} differs from the first image "
                f"of the sequence ({self._files[0].name}: {exr.describe_layout(self._exr_layout)})"
            )
        return DecodedFrame(index=index, pts=index, rgb=plate.working_rgb(), plate=plate)

    def close(self) -> None:
        pass

    def __enter__(self) -> ImageSequenceReader:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def __len__(self) -> int:
        return self.info.frame_count
