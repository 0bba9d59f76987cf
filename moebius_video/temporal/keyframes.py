"""Never-seen pixels: generate them on key frames, carry them along the flow elsewhere.

Calling a filler on every frame makes a static hole shimmer, because each call paints it
a little differently. Instead the filler paints only key frames (every
`keyframe_interval` frames, fixed in absolute frame numbers so that any cut of the clip
into windows picks the same ones). Every other frame takes its never-seen pixels from
the key frames before and after it, following the completed flow (the key pointers of
`propagate.py`), cross-faded by temporal distance. A static hole over a static scene is
therefore filled identically in every frame, and a fill that moves with the background
moves with it.

A filler whose `fill` accepts `init=` (or sets `supports_init = True`) receives, for each
key frame after the first, the previous key frame's fill carried to this frame, so a
generative model can start from it and keep consecutive key fills alike.

Pixels whose flow cannot be trusted (`rejected` by propagation: fast motion along the
hole) are filled on every frame, key frames included, by a membrane (the smoothest
surface that meets the filled pixels around them, Laplace's equation) instead: carrying
a painting along a wrong flow would misplace it. The membrane depends only on the
border, which is itself steady from frame to frame, so it flickers less than a
per-frame inpainting (Telea), whose marching order changes with every small change of
the region.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence

import numpy as np

from ..fillers import Filler
from ..flow.estimate import bilinear
from ..flow.smooth import harmonic_fill
from ..patches import mask_box
from .propagate import Pointers, Propagated

# Codes of the source map (debug preview, tests).
UNTOUCHED = 0
PROPAGATED = 1  # real pixels fetched from another frame
GENERATED = 2  # painted by the filler on a key frame
CARRIED = 3  # a key frame's painting, carried along the flow
FALLBACK = 4  # membrane fill on one frame (flow untrusted, or no key frame reachable)
# real pixels from a far frame of the shot, aligned by camera motion, by distance in time
PULLED = 5  # at most PULLED_MID_FROM - 1 frames away
PULLED_MID = 6  # PULLED_MID_FROM to PULLED_FAR_FROM - 1 frames away
PULLED_FAR = 7  # PULLED_FAR_FROM frames or more away
PULLED_MID_FROM, PULLED_FAR_FROM = 25, 100


def filler_supports_init(filler: Filler) -> bool:
    """Whether `filler.fill` takes an `init=` image (a start for its painting)."""
    flag = getattr(filler, "supports_init", None)
    if flag is not None:
        return bool(flag)
    try:
        return "init" in inspect.signature(filler.fill).parameters
    except (TypeError, ValueError):
        return False


def to_dtype(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Round float colours to an integer image dtype, clipping to its range."""
    top = np.iinfo(dtype).max
    return np.clip(np.rint(values), 0, top).astype(dtype)


def sample_keys(key_images: dict[int, np.ndarray], pointers: Pointers, rows: np.ndarray):
    """Colours at the pointers' key-frame positions for the given rows, as (len(rows), 3)."""
    values = np.zeros((rows.size, 3), np.float32)
    frames = pointers.frame[rows]
    for key in np.unique(frames[frames >= 0]):
        chosen = frames == key
        picked = rows[chosen]
        values[chosen] = bilinear(key_images[int(key)], pointers.x[picked], pointers.y[picked])
    return values


