"""Windows over a clip: the streaming temporal wrapper and the unit a Ray worker runs.

The clip is cut on a fixed grid of absolute frame numbers: window w is responsible for
frames [w * window, (w + 1) * window) and reads `context` more frames on each side as
sources. Around each border between two windows, `blend` frames on either side get
both windows' results, cross-faded linearly, so the border does not show.

Because the grid depends only on the options (never on where a run starts or how many
workers share it), a frame's result depends only on the frames of the one or two
windows that cover it. A farm chunk or a Ray task that is given the frames
`context_span(start, stop, ...)` therefore returns exactly what a whole-clip run
returns for [start, stop).

Each window is filled on a worker thread while the caller reads the next window's frames
and writes the previous window's results, so decoding, encoding and filling overlap; up
to WINDOWS_IN_FLIGHT windows are filled side by side when their crops are small.

Memory: at most WINDOWS_IN_FLIGHT + 1 windows plus their context are held, each frame
cropped to the area around the masks that any window containing it needs, so it does not
grow with clip length.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Protocol

import numpy as np

from ..fillers import Filler
from ..flow.estimate import FlowEstimator, make_flow_estimator
from ..patches import FramePatch, box_pixels, enclosing_box, mask_box
from .cut_report import CutReport
from .debug import DebugPreview
from .options import TemporalOptions
from .window import FilledWindow, crop_margin, fill_window, window_patches

Box = tuple[int, int, int, int]
# Windows filled at once, each on its own thread (NumPy, OpenCV and SciPy release the
# GIL), as long as their crops hold at most BYTES_IN_FLIGHT (large masks on 4K frames
# are filled one window at a time, so memory stays about one window's worth).
WINDOWS_IN_FLIGHT = 2
BYTES_IN_FLIGHT = 512 * 2**20


class AlphaTrack(Protocol):
    """What the temporal core needs of a mask track (moebius_video.masks.MaskTrack)."""

    def alpha(self, index: int) -> np.ndarray: ...


def alpha_in(track: AlphaTrack, index: int, box: Box) -> np.ndarray:
    """Frame `index`'s float32 alpha inside box (x0, y0, x1, y1), a new array. A track with
    `alpha_crop` (MaskTrack) draws only its masks' own area, never the whole frame."""
    x0, y0, x1, y1 = box
    if hasattr(track, "alpha_crop"):
        crop = track.alpha_crop(index)
        if crop is None:
            return np.zeros((y1 - y0, x1 - x0), np.float32)
        return crop.region(box)
    return np.asarray(track.alpha(index), np.float32)[y0:y1, x0:x1].copy()


def fill_segment(
    frames: Sequence[np.ndarray],
    alphas: Sequence[np.ndarray],
    filler: Filler,
    options: TemporalOptions,
    first_index: int,
    estimator: FlowEstimator | None = None,
) -> list[FramePatch]:
    """Fill one window of consecutive frames; patches for every frame of it, in order.

    frames: RGB arrays (H x W x 3, uint8 or uint16); alphas: float32 H x W in [0, 1];
    first_index: clip index of frames[0]. Pure: the same inputs give the same patches.
    """
    if len(frames) != len(alphas):
        raise ValueError(f"fill_segment: {len(frames)} frames but {len(alphas)} alphas")
    window = fill_window(frames, alphas, filler, options, first_index, estimator=estimator)
    if window is None:
        return []
    return [patch for k in range(len(frames)) for patch in window_patches(window, k)]


# --- the window grid -------------------------------------------------------------------


def window_of(index: int, options: TemporalOptions) -> int:
    return index // options.window


def window_core(w: int, options: TemporalOptions) -> tuple[int, int]:
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


