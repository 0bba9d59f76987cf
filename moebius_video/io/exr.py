"""OpenEXR plates, read and written exactly, and the view transform the fill works in.

    plate = read_exr(Path("plate.1001.exr"))  # every channel in its own type (half stays half)
    plate.working_rgb()                        # H x W x 3 uint16: RGB in ACEScct, for the fill
    write_exr(Path("out.1001.exr"), plate.composited(patches))

This is the one module that knows the EXR library: the OpenEXR Python bindings (the
`OpenEXR` wheel, the `[exr]` extra). They keep half floats, every header attribute (data
and display windows, compression, chromaticities, custom keys) and every channel.

How a plate goes through the run:
- The image is the *data window* (the pixels the file stores); a mask track's (0, 0) is
  the data window's top-left corner. Both windows are written back unchanged.
- The fill (flow, propagation, classical fill, Moebius) works on the R, G, B channels
  encoded with ACEScct (Academy S-2016-001: log2 above 2^-7, a linear toe below) into
  16-bit codes, the working image. ACEScct covers scene-linear -0.0069 .. 222.86, so
  highlights above 1 keep their shape; the fill sees a flat "log" picture, as a colourist
  grading a log plate would. Values beyond that range are clamped for the fill only.
- The output starts as the plate itself. Only pixels whose mask alpha is above 0 change:
  their R, G, B become the decoded fill (the exact inverse of the encode), blended with
  the plate in linear light where the mask is feathered, then rounded to the channel's
  own type. Every other value, alpha and extra channels everywhere, is the file's own,
  bit for bit.
- Through the 16-bit working image, a half value that propagation copies comes back
  exactly when |x| >= 2^-9 (the log step is finer than half's), and within 1e-6 below;
  a float32 value within 0.01% (1e-6 below 2^-7); tests/io/test_exr.py measures it.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from ..errors import MediaError, UsageError
from ..patches import FramePatch

INSTALL_HINT = 'pip install "moebius-video[exr]"'

RGB = ("R", "G", "B")
ALPHA = "A"
# Lossy compressions of blocks of pixels: re-encoding a plate changes unmasked values in
# the blocks the fill touches (B44: 4x4 blocks), or anywhere (DWA quantises its DCT blocks
# again). Measured with OpenEXR 3.5; PXR24 (per value) gives back what it read.
INEXACT = ("B44_COMPRESSION", "B44A_COMPRESSION", "DWAA_COMPRESSION", "DWAB_COMPRESSION")

# ACEScct (S-2016-001), scene-linear <-> log code in [0, 1].
_TOE_END = 2.0**-7  # 0.0078125
_TOE_SLOPE = 10.5402377416545
_TOE_OFFSET = 0.0729055341958355
_CCT_AT_TOE_END = (math.log2(_TOE_END) + 9.72) / 17.52  # 0.1552511...
_CODES = 65535


def _openexr():
    try:
        import OpenEXR
    except ImportError:
        return None
    return OpenEXR


def available() -> bool:
    """Whether the OpenEXR bindings are installed."""
    return _openexr() is not None


def require(path: Path | str) -> Any:
    """The OpenEXR module, or a UsageError saying how to install it."""
    module = _openexr()
    if module is None:
        raise UsageError(
            f"{path}: reading and writing OpenEXR plates needs the OpenEXR bindings; "
            f"install them with: {INSTALL_HINT}"
        )
    return module


def encode_view(linear: np.ndarray) -> np.ndarray:
    """Scene-linear RGB (any float type) -> ACEScct as 16-bit codes (NaN as 0)."""
    values = np.asarray(linear)
    if values.dtype == np.float16:
        return _half_codes()[values.view(np.uint16)]  # 4K: 0.07 s, computed 1.2 s
    return _encode(values)


@functools.cache
def _half_codes() -> np.ndarray:
    """The code of every half bit pattern (a half has only 65536 values)."""
    return _encode(np.arange(1 << 16, dtype=np.uint16).view(np.float16))


def _encode(linear: np.ndarray) -> np.ndarray:
    # Beyond -1 .. 1e6 every value gets the end codes anyway; clipping first keeps the toe's
    # product finite. NaN is taken as 0.
    lin = np.clip(np.nan_to_num(np.asarray(linear, np.float32), nan=0.0), -1.0, 1e6)
    cct = np.maximum(lin, np.float32(_TOE_END))
    np.log2(cct, out=cct)
    cct += np.float32(9.72)
    cct /= np.float32(17.52)
    toe = lin <= _TOE_END
    cct[toe] = np.float32(_TOE_SLOPE) * lin[toe] + np.float32(_TOE_OFFSET)
    np.clip(cct, 0.0, 1.0, out=cct)
    cct *= np.float32(_CODES)
    return np.rint(cct, out=cct).astype(np.uint16)


def decode_view(codes: np.ndarray) -> np.ndarray:
    """16-bit ACEScct codes -> scene-linear float64: the exact inverse of `encode_view`."""
    cct = np.asarray(codes, np.float64) / _CODES
    return np.where(
        cct <= _CCT_AT_TOE_END,
        (cct - _TOE_OFFSET) / _TOE_SLOPE,
        np.exp2(cct * 17.52 - 9.72),
    )


@dataclass
class ExrPlate:
    """One EXR image as the file holds it.

    header: every attribute, as the bindings read them (windows, compression, ...).
    channels: name -> 2-D array (rows x columns of the data window) in the file's type.
    """

    path: Path
    header: dict[str, Any]
    channels: dict[str, np.ndarray]

    @property
    def width(self) -> int:
        return self.channels[RGB[0]].shape[1]

    @property
    def height(self) -> int:
        return self.channels[RGB[0]].shape[0]

    @property
    def has_alpha(self) -> bool:
        return ALPHA in self.channels

    def layout(self) -> tuple:
        """What must match between the frames of a sequence: the data window and every
        channel's name and type."""
        (x0, y0), (x1, y1) = self.header["dataWindow"]
        channels = tuple((name, str(a.dtype)) for name, a in sorted(self.channels.items()))
        return (int(x0), int(y0), int(x1), int(y1)), channels

    def windows_differ(self) -> bool:
        data, display = self.header["dataWindow"], self.header["displayWindow"]
        return any(not np.array_equal(a, b) for a, b in zip(data, display, strict=True))

    def compression_name(self) -> str:
        return getattr(self.header.get("compression"), "name", str(self.header.get("compression")))

    def working_rgb(self) -> np.ndarray:
        """The working image the fill sees: H x W x 3 uint16, RGB in ACEScct."""
        return encode_view(np.stack([self.channels[c] for c in RGB], axis=-1))

    def linear_rgb(self) -> np.ndarray:
        """R, G, B as H x W x 3 float32 (scene-linear code values, unclipped)."""
        return np.stack([self.channels[c].astype(np.float32) for c in RGB], axis=-1)

    def composited(self, patches: Sequence[FramePatch]) -> ExrPlate:
        """A new plate with the patches' fills (working-image codes) in R, G, B.

        Pixels with alpha 0 keep the file's values bit for bit; alpha and extra channels
        are never touched.
        """
        channels = dict(self.channels)
        for name in RGB:
            if patches:
                channels[name] = self.channels[name].copy()
        for patch in patches:
            x0, y0, x1, y1 = patch.box
            touched = patch.alpha > 0
            if not touched.any():
                continue
            weight = patch.alpha.astype(np.float64)
            fill = decode_view(patch.rgb)
            for k, name in enumerate(RGB):
                region = channels[name][y0:y1, x0:x1]
                # Blend in linear light; alpha 1 takes the fill as it is, and so does a NaN
                # or infinite plate value under a feathered edge (nothing to blend with).
                src = region.astype(np.float64)
                src = np.where(np.isfinite(src), src, fill[:, :, k])
                mixed = np.where(weight >= 1.0, fill[:, :, k], src + weight * (fill[:, :, k] - src))
                np.copyto(region, mixed.astype(region.dtype), where=touched)
        return ExrPlate(self.path, self.header, channels)


