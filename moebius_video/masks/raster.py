"""Raster mask sources: PNG sequences, a single PNG, COCO run-length masks, matte videos.

Each source gives a bool mask (True = remove) on its own canvas for a frame *number* (the
clip's frame index + frame_base, like keyframe frames):

- PNG printf pattern (`masks/%05d.png`): the number in a file name is its frame number.
- PNG directory: `*.png` files (hidden files skipped) in natural name order (`m2` before
  `m10`); the first file is the track's first frame (its `range` start, else `frame_base`).
- Single PNG: the same mask on every frame.
- COCO RLE: frames named by number; frames not listed are empty. A frame may list several
  RLE objects (one per object, as SAM writes them): their union is the mask.
- Matte video: frame k of the matte is the track's first frame + k; luma > 0.5 = remove.
  It is decoded with PyAV as a stream: sequential reads decode forward, a jump seeks to the
  nearest key frame before it; the last few masks are kept, bit-packed, in a small cache.

A grey PNG counts non-zero pixels; an image with an alpha channel that is not fully opaque
counts non-zero alpha, otherwise its non-zero colour.

Paths (untrusted input). A mask track has the authority of the command line that names it: a
TD writes absolute paths into shared shot trees (`/shows/x/shots/y/roto/`) and `..` between
sibling folders, so both are allowed, and symlinks to regular files are followed. What is
refused: anything that is not a regular file (a FIFO would block the read, `/dev/zero` would
never end), files larger than a sanity limit, and images whose PNG header says a size other
than the canvas (checked before decoding, so a crafted header cannot allocate gigabytes).
Callers that take mask tracks from a less trusted place (the NLE hook protocol) can pass
`confine_to=<folder>`, which refuses absolute paths and any path that resolves outside that
folder. Nothing here evaluates or unpickles anything.
"""

from __future__ import annotations

import os
import re
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..paths import is_image_pattern, normalize_pattern
from .files import SourceError, read_regular, resolve_source_path
from .spec import RasterSourceSpec, RleMask

MAX_PNG_BYTES = 1 << 30
MAX_RLE_CHARS_PER_COUNT = 12  # 60 bits; pycocotools never writes more than 7 for 32-bit runs
_CACHE_FRAMES = 16
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PRINTF_INT = re.compile(r"%(0?\d*)d")
_SEQUENTIAL_SEEK_GAP = 24  # decode forward rather than seek for gaps up to this many frames


@dataclass(frozen=True)
class Canvas:
    """The size every mask of a source must have, and what to call it in errors."""

    width: int
    height: int
    name: str = "the canvas size"


def _png_size(path: Path) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk, without decoding the image."""
    head = read_regular(path, MAX_PNG_BYTES, head=24)
    if len(head) < 24 or head[:8] != _PNG_SIGNATURE or head[12:16] != b"IHDR":
        raise SourceError(f"{path}: not a PNG file")
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


def _decode_png_mask(path: Path) -> np.ndarray:
    data = read_regular(path, MAX_PNG_BYTES)
    image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise SourceError(f"{path}: cannot decode the PNG (truncated or corrupt?)")
    return image_to_mask(image)


def image_to_mask(image: np.ndarray) -> np.ndarray:
    """Mask (True = remove) of a decoded grey, grey+alpha, colour or colour+alpha image."""
    if image.ndim == 2:
        return image != 0
    if image.shape[2] in (2, 4):
        alpha = image[..., -1]
        if alpha.min() < np.iinfo(alpha.dtype).max:
            return alpha != 0
        image = image[..., :-1]
    return image.any(axis=2)


def _natural_key(name: str) -> list:
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


# ---------------------------------------------------------------------------------------------
# Sources


def _trailing_number(name: str) -> int | None:
    """The number at the end of a file name's stem (roto.0012.png -> 12), or None."""
    match = re.search(r"(\d+)$", name.rsplit(".", 1)[0])
    return int(match.group(1)) if match else None