def blend_weight(index: int, w: int, options: TemporalOptions) -> float:
    """Weight of window w's result in frame `index` (before normalising over windows)."""
    start, stop = window_core(w, options)
    b = options.blend
    if b == 0:
        return 1.0 if start <= index < stop else 0.0
    rise = (index - (start - b) + 0.5) / (2 * b)
    fall = ((stop + b) - index - 0.5) / (2 * b)
    return float(min(1.0, max(0.0, rise), max(0.0, fall)))


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


def fill_range(
    frames: Iterable[Any],
    track: AlphaTrack,
    filler: Filler,
    options: TemporalOptions,
    start: int,
    stop: int,
    estimator: FlowEstimator | None = None,
) -> list[tuple[int, list[FramePatch]]]:
    """The unit of distributed work: patches for frames [start, stop) of a clip.

    frames: the frames `context_span(start, stop, frame_count, options)` names, in order
    (objects with `.index` and `.rgb`). Pure: no state survives the call, and the result
    is exactly what `iter_patches` gives for those frames over the whole clip, so any cut
    of a clip into ranges gives the same bytes.
    """
    return list(
        iter_patches(
            frames, track, filler, options, output_range=(start, stop), estimator=estimator
        )
    )


# --- streaming -------------------------------------------------------------------------


@dataclass
class _Held:
    """A buffered frame, cropped to what the windows containing it need."""

    box: Box
    rgb: np.ndarray
    alpha: np.ndarray
    full: np.ndarray | None = None  # the whole frame, kept only for the debug preview


class _Running:
    """One window being filled on a worker thread.

    The caller goes on decoding the next window's frames and encoding the previous
    window's results meanwhile (OpenCV, NumPy and PyAV release the GIL). A window's
    result depends only on its own frames, so results are the same as filling the windows
    one after another in the caller's thread; they are collected in order. A cancelled
    run waits for the windows in flight to finish (`iter_patches` does so on exit).
    """

    def __init__(self, window: int, first: int, stop: int):
        self.window, self.first, self.stop = window, first, stop
        self.bytes = 0  # of the crops it reads
        self._thread: threading.Thread | None = None
        self._result: FilledWindow | None = None
        self._error: BaseException | None = None

    def start(self, function, *args) -> None:
        def run() -> None:
            try:
                self._result = function(*args)
            except BaseException as error:  # re-raised in the caller's thread
                self._error = error

        self._thread = threading.Thread(target=run, name=f"fill-window-{self.window}", daemon=True)
        self._thread.start()

    def done(self) -> bool:
        return self._thread is None or not self._thread.is_alive()

    def wait(self) -> None:
        if self._thread is not None:
            self._thread.join()

    def result(self) -> FilledWindow | None:
        self.wait()
        if self._error is not None:
            raise self._error
        return self._result


@dataclass
class _Pending:
    """Results gathered for one output frame from the windows covering it."""

    parts: list[tuple[float, list[FramePatch], np.ndarray | None, Box | None]] = field(
        default_factory=list
    )
    shot_start: bool = False  # the frame starts a new shot (marked in the debug preview)


