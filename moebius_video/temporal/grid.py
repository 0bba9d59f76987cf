"""The window grid: which frames each temporal window fills, reads, and shares.

The clip is cut on a fixed grid of absolute frame numbers: window w is responsible for
frames [w * window, (w + 1) * window) (its core) and reads `context` more frames on
each side as sources (its span). Around each border between two windows, `blend`
frames on either side get both windows' results, cross-faded linearly, so the border
does not show.

Because the grid depends only on the options (never on where a run starts or how many
workers share it), a frame's result depends only on the frames of the one or two
windows that cover it. A farm chunk or a Ray task that is given the frames
`context_span(start, stop, ...)` therefore returns exactly what a whole-clip run
returns for [start, stop).
"""

from __future__ import annotations

from .settings import TemporalOptions


def window_of(index: int, options: TemporalOptions) -> int:
    """The window whose core holds frame `index`."""
    return index // options.window


def window_core(w: int, options: TemporalOptions) -> tuple[int, int]:
    """Frames [start, stop) window w is responsible for."""
    return w * options.window, (w + 1) * options.window


def window_span(w: int, options: TemporalOptions, lo: int, hi: int) -> tuple[int, int]:
    """Frames window w reads (core plus context), within the available [lo, hi)."""
    start, stop = window_core(w, options)
    return max(start - options.context, lo), min(stop + options.context, hi)


def covering_windows(index: int, options: TemporalOptions) -> list[int]:
    """The one or two windows whose results make up frame `index`."""
    w = window_of(index, options)
    start, stop = window_core(w, options)
    windows = [w]
    if index < start + options.blend and w > 0:
        windows.insert(0, w - 1)
    if index >= stop - options.blend:
        windows.append(w + 1)
    return windows


def covering(index: int, options: TemporalOptions, frame_count: int) -> list[int]:
    """The windows covering frame `index` that exist in a clip of `frame_count` frames."""
    return [w for w in covering_windows(index, options) if window_core(w, options)[0] < frame_count]


def needed_windows(start: int, stop: int, options: TemporalOptions, frame_count: int) -> list[int]:
    """The windows needed for frames [start, stop), in order."""
    first = covering(start, options, frame_count)[0]
    last = covering(stop - 1, options, frame_count)[-1]
    return list(range(first, last + 1))


def blend_weight(index: int, w: int, options: TemporalOptions) -> float:
    """Weight of window w's result in frame `index` (before normalising over windows)."""
    start, stop = window_core(w, options)
    b = options.blend
    if b == 0:
        return 1.0 if start <= index < stop else 0.0
    rise = (index - (start - b) + 0.5) / (2 * b)
    fall = ((stop + b) - index - 0.5) / (2 * b)
    return float(min(1.0, max(0.0, rise), max(0.0, fall)))


def blended_frames(
    w: int, options: TemporalOptions, first: int, stop: int, wanted: tuple[int, int] | None
) -> list[tuple[int, float]]:
    """(frame, weight) for the frames window w contributes to: its core and `blend` frames
    on each side, within the frames it read [first, stop) and `wanted` (None: all)."""
    start, end = window_core(w, options)
    lo, hi = max(start - options.blend, first), min(end + options.blend, stop)
    if wanted is not None:
        lo, hi = max(lo, wanted[0]), min(hi, wanted[1])
    shares = [(i, blend_weight(i, w, options)) for i in range(lo, hi)]
    return [(i, weight) for i, weight in shares if weight > 0]


def context_span(
    start: int, stop: int, frame_count: int, options: TemporalOptions
) -> tuple[int, int]:
    """Frames [lo, hi) to decode so that `iter_patches(..., output_range=(start, stop))`
    returns for [start, stop) exactly what a run over the whole clip returns."""
    if not 0 <= start < stop <= frame_count:
        raise ValueError(f"frame range [{start}, {stop}) is not inside [0, {frame_count})")
    windows = set(covering_windows(start, options)) | set(covering_windows(stop - 1, options))
    first = min(windows)
    last = max(windows)
    lo = window_span(first, options, 0, frame_count)[0]
    hi = window_span(last, options, 0, frame_count)[1]
    return lo, hi