class RasterSource:
    """Base: a canvas size, the frame numbers it covers, and masks with a small cache."""

    width: int
    height: int
    frames: tuple[int, int] | None  # first, last frame number it holds; None = every frame

    def __init__(self) -> None:
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()

    def mask(self, frame: int) -> np.ndarray:
        """bool height x width mask for frame number `frame`."""
        packed = self._cache.get(frame)
        if packed is not None:
            self._cache.move_to_end(frame)
            return self._unpack(packed)
        mask = self._read(frame)
        self._remember(frame, mask)
        return mask

    def files(self) -> list[Path]:
        """The files this source reads (none for masks held in the track itself)."""
        path = getattr(self, "path", None)
        return [path] if path is not None else []

    def missing(self, first: int, last: int) -> list[int]:
        """Frame numbers in [first, last] this source has no mask for (the caller bounds the
        range by the clip, so the list stays small)."""
        if self.frames is None:
            return []
        lo, hi = self.frames
        return [f for f in range(first, last + 1) if not lo <= f <= hi]

    def close(self) -> None:
        self._cache.clear()

    def _read(self, frame: int) -> np.ndarray:
        raise NotImplementedError

    def _remember(self, frame: int, mask: np.ndarray) -> None:
        self._cache[frame] = np.packbits(mask)  # 1 bit a pixel: 0.25 MB at 1080p
        self._cache.move_to_end(frame)
        while len(self._cache) > _CACHE_FRAMES:
            self._cache.popitem(last=False)

    def _unpack(self, packed: np.ndarray) -> np.ndarray:
        count = self.width * self.height
        return np.unpackbits(packed, count=count).view(bool).reshape(self.height, self.width)

    def _check_size(self, width: int, height: int, what: str) -> None:
        if (width, height) != (self.width, self.height):
            raise SourceError(
                f"{what} is {width}x{height}, expected {self.canvas.name} "
                f"{self.width}x{self.height}"
            )

    def _set_canvas(self, canvas: Canvas) -> None:
        self.canvas = canvas
        self.width, self.height = canvas.width, canvas.height


class StaticPngSource(RasterSource):
    """One PNG: the same mask on every frame."""

    is_static = True  # tracks rasterise it once

    def __init__(self, path: Path, canvas: Canvas) -> None:
        super().__init__()
        self.path = path
        self._set_canvas(canvas)
        self._check_size(*_png_size(path), what=str(path))  # before decoding it
        self.frames = None
        self._static = _decode_png_mask(path)
        self._check_size(self._static.shape[1], self._static.shape[0], what=str(path))

    def mask(self, frame: int) -> np.ndarray:
        return self._static


