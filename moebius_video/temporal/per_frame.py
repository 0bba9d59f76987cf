"""The simple path (`--temporal off`): each frame's mask filled on its own, no flow.

Used by the single-process run and by segments on Ray workers alike.
"""

from __future__ import annotations

import numpy as np

from ..fillers import Filler
from ..patches import FramePatch, banded_patches, box_pixels

# Context around the hole handed to the per-frame filler (Telea needs a ring of known pixels).
SIMPLE_FILL_MARGIN = 16


def fill_frame(index: int, rgb, track, filler: Filler) -> list[FramePatch]:
    """The simple path: fill one frame's mask with `filler` on a crop around the mask.

    The filler sees the mask's bounding box plus a margin of context; the patch is the
    tight box, with the track's (feathered) alpha, so compositing changes only pixels
    where alpha > 0. No mask on this frame: no patches.
    rgb: the frame, H x W x 3, or its io.DecodedFrame (then only the filler's crop is
    converted to RGB).
    """
    crop = track.alpha_crop(index)  # drawn around the mask only, never the whole frame
    tight = crop.tight_box() if crop is not None else None
    if tight is None:
        return []
    tx0, ty0, tx1, ty1 = tight
    height, width = rgb.shape[:2] if isinstance(rgb, np.ndarray) else (rgb.height, rgb.width)
    # A generative filler wants far more context than Telea's ring of known pixels.
    m = getattr(filler, "preferred_context", SIMPLE_FILL_MARGIN)
    x0, y0, x1, y1 = max(tx0 - m, 0), max(ty0 - m, 0), min(tx1 + m, width), min(ty1 + m, height)
    context = (x0, y0, x1, y1)
    filled = filler.fill(box_pixels(rgb, context), crop.region(context) > 0)
    return banded_patches(
        index,
        tx0,
        ty0,
        filled[ty0 - y0 : ty1 - y0, tx0 - x0 : tx1 - x0],
        crop.region((tx0, ty0, tx1, ty1)),
    )