def fill_frames(
    frames: Sequence[np.ndarray],
    holes: np.ndarray,
    propagated: Sequence[Propagated],
    is_key: Sequence[bool],
    filler: Filler,
    context: Sequence[np.ndarray] | None = None,
    context_offset: tuple[int, int] = (0, 0),
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Fill every frame's hole: propagated pixels first (colour-matched to the hole's edge),
    then key-frame fills, then carries, then what is left on each frame.

    frames: T crops (H x W x 3); holes: (T, H, W) bool, the pixels to fill.
    propagated: per frame, the result of `propagate`.
    context: optional larger crops around `frames` for the filler to see; `frames[k]`
      sits at `context_offset` (x, y) inside `context[k]`.
    Returns (filled crops, source maps) per frame.
    """
    with_init = filler_supports_init(filler)
    filled: list[np.ndarray] = []
    sources: list[np.ndarray] = []
    for k, frame in enumerate(frames):
        image = frame.copy()
        source = np.zeros(frame.shape[:2], np.uint8)
        here = propagated[k]
        in_hole = holes[k][here.pixels.ys, here.pixels.xs]
        seen = here.seen & in_hole
        ys, xs = here.pixels.ys[seen], here.pixels.xs[seen]
        values = _match_edges(frame, holes[k], here) if seen.any() else here.values
        image[ys, xs] = to_dtype(values[seen], frame.dtype)
        source[ys, xs] = PROPAGATED
        if here.pulled is not None:
            for code, lo, hi in (
                (PULLED, 1, PULLED_MID_FROM),
                (PULLED_MID, PULLED_MID_FROM, PULLED_FAR_FROM),
                (PULLED_FAR, PULLED_FAR_FROM, np.inf),
            ):
                far = (here.pulled >= lo) & (here.pulled < hi) & in_hole
                source[here.pixels.ys[far], here.pixels.xs[far]] = code
        filled.append(image)
        sources.append(source)

    # Key frames in order, so each can start from the previous key frame's fill.
    key_images: dict[int, np.ndarray] = {}
    for k in (k for k in range(len(frames)) if is_key[k]):
        here = propagated[k]
        in_hole = holes[k][here.pixels.ys, here.pixels.xs]
        # Rejected pixels get the membrane here too (below), as on every other frame: a
        # painting on key frames only would jump in and out every keyframe_interval frames.
        unseen_rows = np.flatnonzero(~here.seen & ~here.rejected & in_hole)
        if unseen_rows.size:
            init = None
            carried = unseen_rows[here.previous_key.found[unseen_rows]]
            if with_init and carried.size:
                init = filled[k].copy()
                init[here.pixels.ys[carried], here.pixels.xs[carried]] = to_dtype(
                    sample_keys(key_images, here.previous_key, carried), init.dtype
                )
            unseen = np.zeros(holes[k].shape, bool)
            unseen[here.pixels.ys[unseen_rows], here.pixels.xs[unseen_rows]] = True
            # The filler must not see what the hole hides: the rejected pixels still hold
            # it (the wire, the logo) until their membrane below, so it paints them too.
            unfilled = ~here.seen & in_hole
            painted = np.zeros(holes[k].shape, bool)
            painted[here.pixels.ys[unfilled], here.pixels.xs[unfilled]] = True
            filled[k] = _paint(filler, filled[k], painted, init, context, k, context_offset)
            sources[k][unseen] = GENERATED
        filled[k] = _membrane_rows(filled[k], sources[k], here, here.rejected & in_hole)
        key_images[k] = filled[k]

    for k in range(len(frames)):
        if is_key[k]:
            continue
        here = propagated[k]
        in_hole = holes[k][here.pixels.ys, here.pixels.xs]
        rows = np.flatnonzero(~here.seen & ~here.rejected & in_hole)
        reached = _carry(filled[k], here, rows, key_images)
        sources[k][here.pixels.ys[rows[reached]], here.pixels.xs[rows[reached]]] = CARRIED
        # Left to paint on this frame: pixels whose flow is wrong (fast motion along the
        # hole), where neither propagating nor carrying is safe, and the rare chains that
        # left the crop before reaching a key frame. After the carries, so the membrane
        # meets filled surroundings.
        lost = here.rejected & in_hole
        lost[rows[~reached]] = True
        filled[k] = _membrane_rows(filled[k], sources[k], here, lost)
    return filled, sources


def _membrane_rows(
    image: np.ndarray, source: np.ndarray, here: Propagated, rows: np.ndarray
) -> np.ndarray:
    """`image` with the region pixels selected by `rows` (bool, one per region pixel)
    filled by the membrane and marked FALLBACK in `source`."""
    if not rows.any():
        return image
    lost = np.zeros(source.shape, bool)
    lost[here.pixels.ys[rows], here.pixels.xs[rows]] = True
    source[lost] = FALLBACK
    return membrane_fill(image, lost)


def membrane_fill(image: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """The image with its hole pixels replaced by the harmonic fill of the pixels around."""
    box = mask_box(hole, margin=1)
    out = image.copy()
    if box is None:
        return out
    x0, y0, x1, y1 = box
    part = hole[y0:y1, x0:x1]
    values = harmonic_fill(image[y0:y1, x0:x1].astype(np.float32), part, refine_steps=0)
    out[y0:y1, x0:x1][part] = to_dtype(values[part], image.dtype)
    return out


def rough_fill(
    frames: Sequence[np.ndarray], holes: np.ndarray, propagated: Sequence[Propagated]
) -> tuple[list[np.ndarray], np.ndarray]:
    """Frames with their holes filled cheaply: propagated colours where some frame shows
    the point, a membrane elsewhere. No filler, no colour match: a guess of what the
    holes hide, good enough to estimate the flow through them (window.py).

    Returns the filled frames and (T, H, W) bool, True where the membrane guessed.
    """
    result = []
    guessed = np.zeros(holes.shape, bool)
    for k, frame in enumerate(frames):
        here = propagated[k]
        in_hole = holes[k][here.pixels.ys, here.pixels.xs]
        image = frame.copy()
        seen = here.seen & in_hole
        image[here.pixels.ys[seen], here.pixels.xs[seen]] = to_dtype(here.values[seen], frame.dtype)
        rest = in_hole & ~seen
        guessed[k, here.pixels.ys[rest], here.pixels.xs[rest]] = True
        result.append(membrane_fill(image, guessed[k]) if rest.any() else image)
    return result, guessed


def _match_edges(frame: np.ndarray, hole: np.ndarray, here: Propagated) -> np.ndarray:
    """Propagated colours shifted so that they meet the frame's own pixels at the hole's
    edge: the shift measured on the ring around the hole (where both the frame and the
    propagation have a value) is spread smoothly over the hole (a Poisson blend)."""
    ys, xs = here.pixels.ys, here.pixels.xs
    ring = ~hole[ys, xs] & here.seen
    shift = np.zeros((*hole.shape, 3), np.float32)
    shift[ys[ring], xs[ring]] = frame[ys[ring], xs[ring]].astype(np.float32) - here.values[ring]
    # Outside the ring the shift is 0; the ring surrounds the hole, so it is the border.
    smooth = harmonic_fill(shift, hole, refine_steps=0)
    return here.values + smooth[ys, xs]


def _carry(
    image: np.ndarray, here: Propagated, rows: np.ndarray, key_images: dict[int, np.ndarray]
) -> np.ndarray:
    """Write into `image` the key-frame fills carried to the region pixels `rows`,
    cross-faded by temporal distance; returns which rows a key frame reached."""
    before, after = here.previous_key, here.next_key
    has_before, has_after = before.found[rows], after.found[rows]
    # Each side weighs by the other side's distance; a side alone gets everything.
    weight_before = np.where(has_before, after.distance[rows], 0).astype(np.float32)
    weight_after = np.where(has_after, before.distance[rows], 0).astype(np.float32)
    weight_before[has_before & ~has_after] = 1.0
    weight_after[has_after & ~has_before] = 1.0
    total = weight_before + weight_after
    reached = total > 0
    values = np.zeros((rows.size, 3), np.float32)
    if has_before.any():
        values += weight_before[:, None] * sample_keys(key_images, before, rows)
    if has_after.any():
        values += weight_after[:, None] * sample_keys(key_images, after, rows)
    values[reached] /= total[reached, None]
    ys, xs = here.pixels.ys[rows[reached]], here.pixels.xs[rows[reached]]
    image[ys, xs] = to_dtype(values[reached], image.dtype)
    return reached


def _paint(
    filler: Filler,
    image: np.ndarray,
    hole: np.ndarray,
    init: np.ndarray | None,
    context: Sequence[np.ndarray] | None,
    k: int,
    offset: tuple[int, int],
) -> np.ndarray:
    """Run the filler on `image` (inside its context crop when given); return the crop."""
    if context is not None:
        ox, oy = offset
        h, w = hole.shape
        big = context[k].copy()
        big[oy : oy + h, ox : ox + w] = image
        big_hole = np.zeros(big.shape[:2], bool)
        big_hole[oy : oy + h, ox : ox + w] = hole
        big_init = None
        if init is not None:
            big_init = big.copy()
            big_init[oy : oy + h, ox : ox + w] = init
        painted = _call(filler, big, big_hole, big_init)
        result = image.copy()
        result[hole] = painted[oy : oy + h, ox : ox + w][hole]
        return result
    painted = _call(filler, image, hole, init)
    result = image.copy()
    result[hole] = painted[hole]
    return result


def _call(filler: Filler, image: np.ndarray, hole: np.ndarray, init: np.ndarray | None):
    if init is None:
        return filler.fill(image, hole)
    return filler.fill(image, hole, init=init)