class PngSequenceSource(RasterSource):
    """Numbered PNGs: a printf pattern (numbers are frame numbers) or a directory (in order
    from first_frame)."""

    def __init__(self, files: dict[int, Path], canvas: Canvas) -> None:
        super().__init__()
        if not files:
            raise SourceError("no PNG files found")
        self.files_by_number = dict(sorted(files.items()))
        numbers = list(self.files_by_number)
        self.frames = (numbers[0], numbers[-1])
        self._set_canvas(canvas)
        for path in self.files_by_number.values():  # headers only: a few bytes per file
            self._check_size(*_png_size(path), what=str(path))

    @classmethod
    def from_pattern(cls, pattern: Path, canvas: Canvas, text: str) -> PngSequenceSource:
        name = normalize_pattern(pattern.name)  # roto.####.png, roto.@@@@.png: %04d
        conversions = _PRINTF_INT.findall(name)
        if len(conversions) != 1 or name.count("%") != 1 or "%" in str(pattern.parent):
            raise SourceError(
                f"{text}: expected one frame number like %04d, #### or %d in the file name"
            )
        prefix, suffix = _PRINTF_INT.split(name)[0], _PRINTF_INT.split(name)[-1]
        matcher = re.compile(re.escape(prefix) + r"(-?\d+)" + re.escape(suffix))
        folder = pattern.parent
        if not folder.is_dir():
            raise SourceError(f"{text}: folder {folder} not found")
        files = {}
        for entry in os.scandir(folder):
            match = matcher.fullmatch(entry.name)
            # Round trip: "%04d" must not pick up both 0017.png and 017.png.
            if match and (name % int(match.group(1))) == entry.name:
                files[int(match.group(1))] = folder / entry.name
        if not files:
            raise SourceError(f"{text}: no files match the pattern in {folder}")
        return cls(files, canvas)

    @classmethod
    def from_directory(
        cls, folder: Path, first_frame: int, canvas: Canvas, text: str
    ) -> PngSequenceSource:
        names = sorted(
            (
                entry.name
                for entry in os.scandir(folder)
                if not entry.name.startswith(".") and entry.name.lower().endswith(".png")
            ),
            key=_natural_key,
        )
        if not names:
            raise SourceError(f"{text}: no .png files in the folder {folder}")
        numbers = [_trailing_number(name) for name in names]
        if None not in numbers and len(set(numbers)) == len(numbers):
            # numbered files (roto.0001.png ...): a number missing in the middle is a
            # missing mask, not the next file moved up
            first = min(numbers)
            files = {
                first_frame + n - first: folder / name
                for n, name in zip(numbers, names, strict=True)
            }
        else:
            files = {first_frame + k: folder / name for k, name in enumerate(names)}
        return cls(files, canvas)

    def files(self) -> list[Path]:
        return list(self.files_by_number.values())

    def missing(self, first: int, last: int) -> list[int]:
        return [f for f in range(first, last + 1) if f not in self.files_by_number]

    def _read(self, frame: int) -> np.ndarray:
        path = self.files_by_number.get(frame)
        if path is None:
            return np.zeros((self.height, self.width), dtype=bool)
        mask = _decode_png_mask(path)
        self._check_size(mask.shape[1], mask.shape[0], what=str(path))
        return mask


class CocoRleSource(RasterSource):
    """COCO run-length masks by frame number; frames not listed are empty."""

    def __init__(self, spec: RasterSourceSpec, canvas: Canvas) -> None:
        super().__init__()
        self._set_canvas(canvas)
        self.runs: dict[int, list[np.ndarray]] = {}
        for frame, masks in spec.rle_frames:
            self.runs[frame] = [self._decode_counts(m) for m in masks]
        numbers = sorted(self.runs)
        self.frames = (numbers[0], numbers[-1])

    def _decode_counts(self, rle: RleMask) -> np.ndarray:
        if (rle.height, rle.width) != (self.height, self.width):
            raise _RleError(
                f"{rle.json_path}.size",
                f"expected [{self.height}, {self.width}] (the canvas height, width), got "
                f"[{rle.height}, {rle.width}]",
            )
        if isinstance(rle.counts, str):
            try:
                counts = decode_rle_string(rle.counts)
            except ValueError as exc:
                raise _RleError(f"{rle.json_path}.counts", str(exc)) from None
        else:
            counts = np.asarray(rle.counts, dtype=np.int64)
        pixels = rle.height * rle.width
        if counts.size > pixels + 1:
            raise _RleError(f"{rle.json_path}.counts", f"more runs ({counts.size}) than pixels")
        if counts.size and counts.min() < 0:
            raise _RleError(f"{rle.json_path}.counts", "decodes to a negative run length")
        if counts.size and counts.max() > pixels:
            # A run longer than the mask (or a sum that wraps around int64) must never
            # reach np.repeat.
            raise _RleError(
                f"{rle.json_path}.counts",
                f"decodes to a run of {int(counts.max())} pixels, more than the "
                f"{rle.height} x {rle.width} of the mask",
            )
        total = int(counts.sum())
        if total != rle.height * rle.width:
            raise _RleError(
                f"{rle.json_path}.counts",
                f"runs cover {total} pixels, expected {rle.height} x {rle.width} = "
                f"{rle.height * rle.width}",
            )
        return counts

    def missing(self, first: int, last: int) -> list[int]:
        return []  # sparse by design

    def _read(self, frame: int) -> np.ndarray:
        mask = np.zeros((self.height, self.width), dtype=bool)
        for counts in self.runs.get(frame, []):
            mask |= rle_counts_to_mask(counts, self.height, self.width)
        return mask


