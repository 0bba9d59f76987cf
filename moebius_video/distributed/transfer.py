"""What a worker sends back: patches packed against the source frame the driver decodes anyway.

A `FramePatch` box around a slanted wire covers much more than the wire: its RGB is
mostly the source picture, and its float32 alpha mostly zeros. Both sides decode the
same file with the same decoder, so the worker sends only what the driver cannot know:
the pixels whose RGB differs from the source, and the non-zero alpha values, each with
a bit mask of where they go. `unpack` rebuilds the exact same `FramePatch` (every byte),
so compositing, and therefore the output file, does not depend on where a patch was made.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..patches import FramePatch, box_pixels
from ..temporal.engine import blend_patches


@dataclass(frozen=True)
class PackedPatch:
    """A FramePatch without what the driver's decoded frame already holds."""

    index: int
    x0: int
    y0: int
    height: int
    width: int
    changed: bytes  # np.packbits of the H x W mask of pixels whose RGB differs from the source
    changed_rgb: np.ndarray  # N x 3 values of those pixels, in row-major order
    alpha_set: bytes  # np.packbits of the H x W mask of alpha != 0
    alpha_values: np.ndarray  # M float32 values of those pixels, in row-major order

    @property
    def nbytes(self) -> int:
        return (
            len(self.changed)
            + self.changed_rgb.nbytes
            + len(self.alpha_set)
            + self.alpha_values.nbytes
        )


def pack(patch: FramePatch, source) -> PackedPatch:
    """Pack `patch` against the decoded frame it was made from (RGB array or DecodedFrame)."""
    x0, y0, x1, y1 = patch.box
    changed = np.any(patch.rgb != box_pixels(source, patch.box), axis=2)
    alpha_set = patch.alpha != 0
    return PackedPatch(
        index=patch.index,
        x0=x0,
        y0=y0,
        height=y1 - y0,
        width=x1 - x0,
        changed=np.packbits(changed).tobytes(),
        changed_rgb=np.ascontiguousarray(patch.rgb[changed]),
        alpha_set=np.packbits(alpha_set).tobytes(),
        alpha_values=np.ascontiguousarray(patch.alpha[alpha_set], dtype=np.float32),
    )


def unpack(packed: PackedPatch, source) -> FramePatch:
    """The original FramePatch, rebuilt over the same decoded frame (RGB array or
    DecodedFrame)."""
    h, w = packed.height, packed.width
    x0, y0 = packed.x0, packed.y0
    rgb = box_pixels(source, (x0, y0, x0 + w, y0 + h)).copy()
    rgb[_mask(packed.changed, h, w)] = packed.changed_rgb
    alpha = np.zeros((h, w), np.float32)
    alpha[_mask(packed.alpha_set, h, w)] = packed.alpha_values
    return FramePatch(index=packed.index, x0=x0, y0=y0, rgb=rgb, alpha=alpha)


def _mask(bits: bytes, height: int, width: int) -> np.ndarray:
    flat = np.unpackbits(np.frombuffer(bits, np.uint8), count=height * width)
    return flat.reshape(height, width).astype(bool)


def frame_patches(parts: list[tuple[float, list]], source) -> list[FramePatch]:
    """One frame's FramePatches: unpack each window's share, then cross-fade them with the
    engine's own `blend_patches` (the same bytes as the single-process run).

    source: the decoded frame (a DecodedFrame, or its RGB array), needed only when parts
    hold PackedPatches.
    """
    unpacked = [
        (weight, [unpack(p, source) if isinstance(p, PackedPatch) else p for p in patches])
        for weight, patches in parts
    ]
    return blend_patches(unpacked)
