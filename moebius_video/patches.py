"""The unit of work every filler returns: a filled crop of one frame and its alpha.

A patch is what the temporal core (or a Ray worker) hands to the encoder, which
composites it into the decoded source frame in the source's own pixel format.
Sending patches instead of whole frames keeps the data moved small and makes
"only masked pixels change" a property of one function (`io.composite`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class FramePatch:
    """Filled pixels for one frame.

    index: 0-based frame index in the clip.
    x0, y0: top-left corner of the crop in full-frame pixels.
    rgb: H x W x 3 crop, same dtype as the decoded RGB frames (uint8 or uint16).
    alpha: H x W float32 in [0, 1]; 0 keeps the source pixel bit for bit.
    """

    index: int
    x0: int
    y0: int
    rgb: np.ndarray
    alpha: np.ndarray

    @property
    def box(self) -> tuple[int, int, int, int]:
        """(x0, y0, x1, y1), end-exclusive."""
        h, w = self.alpha.shape
        return self.x0, self.y0, self.x0 + w, self.y0 + h

    @property
    def nbytes(self) -> int:
        return int(self.rgb.nbytes + self.alpha.nbytes)


def enclosing_box(
    boxes: Sequence[tuple[int, int, int, int]],
) -> tuple[int, int, int, int] | None:
    """The smallest box (x0, y0, x1, y1) holding every box; None for none."""
    if not boxes:
        return None
    return (
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    )


def box_pixels(image, box: tuple[int, int, int, int]) -> np.ndarray:
    """The RGB pixels of box (x0, y0, x1, y1) in `image`: an H x W x 3 array, or an
    io.DecodedFrame, which then converts only the area around the box. A view: do not
    write to it."""
    if isinstance(image, np.ndarray):
        x0, y0, x1, y1 = box
        return image[y0:y1, x0:x1]
    return image.rgb_crop(box)


def mask_box(alpha: np.ndarray, margin: int = 0) -> tuple[int, int, int, int] | None:
    """Bounding box (x0, y0, x1, y1) of alpha > 0, grown by margin and clipped; None if empty."""
    rows = np.flatnonzero(alpha.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(alpha.any(axis=0))
    h, w = alpha.shape
    return (
        max(int(cols[0]) - margin, 0),
        max(int(rows[0]) - margin, 0),
        min(int(cols[-1]) + 1 + margin, w),
        min(int(rows[-1]) + 1 + margin, h),
    )


# Rows per band of a banded patch; a multiple of every chroma subsampling, so no chroma
# sample straddles two bands.
BAND_ROWS = 128
# Pixels of context (alpha 0) kept around each band: the colour conversion of a crop
# filters chroma over a few neighbours, which must be the real ones, not a replicated edge.
BAND_CONTEXT = 4


def banded_patches(
    index: int, x0: int, y0: int, rgb: np.ndarray, alpha: np.ndarray, rows: int = BAND_ROWS
) -> list[FramePatch]:
    """One filled crop as patches that each change at most `rows` frame rows (bands start
    at frame rows that are multiples of `rows`), cut to the box of their alpha > 0 plus
    BAND_CONTEXT pixels of alpha 0 (within the crop).

    A diagonal wire fills a tenth of its bounding box; its bands cover little more than
    the wire, so compositing (colour conversion and blending of whole boxes) and sending
    patches from workers cost that much less. Every window cuts the same alpha the same
    way, so the windows' patches of one frame still match box for box. `rgb` must hold
    the frame's own pixels where alpha is 0 (every filler's result does).
    """
    height, width = alpha.shape
    patches = []
    for top in range(y0 // rows * rows, y0 + height, rows):
        a, b = max(top - y0, 0), min(top + rows - y0, height)
        box = mask_box(alpha[a:b])
        if box is None:
            continue
        bx0, by0, bx1, by1 = box
        # The band's box in crop rows, grown by the context and kept inside the crop.
        cx0, cx1 = max(bx0 - BAND_CONTEXT, 0), min(bx1 + BAND_CONTEXT, width)
        cy0, cy1 = max(a + by0 - BAND_CONTEXT, 0), min(a + by1 + BAND_CONTEXT, height)
        band_alpha = np.zeros((cy1 - cy0, cx1 - cx0), np.float32)
        ra, rb = max(a, cy0), min(b, cy1)  # the band's own rows: the others stay 0
        band_alpha[ra - cy0 : rb - cy0] = alpha[ra:rb, cx0:cx1]
        patches.append(
            FramePatch(
                index,
                x0 + cx0,
                y0 + cy0,
                np.ascontiguousarray(rgb[cy0:cy1, cx0:cx1]),
                band_alpha,
            )
        )
    return patches


class AlphaTrack(Protocol):
    """What the temporal core needs of a mask track (moebius_video.masks.MaskTrack)."""

    def alpha(self, index: int) -> np.ndarray: ...


def alpha_in(track: AlphaTrack, index: int, box: tuple[int, int, int, int]) -> np.ndarray:
    """Frame `index`'s float32 alpha inside box (x0, y0, x1, y1), a new array. A track with
    `alpha_crop` (MaskTrack) draws only its masks' own area, never the whole frame."""
    return alphas_in(track, index, [box])[0]


def alphas_in(
    track: AlphaTrack, index: int, boxes: Sequence[tuple[int, int, int, int]]
) -> list[np.ndarray]:
    """`alpha_in` for each of several boxes of one frame, the masks drawn once."""
    if hasattr(track, "alpha_crop"):
        crop = track.alpha_crop(index)
        if crop is None:
            return [np.zeros((y1 - y0, x1 - x0), np.float32) for x0, y0, x1, y1 in boxes]
        return [crop.region(box) for box in boxes]
    alpha = np.asarray(track.alpha(index), np.float32)
    return [alpha[y0:y1, x0:x1].copy() for x0, y0, x1, y1 in boxes]