class _RleError(SourceError):
    def __init__(self, json_path: str, message: str) -> None:
        super().__init__(message)
        self.json_path = json_path


def decode_rle_string(text: str) -> np.ndarray:
    """Counts from the compressed COCO RLE string (pycocotools' rleFrString), vectorised.

    Each count is written in 5-bit groups, least significant first, as characters from 48
    ('0'): bit 0x20 says "more groups follow", bit 0x10 of the last group is the sign. From
    the fourth count on, each count is stored as a difference to the count two before it.
    """
    codes = np.frombuffer(text.encode("ascii"), dtype=np.uint8).astype(np.int64) - 48
    if codes.size == 0:
        return np.zeros(0, dtype=np.int64)
    if codes.min() < 0 or codes.max() > 63:
        raise ValueError("not a COCO RLE string (characters outside '0'..'o')")
    last_of_group = (codes & 0x20) == 0
    if not last_of_group[-1]:
        raise ValueError("truncated COCO RLE string (the last count is not finished)")
    group = np.concatenate([[0], np.cumsum(last_of_group)[:-1]])
    group_start = np.flatnonzero(np.concatenate([[True], last_of_group[:-1]]))
    position = np.arange(codes.size) - group_start[group]
    if position.max() >= MAX_RLE_CHARS_PER_COUNT:
        raise ValueError("a run length is longer than 60 bits")
    values = np.add.reduceat((codes & 0x1F) << (5 * position), group_start)
    group_length = np.diff(np.append(group_start, codes.size))
    negative = (codes[last_of_group] & 0x10) != 0
    values = np.where(negative, values - (np.int64(1) << (5 * group_length)), values)
    # Undo the delta coding: counts[m] += counts[m - 2] for m > 2, i.e. running sums over
    # the odd positions from 1 and the even positions from 2.
    counts = values.copy()
    counts[1::2] = np.cumsum(values[1::2])
    counts[2::2] = np.cumsum(values[2::2])
    return counts


def rle_counts_to_mask(counts: np.ndarray, height: int, width: int) -> np.ndarray:
    """bool mask from COCO run lengths: alternating 0/1 runs, first run 0, column-major."""
    values = (np.arange(counts.size) % 2).astype(bool)
    flat = np.repeat(values, counts)
    return flat.reshape(width, height).T


# FFmpeg demuxers of still images: not a matte video
_IMAGE_DEMUXERS = frozenset({"image2", "apng"})