def iter_patches(
    frames: Iterable[Any],
    track: AlphaTrack,
    filler: Filler,
    options: TemporalOptions,
    *,
    output_range: tuple[int, int] | None = None,
    frame_count: int | None = None,
    estimator: FlowEstimator | None = None,
    debug_rate: Fraction | None = None,
) -> Iterator[tuple[int, list[FramePatch]]]:
    """Fill a clip window by window; yield (index, patches) for every frame, in order.

    frames: objects with `.index` (consecutive clip indices) and `.rgb` (H x W x 3),
      such as moebius_video.io.DecodedFrame; read once, as a stream. Frames with
      `rgb_crop(box)` (DecodedFrame) are converted only around the masks.
    track: gives `alpha(index)` (float32 H x W) and, optionally, a cheap
      `box(index, margin)` bound of alpha > 0, used to keep only crops in memory, and
      `alpha_crop(index)` (masks.AlphaCrop or None), so that whole-frame alphas are
      never drawn.
    output_range: (start, stop) clip indices to yield; frames outside it are read as
      context only. Default: every frame read. Decode `context_span(start, stop, ...)`
      to get the whole-clip result for a chunk.
    frame_count: frames in the clip (or in `track`), if known; lets the buffer keep
      crops instead of whole frames.
    debug_rate: frame rate of the `options.save_debug` preview (default 25).
    """
    estimator = estimator or make_flow_estimator(options.flow_quality)
    stream = _Stream(track, filler, options, output_range, frame_count, estimator)
    preview = None
    try:
        for frame in frames:
            if preview is None and options.save_debug:
                h, w = frame.rgb.shape[:2]
                preview = DebugPreview(options.save_debug, w, h, debug_rate or Fraction(25))
            yield from stream.push(frame, preview)
        yield from stream.finish(preview)
        if preview is not None:
            preview.close()
            preview = None
    finally:
        # Cancelled or failed: let a window still being filled finish first. Native code
        # (OpenCV, torch) must not be running on a thread while the interpreter exits.
        stream.abandon()
        if preview is not None:
            preview.abort()