def header_layout(path: Path) -> tuple:
    """A file's data window and channel names, from its header alone (for checking every
    file of a sequence before the run writes anything); MediaError if unreadable."""
    exr = require(path)
    try:
        header = exr.File(str(path), header_only=True).header()
    except (RuntimeError, ValueError, OSError) as error:
        raise MediaError(f"{path}: not a readable OpenEXR image: {error}") from None
    (x0, y0), (x1, y1) = header["dataWindow"]
    names = tuple(sorted(channel.name for channel in header["channels"]))
    return (int(x0), int(y0), int(x1), int(y1)), names


def describe_layout(layout: tuple) -> str:
    """`ExrPlate.layout()` or `header_layout()` in words, for messages."""
    (x0, y0, x1, y1), channels = layout
    names = ", ".join(c if isinstance(c, str) else f"{c[0]} {c[1]}" for c in channels)
    return f"data window ({x0}, {y0})-({x1}, {y1}), channels {names}"


def read_exr(path: Path) -> ExrPlate:
    """Read a single-part scanline or tiled EXR with R, G, B channels; MediaError naming
    the file and what is wrong otherwise, UsageError without the bindings."""
    exr = require(path)
    try:
        file = exr.File(str(path), separate_channels=True)
        header = file.header()
        channels = {name: channel.pixels for name, channel in file.channels().items()}
        parts = len(file.parts)
        samplings = {
            name: (channel.xSampling, channel.ySampling)
            for name, channel in file.channels().items()
        }
    except (RuntimeError, ValueError, OSError) as error:
        raise MediaError(f"{path}: not a readable OpenEXR image: {error}") from None
    if parts != 1:
        raise MediaError(
            f"{path}: a multi-part EXR ({parts} parts) is not supported; write the plate "
            "as a single-part file"
        )
    if header.get("type") not in (exr.scanlineimage, exr.tiledimage):
        raise MediaError(f"{path}: deep EXR images are not supported")
    missing = [c for c in RGB if c not in channels]
    if missing:
        found = ", ".join(sorted(channels)) or "none"
        raise MediaError(
            f"{path}: no {', '.join(missing)} channel (found: {found}); a plate needs R, G and B"
        )
    for name in RGB:
        if samplings[name] != (1, 1):
            raise MediaError(f"{path}: channel {name} is subsampled {samplings[name]}")
        if channels[name].dtype.kind != "f":
            raise MediaError(f"{path}: channel {name} holds {channels[name].dtype}, not floats")
    return ExrPlate(path, header, channels)


def write_exr(target: Path | BinaryIO, plate: ExrPlate) -> None:
    """Write `plate` to a path or a binary stream with the plate's own header: same
    windows, compression, attributes and channel types."""
    exr = require(plate.path)
    header = {key: value for key, value in plate.header.items() if key != "channels"}
    # File() turns the arrays of the dict it gets into Channel objects: give it a copy.
    exr.File(header, dict(plate.channels)).write(
        str(target) if isinstance(target, Path) else target
    )


def is_whole_exr(path: Path, size: tuple[int, int] | None) -> bool:
    """Whether an existing file reads as an EXR whose data window is `size` (w, h)."""
    try:
        plate = read_exr(path)
    except (MediaError, UsageError):
        return False
    return size is None or (plate.width, plate.height) == tuple(size)