class MatteVideoSource(RasterSource):
    """A matte clip decoded with PyAV: frame k is first_frame + k; luma > 0.5 = remove."""

    def __init__(self, path: Path, first_frame: int, canvas: Canvas) -> None:
        import av  # PyAV: only needed for matte videos

        super().__init__()
        self.path = path
        self.first_frame = first_frame
        read_regular(path, 1 << 62, head=0)  # a regular file, before FFmpeg opens it
        try:
            self._container = av.open(str(path), metadata_errors="replace")
        except (av.error.FFmpegError, OSError, ValueError) as exc:
            raise SourceError(f"{path}: cannot open as a video ({exc})") from None
        try:
            if self._container.format.name in _IMAGE_DEMUXERS or "_pipe" in (
                self._container.format.name
            ):
                raise SourceError(
                    f"{path}: is a still image, not a matte video; use the png format for PNG masks"
                )
            if not self._container.streams.video:
                raise SourceError(f"{path}: has no video stream")
            self._stream = self._container.streams.video[0]
            self._stream.thread_type = "AUTO"
            self._set_canvas(canvas)
            context = self._stream.codec_context
            self._check_size(context.width, context.height, what=str(path))
            self._frame_pts = self._scan_frame_pts()
        except BaseException:
            self._container.close()
            raise
        if not self._frame_pts:
            self._container.close()
            raise SourceError(f"{path}: the matte video has no frames")
        self._index_of_pts = {pts: k for k, pts in enumerate(self._frame_pts)}
        self.frames = (first_frame, first_frame + len(self._frame_pts) - 1)
        self._decoder = None
        self._next_index = None  # index of the frame the decoder will produce next

    def _scan_frame_pts(self) -> list[int]:
        """Presentation timestamps (in the stream's time base) of all frames, in display order,
        from the packets alone: demuxing without decoding is cheap, and it gives exact
        frame-index -> pts seeking instead of guessing from the frame rate."""
        import av

        pts = []
        try:
            for packet in self._container.demux(self._stream):
                if packet.size == 0:  # the flush packet at the end
                    continue
                if packet.pts is None:
                    raise SourceError(
                        f"{self.path}: the matte video has packets without timestamps; "
                        "re-wrap it in MOV, MKV or MP4"
                    )
                pts.append(packet.pts)
            declared = self._stream.frames
            if declared and len(pts) < declared:
                raise SourceError(
                    f"{self.path}: truncated: the header lists {declared} frames but the file "
                    f"holds only {len(pts)}"
                )
            self._container.seek(0)  # fails (EPERM) on some damaged files: no index to seek in
        except av.error.FFmpegError as exc:
            raise SourceError(f"{self.path}: cannot read the video ({exc})") from None
        return sorted(pts)

    def close(self) -> None:
        super().close()
        self._decoder = None
        self._container.close()

    def _read(self, frame: int) -> np.ndarray:
        import av

        index = frame - self.first_frame
        if not 0 <= index < len(self._frame_pts):
            return np.zeros((self.height, self.width), dtype=bool)
        gap = None if self._next_index is None else index - self._next_index
        try:
            if gap is None or not 0 <= gap <= _SEQUENTIAL_SEEK_GAP:
                # Seek to the key frame at or before the target, then decode forward to it.
                self._container.seek(
                    self._frame_pts[index], stream=self._stream, backward=True, any_frame=False
                )
                self._decoder = self._container.decode(self._stream)
                self._next_index = None
            for decoded in self._decoder:
                k = self._index_of_pts.get(decoded.pts)
                if k is None:
                    continue
                self._next_index = k + 1
                if k < index:
                    if index - k <= _CACHE_FRAMES:
                        self._remember(self.first_frame + k, self._luma_mask(decoded))
                    continue
                mask = self._luma_mask(decoded)
                if k == index:
                    return mask
                self._remember(self.first_frame + k, mask)
                break  # overshot: the frame is not in the stream as indexed
        except av.error.FFmpegError as exc:
            raise SourceError(f"{self.path}: decoding failed near frame {index} ({exc})") from None
        self._next_index = None
        raise SourceError(f"{self.path}: frame {index} could not be decoded")

    @staticmethod
    def _luma_mask(decoded) -> np.ndarray:
        # swscale converts any pixel format to full-range grey, honouring limited ("TV")
        # range, so 32768 / 65535 is luma 0.5 whatever the source's bit depth.
        grey = decoded.to_ndarray(format="gray16le")
        return grey > 32767


# ---------------------------------------------------------------------------------------------
# Opening


def open_png_path(path: Path, text: str, first_frame: int, canvas: Canvas) -> RasterSource:
    """A PNG path as written in a source or on the command line: pattern, folder or file."""
    if is_image_pattern(path.name):
        return PngSequenceSource.from_pattern(path, canvas, text)
    if path.is_dir():
        return PngSequenceSource.from_directory(path, first_frame, canvas, text)
    return StaticPngSource(path, canvas)


def open_source(
    spec: RasterSourceSpec,
    base_dir: Path,
    first_frame: int,
    canvas: Canvas,
    confine_to: Path | None = None,
) -> RasterSource:
    """Open a raster track's source; raises SourceError (or _RleError with its JSON path)."""
    if spec.format == "coco_rle":
        return CocoRleSource(spec, canvas)
    path = resolve_source_path(spec.path, base_dir, confine_to)
    if spec.format == "png":
        return open_png_path(path, spec.path, first_frame, canvas)
    return MatteVideoSource(path, first_frame, canvas)
