"""Temporal windows as the unit of distributed work, and the cross-fade done by the driver.

The temporal core (`temporal/segment.py`) cuts a clip on a fixed grid of windows and
cross-fades `blend` frames on each side of every window border between the two
windows' results. A worker fills whole windows, each exactly once in the whole run:
for each frame a window covers it returns that window's patches and blend weight (a
"part"). The driver gathers the parts of each frame from the one or two windows
covering it, possibly filled by different workers, and cross-fades them exactly as
the streaming path does. The output therefore equals the one-process run byte for
byte, and no window is filled twice however the clip is cut into segments.

This mirrors `temporal.segment._Stream._process` (the window's crop box and what is
filled); tests compare the two paths byte for byte, so a drift shows up at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import numpy as np

from ..patches import FramePatch, box_pixels, enclosing_box
from .transfer import PackedPatch, pack, unpack

Box = tuple[int, int, int, int]
# One frame's share of one window: (frame index, blend weight, patches).
Part = tuple[int, float, list]


def covering(index: int, options, frame_count: int) -> list[int]:
    """Windows whose results make up frame `index` (those that exist in the clip)."""
    from ..temporal.segment import covering_windows, window_core

    return [w for w in covering_windows(index, options) if window_core(w, options)[0] < frame_count]


def needed_windows(start: int, stop: int, options, frame_count: int) -> list[int]:
    """The windows needed for frames [start, stop), in order."""
    first = covering(start, options, frame_count)[0]
    last = covering(stop - 1, options, frame_count)[-1]
    return list(range(first, last + 1))


def fill_windows(
    video,
    track,
    filler,
    options,
    estimator,
    windows: Sequence[int],
    wanted: tuple[int, int],
    pack_patches: bool,
    stats: dict,
    cuts: set[int] | None = None,
) -> Iterator[Part]:
    """Fill consecutive `windows` of the clip; yield their parts for frames in `wanted`.

    Frames are decoded once, in order, from the first window's span to the last's; a
    window's span is held while it is filled (window + 2 * context frames). `cuts`, if
    given, collects the shot cuts the windows used (clip indices), for the driver to report.
    """
    from ..temporal.segment import alpha_in, blend_weight, window_core, window_span
    from ..temporal.window import crop_margin, fill_window, window_patches

    frame_count = video.info.frame_count
    margin = crop_margin(options, estimator)
    spans = {w: window_span(w, options, 0, frame_count) for w in windows}
    held: dict[int, np.ndarray] = {}
    decoded = iter(video.frames(spans[windows[0]][0], spans[windows[-1]][1]))
    next_index = spans[windows[0]][0]
    lo, hi = wanted
    for w in windows:
        a, b = spans[w]
        for index in [i for i in held if i < a]:
            del held[index]
        while next_index < b:
            frame = next(decoded, None)
            if frame is None:
                from ..errors import MediaError

                raise MediaError(
                    f"{video.info.path}: frame {next_index} could not be decoded; "
                    "the file looks truncated"
                )
            held[frame.index] = frame
            stats["decoded"] += rgb_bytes(frame)
            next_index += 1
        box = _window_box(track, range(a, b), margin, (held[a].height, held[a].width))
        filled = None
        alphas = [alpha_in(track, i, box) for i in range(a, b)]
        if any(alpha.any() for alpha in alphas):
            x0, y0 = box[:2]
            filled = fill_window(
                [box_pixels(held[i], box) for i in range(a, b)],
                alphas,
                filler,
                options,
                a,
                (x0, y0),
                estimator,
            )
            if cuts is not None:
                cuts.update(filled.cuts)
        start, stop = window_core(w, options)
        for i in range(max(start - options.blend, a, lo), min(stop + options.blend, b, hi)):
            weight = blend_weight(i, w, options)
            if weight <= 0:
                continue
            patches = [] if filled is None else window_patches(filled, i - a)
            stats["patches"] += sum(p.nbytes for p in patches)
            if pack_patches:
                patches = [pack(p, held[i]) for p in patches]
                stats["sent"] += sum(p.nbytes for p in patches)
            yield i, weight, patches


def rgb_bytes(frame) -> int:
    """Bytes of a decoded frame's RGB (whether or not it was converted)."""
    height, width = frame.height, frame.width
    return height * width * 3 * np.dtype(frame.rgb_dtype).itemsize


def _window_box(track, frames: range, margin: int, shape) -> Box:
    """Union of the mask bounds (grown by margin) over a window's frames; whole frame if none."""
    height, width = shape[:2]
    box = enclosing_box([b for b in (track.box(i, margin=margin) for i in frames) if b])
    if box is None:
        return 0, 0, width, height
    x0, y0, x1, y1 = box
    return max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)


class FrameAssembler:
    """Collects parts from segment results (in order) and hands out whole frames, in order.

    `covering(i)` lists the windows frame i needs (None: each part is a whole frame, as
    in the per-frame mode). A frame is handed out once every window it needs is in.
    """

    def __init__(self, start: int, stop: int, covering: Callable[[int], list[int]] | None):
        self.next = start
        self.stop = stop
        self.covering = covering
        self.pending: dict[int, list[tuple[float, list]]] = {}

    def add(self, parts: Sequence[Part], done_through: int) -> Iterator[tuple[int, list]]:
        """Add a result's parts; `done_through`: its last window (or last frame, per-frame)."""
        for index, weight, patches in parts:
            if self.next <= index < self.stop:
                self.pending.setdefault(index, []).append((weight, patches))
        while self.next < self.stop:
            last = self.covering(self.next)[-1] if self.covering else self.next
            if last > done_through:
                return
            yield self.next, self.pending.pop(self.next, [])
            self.next += 1

    def finish(self) -> Iterator[tuple[int, list]]:
        while self.next < self.stop:
            yield self.next, self.pending.pop(self.next, [])
            self.next += 1


def frame_patches(parts: list[tuple[float, list]], source) -> list[FramePatch]:
    """One frame's FramePatches: unpack each window's part, then cross-fade as the core does.

    source: the decoded frame (a DecodedFrame, or its RGB array), needed only when parts
    hold PackedPatches.
    """
    from ..temporal.segment import blend_patches  # the core's own cross-fade: same bytes

    unpacked = [
        (weight, [unpack(p, source) if isinstance(p, PackedPatch) else p for p in patches])
        for weight, patches in parts
    ]
    return blend_patches(unpacked)