class _Stream:
    """The state of `iter_patches`: buffered frames, finished windows, pending outputs."""

    def __init__(self, track, filler, options, output_range, frame_count, estimator):
        self.track = track
        self.filler = filler
        self.options = options
        self.output_range = output_range
        self.frame_count = frame_count or getattr(track, "frame_count", None)
        self.estimator = estimator
        self.crop_margin = crop_margin(options, estimator)
        self.first: int | None = None
        self.last: int | None = None
        self.size: tuple[int, int] | None = None  # (height, width)
        self.held: dict[int, _Held] = {}
        self.pending: dict[int, _Pending] = {}
        self.next_window: int | None = None
        self.next_output: int | None = None
        self.collected_until: int | None = None  # windows before this one are in `pending`
        self.running: deque[_Running] = deque()  # windows being filled, oldest first
        self.bounds: dict[int, Box | None] = {}
        self.cut_report = CutReport(getattr(track, "frame_base", 0), output_range)

    # Which frames count -------------------------------------------------------------

    def _wanted(self, index: int) -> bool:
        if self.output_range is None:
            return True
        return self.output_range[0] <= index < self.output_range[1]

    def _window_needed(self, w: int, hi: int) -> bool:
        """Whether window w has frames and contributes to a wanted frame."""
        start, stop = window_core(w, self.options)
        b = self.options.blend
        lo_out, hi_out = max(start - b, self.first), min(stop + b, hi)
        if self.output_range is not None:
            lo_out = max(lo_out, self.output_range[0])
            hi_out = min(hi_out, self.output_range[1])
        return max(start, self.first) < min(stop, hi) and lo_out < hi_out

    # Buffering ------------------------------------------------------------------------

    def _bound(self, index: int) -> Box | None:
        """Cheap bound of frame index's alpha > 0 grown by the crop margin."""
        if index not in self.bounds:
            h, w = self.size
            box_fn = getattr(self.track, "box", None)
            if box_fn is not None:
                box = box_fn(index, margin=self.crop_margin)
            else:
                box = mask_box(self.track.alpha(index), self.crop_margin)
            if box is not None:
                x0, y0, x1, y1 = box
                box = (max(x0, 0), max(y0, 0), min(x1, w), min(y1, h))
            self.bounds[index] = box
        return self.bounds[index]

    def _window_box(self, w: int) -> Box | None:
        """Union of the bounds over window w's whole span (unclipped at the clip end)."""
        a, b = window_span(w, self.options, self.first, self.frame_count or 1 << 62)
        boxes = [bx for bx in (self._bound(i) for i in range(a, b)) if bx is not None]
        return enclosing_box(boxes)

    def _storage_box(self, index: int) -> Box | None:
        h, w = self.size
        if self.options.save_debug or self.frame_count is None:
            return (0, 0, w, h)  # the preview shows whole frames; unknown length: no bounds
        boxes = []
        for win in (window_of(index, self.options) + d for d in (-1, 0, 1)):
            a, b = window_span(win, self.options, self.first, self.frame_count)
            if a <= index < b:
                box = self._window_box(win)
                if box is not None:
                    boxes.append(box)
        return enclosing_box(boxes)

    def push(self, frame, preview) -> Iterator[tuple[int, list[FramePatch]]]:
        index = int(frame.index)
        # A DecodedFrame converts to RGB only the crop asked for; other frames are cut here.
        rgb = None if hasattr(frame, "rgb_crop") and not self.options.save_debug else frame.rgb
        if self.first is None:
            self.first = index
            self.next_window = window_of(index, self.options)
            self.collected_until = self.next_window
            self.next_output = index
            self.size = rgb.shape[:2] if rgb is not None else (frame.height, frame.width)
        elif index != self.last + 1:
            raise ValueError(f"iter_patches: frame {index} follows frame {self.last}")
        self.last = index
        box = self._storage_box(index)
        full = rgb if self.options.save_debug else None
        if box is None:
            dtype = rgb.dtype if rgb is not None else frame.rgb_dtype
            self.held[index] = _Held(
                (0, 0, 0, 0), np.zeros((0, 0, 3), dtype), np.zeros((0, 0), np.float32)
            )
        else:
            alpha = alpha_in(self.track, index, box)
            crop_rgb = box_pixels(frame if rgb is None else rgb, box)
            self.held[index] = _Held(box, crop_rgb.copy(), alpha, full)
        # Process every window whose span is complete.
        while window_core(self.next_window, self.options)[0] <= self.last:
            w = self.next_window
            span_stop = window_core(w, self.options)[1] + self.options.context
            if self.frame_count is not None:
                span_stop = min(span_stop, self.frame_count)
            if self.last + 1 < span_stop:
                break
            self._process(w, self.last + 1)
        self._collect(wait=False)
        yield from self._emit(preview, done=False)

    def finish(self, preview) -> Iterator[tuple[int, list[FramePatch]]]:
        if self.first is None:
            return
        while window_core(self.next_window, self.options)[0] <= self.last:
            self._process(self.next_window, self.last + 1)
            # The previous window's frames go out while this one is being filled.
            yield from self._emit(preview, done=False)
        self._collect()
        yield from self._emit(preview, done=True)

    # Processing -----------------------------------------------------------------------

    def _process(self, w: int, hi: int) -> None:
        """Start filling window w on a worker thread (after collecting the oldest windows
        in flight while WINDOWS_IN_FLIGHT are, or while they hold too many bytes)."""
        self.next_window = w + 1
        a, b = window_span(w, self.options, self.first, hi)
        running = _Running(w, a, b)
        if not self._window_needed(w, hi):
            self.running.append(running)
            self._forget()
            return
        box = self._window_box(w) if self.frame_count is not None else None
        if box is None:
            box = (0, 0, self.size[1], self.size[0])
        x0, y0, x1, y1 = box
        crops, alphas = [], []
        if any(self.held[i].alpha.size and self.held[i].alpha.any() for i in range(a, b)):
            for i in range(a, b):
                held = self.held[i]
                hx, hy = held.box[:2]
                crops.append(held.rgb[y0 - hy : y1 - hy, x0 - hx : x1 - hx])
                alphas.append(held.alpha[y0 - hy : y1 - hy, x0 - hx : x1 - hx])
        running.bytes = sum(crop.nbytes for crop in crops)
        while self.running and (
            len(self.running) >= WINDOWS_IN_FLIGHT
            or running.bytes + sum(r.bytes for r in self.running) > BYTES_IN_FLIGHT
        ):
            self._take(self.running.popleft())
        self.running.append(running)
        if crops:
            running.start(
                fill_window, crops, alphas, self.filler, self.options, a, (x0, y0), self.estimator
            )
        self._forget()

    def abandon(self) -> None:
        """Wait for the windows in flight, if any, and drop their results."""
        while self.running:
            self.running.popleft().wait()

    def _collect(self, wait: bool = True) -> None:
        """Take finished windows, oldest first, into the pending outputs; with `wait`,
        wait for every window in flight."""
        while self.running and (wait or self.running[0].done()):
            self._take(self.running.popleft())

    def _take(self, running: _Running) -> None:
        filled = running.result()
        if filled is not None and self.options.shot_cuts == "auto":
            # Said once per cut, in the frames written, so a wrong one can be seen and
            # overridden with --shot-cuts.
            self.cut_report.add(filled.cuts)
        shot_starts = self._shot_starts(filled)
        start, stop = window_core(running.window, self.options)
        b_ = self.options.blend
        for i in range(max(start - b_, running.first), min(stop + b_, running.stop)):
            if not self._wanted(i):
                continue
            weight = blend_weight(i, running.window, self.options)
            if weight <= 0:
                continue
            pending = self.pending.setdefault(i, _Pending())
            pending.parts.append(_result(filled, i, weight))
            pending.shot_start = pending.shot_start or i in shot_starts
        self.collected_until = running.window + 1

    def _shot_starts(self, filled: FilledWindow | None) -> set[int]:
        """Frames the debug preview marks as starting a new shot: the cuts given, and those
        found by the windows covering the frame (so the marks do not depend on timing)."""
        given = self.options.shot_cuts if isinstance(self.options.shot_cuts, tuple) else ()
        return set(given) | set(filled.cuts if filled is not None else ())

    def _forget(self) -> None:
        """Drop buffered frames that no later window reads."""
        w = self.next_window
        keep_from = window_core(w, self.options)[0] - self.options.context
        keep_from = min(keep_from, self.next_output)  # not yet yielded (debug preview)
        for i in [i for i in self.held if i < keep_from]:
            del self.held[i]
        for i in [i for i in self.bounds if i < keep_from]:
            del self.bounds[i]

    def _emit(self, preview, done: bool) -> Iterator[tuple[int, list[FramePatch]]]:
        while self.next_output is not None and self.next_output <= self.last:
            i = self.next_output
            if not done and max(covering_windows(i, self.options)) >= self.collected_until:
                return
            self.next_output += 1
            if not self._wanted(i):
                self.pending.pop(i, None)
                continue
            pending = self.pending.pop(i, _Pending())
            parts = pending.parts
            patches = blend_patches(parts)
            if preview is not None:
                preview.write(
                    self.held[i].full,
                    self.track.alpha(i),
                    parts,
                    patches,
                    shot_start=pending.shot_start,
                )
            yield i, patches


def _result(filled: FilledWindow | None, index: int, weight: float):
    if filled is None:
        return (weight, [], None, None)
    k = index - filled.first_index
    return (weight, window_patches(filled, k), filled.sources[k], filled.box)


def blend_patches(parts) -> list[FramePatch]:
    """Cross-fade the patches of the windows covering one frame (identical boxes).

    parts: (weight, patches, ...) per window; the weights need not sum to one.
    """
    parts = [p for p in parts if p[1]]
    if not parts:
        return []
    if len(parts) == 1:
        return parts[0][1]
    total = sum(p[0] for p in parts)
    blended = []
    for pieces in zip(*(p[1] for p in parts), strict=True):
        first = pieces[0]
        rgb = sum(
            weight / total * piece.rgb.astype(np.float32)
            for (weight, *_), piece in zip(parts, pieces, strict=True)
        )
        top = np.iinfo(first.rgb.dtype).max
        rgb = np.clip(np.rint(rgb), 0, top).astype(first.rgb.dtype)
        blended.append(FramePatch(first.index, first.x0, first.y0, rgb, first.alpha))
    return blended
