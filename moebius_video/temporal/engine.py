"""The one window engine: the temporal core's loop over a clip's windows.

    engine = WindowEngine(track, filler, options, estimator, output_range=(start, stop))
    for frame in frames:                       # consecutive decoded frames
        for done in engine.push(frame):        # windows filled, in order
            for index, weight in done.shares:  # the frames it contributes to
                ...
    for done in engine.finish(): ...

Everything that fills windows drives this class: the single-process run and a farm
chunk (through `iter_patches`, which cross-fades the windows' shares with a
`FrameAssembler` and writes the debug preview), and a Ray worker (which sends the shares
of the windows it owns to the driver, whose `FrameAssembler` cross-fades them). The
window grid is in grid.py; what happens inside one window is window.py.

Each window is filled on a worker thread while the caller reads the next window's frames
and writes the previous window's results, so decoding, encoding and filling overlap; up
to WINDOWS_IN_FLIGHT windows are filled side by side when their crops are small.

Memory: at most WINDOWS_IN_FLIGHT + 1 windows plus their context are held, each frame
cropped to the areas around the masks that the windows containing it need, so it does not
grow with clip length. Masks far apart are separate regions (regions.py), each held,
filled and cropped on its own: cost follows the masks, not their bounding box.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from ..allocator import release_free_memory
from ..fillers import Filler
from ..flow.estimate import FlowEstimator, make_flow_estimator
from ..patches import AlphaTrack, FramePatch, alphas_in, box_pixels
from .cut_report import CutReport
from .debug import DebugPreview, preview_region
from .grid import blended_frames, covering_windows, window_core, window_of, window_span
from .regions import component_boxes, merge_boxes
from .settings import TemporalOptions
from .shot_pull import ShotPull
from .window import FilledRegions, Region, crop_margin, fill_regions

Box = tuple[int, int, int, int]
# Windows filled at once, each on its own thread (NumPy, OpenCV and SciPy release the
# GIL), as long as their crops hold at most BYTES_IN_FLIGHT (large masks on 4K frames
# are filled one window at a time, so memory stays about one window's worth).
WINDOWS_IN_FLIGHT = 2
BYTES_IN_FLIGHT = 512 * 2**20


# --- the engine ---------------------------------------------------------------------------------


@dataclass
class _Held:
    """A buffered frame, cropped to what the windows containing it need: one crop per
    disjoint box."""

    boxes: list[Box]
    rgbs: list[np.ndarray]
    alphas: list[np.ndarray]

    def masked(self) -> bool:
        return any(alpha.any() for alpha in self.alphas)

    def crop(self, box: Box) -> tuple[np.ndarray, np.ndarray]:
        """The RGB and alpha of `box` (views), which lies inside one of the held boxes."""
        x0, y0, x1, y1 = box
        for (hx, hy, hx1, hy1), rgb, alpha in zip(self.boxes, self.rgbs, self.alphas, strict=True):
            if hx <= x0 and hy <= y0 and x1 <= hx1 and y1 <= hy1:
                return rgb[y0 - hy : y1 - hy, x0 - hx : x1 - hx], alpha[
                    y0 - hy : y1 - hy, x0 - hx : x1 - hx
                ]
        raise AssertionError(f"region {box} is outside the held crops {self.boxes}")


class _Running:
    """One window being filled on a worker thread.

    The caller goes on decoding the next window's frames and encoding the previous
    window's results meanwhile (OpenCV, NumPy and PyAV release the GIL). A window's
    result depends only on its own frames, so results are the same as filling the windows
    one after another in the caller's thread; they are collected in order. A cancelled
    run waits for the windows in flight to finish (`WindowEngine.abandon`).
    """

    def __init__(self, window: int, first: int, stop: int):
        self.window, self.first, self.stop = window, first, stop
        self.bytes = 0  # of the crops it reads
        self._thread: threading.Thread | None = None
        self._result: FilledRegions | None = None
        self._error: BaseException | None = None
        self.boxes: list[Box] = []  # the region crops it fills (the window cache's key)
        self.from_cache = False

    def use(self, result: FilledRegions) -> None:
        """Take a result filled by another task (a WindowCache hit) instead of filling."""
        self._result, self.from_cache = result, True

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

    def result(self) -> FilledRegions | None:
        self.wait()
        if self._error is not None:
            raise self._error
        return self._result


@dataclass(frozen=True)
class WindowDone:
    """A window the engine is through with, in window order.

    first, stop: the frames it read. filled: its result (None: nothing masked in it,
    not needed for the wanted frames, or filled elsewhere). owned: whether this engine
    fills it. shares: (frame, blend weight) for the wanted frames it contributes to.
    """

    window: int
    first: int
    stop: int
    filled: FilledRegions | None
    owned: bool
    shares: tuple[tuple[int, float], ...]

    def patches(self, index: int) -> list[FramePatch]:
        """This window's patches for frame `index` (one of its shares)."""
        if self.filled is None:
            return []
        return self.filled.patches(index - self.filled.first_index)


class WindowEngine:
    """Buffers a stream of frames, fills each window once, hands windows out in order.

    output_range: (start, stop) clip indices wanted; other frames are read as context.
    frame_count: frames in the clip, if known; lets the buffer keep crops, not frames.
    owned: the windows this engine fills (a Ray worker's share); None: every window a
        wanted frame needs. Other windows are handed out unfilled, with `owned` False.
    pull: shot-wide references for the frames it fills (shot_pull.py), or None; or a
        function that builds them, called once, when the first window is filled here (a
        task whose windows all come from the cache never builds them).
    cache: filled windows shared between the tasks of a shot (shot_files.WindowCache:
        `get(window, first, stop, boxes)`, `put(window, first, stop, boxes, filled)`, keyed on
        every region crop of the window), or None.
    """

    def __init__(
        self,
        track: AlphaTrack,
        filler: Filler,
        options: TemporalOptions,
        estimator: FlowEstimator,
        *,
        output_range: tuple[int, int] | None = None,
        frame_count: int | None = None,
        owned: Iterable[int] | None = None,
        pull: ShotPull | Callable[[], ShotPull | None] | None = None,
        cache: Any = None,
    ):
        self.track = track
        self.pull = pull
        self.cache = cache
        self.filler = filler
        self.options = options
        self.output_range = output_range
        self.frame_count = frame_count or getattr(track, "frame_count", None)
        self.estimator = estimator
        self.owned = None if owned is None else set(owned)
        self.crop_margin = crop_margin(options, estimator)
        self.first: int | None = None
        self.last: int | None = None
        self.size: tuple[int, int] | None = None  # (height, width)
        self.held: dict[int, _Held] = {}
        self.next_window: int | None = None
        self.running: deque[_Running] = deque()  # windows being filled, oldest first
        self.done: deque[WindowDone] = deque()  # taken, not yet handed out
        self.bounds: dict[int, list[Box]] = {}

    # Which windows count ----------------------------------------------------------------

    def _window_needed(self, w: int, hi: int) -> bool:
        """Whether window w has frames, contributes to a wanted frame, and is ours."""
        if self.owned is not None and w not in self.owned:
            return False
        start, stop = window_core(w, self.options)
        b = self.options.blend
        lo_out, hi_out = max(start - b, self.first), min(stop + b, hi)
        if self.output_range is not None:
            lo_out = max(lo_out, self.output_range[0])
            hi_out = min(hi_out, self.output_range[1])
        return max(start, self.first) < min(stop, hi) and lo_out < hi_out

    # Buffering --------------------------------------------------------------------------

    def _bounds(self, index: int) -> list[Box]:
        """Cheap boxes around frame index's alpha > 0 grown by the crop margin: the
        track's own per-shape boxes, or those of its alpha's connected parts."""
        if index not in self.bounds:
            h, w = self.size
            boxes_fn = getattr(self.track, "shape_boxes", None)
            if boxes_fn is not None:
                boxes = boxes_fn(index, margin=self.crop_margin)
            else:
                boxes = component_boxes(self.track.alpha(index), self.crop_margin)
            self.bounds[index] = [
                (max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)) for x0, y0, x1, y1 in boxes
            ]
        return self.bounds[index]

    def _window_regions(self, w: int) -> list[Box]:
        """The separate regions of window w: its frames' boxes over its whole span
        (unclipped at the clip end), merged where they overlap (regions.py)."""
        a, b = window_span(w, self.options, self.first, self.frame_count or 1 << 62)
        return merge_boxes(box for i in range(a, b) for box in self._bounds(i))

    def _storage_boxes(self, index: int) -> list[Box]:
        h, w = self.size
        if self.options.save_debug or self.frame_count is None:
            return [(0, 0, w, h)]  # the preview shows whole frames; unknown length: no bounds
        boxes = []
        for win in (window_of(index, self.options) + d for d in (-1, 0, 1)):
            a, b = window_span(win, self.options, self.first, self.frame_count)
            if a <= index < b:
                boxes += self._window_regions(win)
        # Each window's region then lies inside one held crop.
        return merge_boxes(boxes)

    def push(self, frame) -> Iterator[WindowDone]:
        """Buffer the next frame (objects with `.index` and `.rgb`, or a DecodedFrame,
        converted only around the masks); hand out the windows it completes."""
        index = int(frame.index)
        # A DecodedFrame converts to RGB only the crop asked for; other frames are cut here.
        rgb = None if hasattr(frame, "rgb_crop") and not self.options.save_debug else frame.rgb
        if self.first is None:
            self.first = index
            self.next_window = window_of(index, self.options)
            self.size = rgb.shape[:2] if rgb is not None else (frame.height, frame.width)
        elif index != self.last + 1:
            raise ValueError(f"iter_patches: frame {index} follows frame {self.last}")
        self.last = index
        boxes = self._storage_boxes(index)
        rgbs = [box_pixels(frame if rgb is None else rgb, box).copy() for box in boxes]
        self.held[index] = _Held(boxes, rgbs, alphas_in(self.track, index, boxes))
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
        yield from self._hand_out()

    def finish(self) -> Iterator[WindowDone]:
        """The stream ended: fill the windows left (spans cut at the last frame read)."""
        if self.first is None:
            return
        while window_core(self.next_window, self.options)[0] <= self.last:
            self._process(self.next_window, self.last + 1)
            # The previous window's frames go out while this one is being filled.
            yield from self._hand_out()
        self._collect()
        yield from self._hand_out()

    def abandon(self) -> None:
        """Wait for the windows in flight, if any, and drop their results."""
        while self.running:
            self.running.popleft().wait()

    # Processing -------------------------------------------------------------------------

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
        # Unknown length: whole frames are held, and fill_window finds the masks in them.
        boxes = self._window_regions(w) if self.frame_count is not None else []
        boxes = boxes or [(0, 0, self.size[1], self.size[0])]
        regions = []
        if any(self.held[i].masked() for i in range(a, b)):
            for box in boxes:
                crops, alphas = zip(*(self.held[i].crop(box) for i in range(a, b)), strict=True)
                regions.append(Region(crops, alphas, box[:2]))
        running.bytes = sum(crop.nbytes for region in regions for crop in region.frames)
        while self.running and (
            len(self.running) >= WINDOWS_IN_FLIGHT
            or running.bytes + sum(r.bytes for r in self.running) > BYTES_IN_FLIGHT
        ):
            self._take(self.running.popleft())
        self.running.append(running)
        running.boxes = boxes
        cached = (
            self.cache.get(w, a, b, running.boxes) if regions and self.cache is not None else None
        )
        if cached is not None:
            running.use(cached)
        elif regions:
            running.start(
                fill_regions,
                regions,
                self.filler,
                self.options,
                a,
                self.estimator,
                self._shot_pull(),
            )
        self._forget()

    def _shot_pull(self) -> ShotPull | None:
        if callable(self.pull):
            self.pull = self.pull()  # built once, on the first window filled here
        return self.pull

    def _collect(self, wait: bool = True) -> None:
        """Take finished windows, oldest first; with `wait`, wait for every one in flight."""
        while self.running and (wait or self.running[0].done()):
            self._take(self.running.popleft())

    def _take(self, running: _Running) -> None:
        w = running.window
        owned = self.owned is None or w in self.owned
        shares = blended_frames(w, self.options, running.first, running.stop, self.output_range)
        filled = running.result()
        if filled is not None and self.cache is not None and not running.from_cache:
            self.cache.put(w, running.first, running.stop, running.boxes, filled)
        self.done.append(WindowDone(w, running.first, running.stop, filled, owned, tuple(shares)))
        release_free_memory()  # the window's working arrays are gone: give the pages back

    def _hand_out(self) -> Iterator[WindowDone]:
        while self.done:
            yield self.done.popleft()

    def _forget(self) -> None:
        """Drop buffered frames that no later window reads."""
        keep_from = window_core(self.next_window, self.options)[0] - self.options.context
        for i in [i for i in self.held if i < keep_from]:
            del self.held[i]
        for i in [i for i in self.bounds if i < keep_from]:
            del self.bounds[i]


# --- assembling frames from windows ---------------------------------------------------------------


class FrameAssembler:
    """Gathers the windows' shares of each frame and hands out frames in order.

    start, stop: the frames to hand out (stop None: until `rest`). covering(i): the
    windows frame i needs; a frame goes out once the last of them is done. A share is
    (weight, patches, ...): the driver of a Ray run and `iter_patches` both cross-fade
    shares with `blend_patches`.
    """

    def __init__(self, start: int, stop: int | None, covering: Callable[[int], list[int]]):
        self.next = start
        self.stop = stop
        self.covering = covering
        self.pending: dict[int, list[tuple]] = {}

    def add(self, index: int, share: tuple) -> None:
        if self.next <= index and (self.stop is None or index < self.stop):
            self.pending.setdefault(index, []).append(share)

    def ready(self, done_through: int, upto: int | None = None) -> Iterator[tuple[int, list]]:
        """Frames whose windows are all done (the last window done: `done_through`), below
        `upto` (the frames read, when the stream's end is not known)."""
        end = self._end(upto)
        while self.next < end and self.covering(self.next)[-1] <= done_through:
            yield self.next, self.pending.pop(self.next, [])
            self.next += 1

    def rest(self, upto: int | None = None) -> Iterator[tuple[int, list]]:
        """Every frame left (below `upto`): the stream has ended."""
        end = self._end(upto)
        while self.next < end:
            yield self.next, self.pending.pop(self.next, [])
            self.next += 1

    def _end(self, upto: int | None) -> int:
        ends = [e for e in (self.stop, upto) if e is not None]
        return min(ends) if ends else self.next


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


# --- the streaming temporal core ------------------------------------------------------------------


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
    pull: ShotPull | Callable[[], ShotPull | None] | None = None,
    frame_base: int | None = None,
    cache: Any = None,
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
    pull: the shot-wide references of the frames to fill (`shot_pull.build_shot_pull`), or
      None: each window takes real background only from its own frames; or a function
      that builds them when a window is first filled (see WindowEngine).
    cache: filled windows shared with the shot's other tasks (`WindowEngine`), or None.
    frame_base: the frame number of index 0 in the cut warnings (the run's numbering: a
      sequence's first file number, or the track's frame_base); default the track's.
    """
    estimator = estimator or make_flow_estimator(options.flow_quality)
    engine = WindowEngine(
        track,
        filler,
        options,
        estimator,
        output_range=output_range,
        frame_count=frame_count,
        pull=pull,
        cache=cache,
    )
    # Said once per cut, in the frames written, so a wrong one can be seen and overridden
    # with --shot-cuts.
    if frame_base is None:
        frame_base = getattr(track, "frame_base", 0)
    cut_report = CutReport(frame_base, output_range)
    given = set(options.shot_cuts) if isinstance(options.shot_cuts, tuple) else set()
    shot_starts: set[int] = set()  # frames the debug preview marks as starting a new shot
    whole: dict[int, np.ndarray] = {}  # whole frames, kept for the debug preview only
    assembler: FrameAssembler | None = None
    done_through = -1
    preview = None

    def take(done: WindowDone) -> None:
        nonlocal done_through
        filled = done.filled
        if filled is not None and options.shot_cuts == "auto":
            cut_report.add(filled.cuts)
        # The cuts given, and those found by the windows covering a frame (so the marks
        # do not depend on timing).
        starts = given | set(filled.cuts if filled is not None else ())
        for index, weight in done.shares:
            assembler.add(index, _share(filled, index, weight))
            if index in starts:
                shot_starts.add(index)
        done_through = done.window

    def emit(ready: Iterator[tuple[int, list]]) -> Iterator[tuple[int, list[FramePatch]]]:
        for index, parts in ready:
            patches = blend_patches(parts)
            if preview is not None:
                preview.write(
                    whole.pop(index),
                    track.alpha(index),
                    parts,
                    patches,
                    shot_start=index in shot_starts,
                )
                for i in [i for i in whole if i < index]:
                    del whole[i]  # context frames, never written
            yield index, patches

    try:
        for frame in frames:
            if assembler is None:
                start, stop = output_range if output_range is not None else (frame.index, None)
                start = max(start, frame.index)  # a stream may start anywhere
                assembler = FrameAssembler(start, stop, lambda i: covering_windows(i, options))
            if options.save_debug:
                if preview is None:
                    h, w = frame.rgb.shape[:2]
                    preview = DebugPreview(
                        options.save_debug,
                        w,
                        h,
                        debug_rate or Fraction(25),
                        scale=options.save_debug_scale,
                        region=_preview_region(track, output_range, frame_count, w, h),
                    )
                whole[frame.index] = frame.rgb
            for done in engine.push(frame):
                take(done)
            yield from emit(assembler.ready(done_through, engine.last + 1))
        for done in engine.finish():
            take(done)
            yield from emit(assembler.ready(done_through, engine.last + 1))
        if assembler is not None:
            yield from emit(assembler.rest(engine.last + 1))
        if preview is not None:
            preview.close()
            preview = None
    finally:
        # Cancelled or failed: let a window still being filled finish first. Native code
        # (OpenCV, torch) must not be running on a thread while the interpreter exits.
        engine.abandon()
        if preview is not None:
            preview.abort()


def _preview_region(track, output_range, frame_count, width: int, height: int):
    """The region the debug preview shows (debug.preview_region), from the track's cheap
    per-frame boxes over the frames written; None (the whole frame) when the track has no
    boxes or the clip's length is unknown."""
    box = getattr(track, "box", None)
    frame_count = frame_count or getattr(track, "frame_count", None)
    span = output_range or ((0, frame_count) if frame_count is not None else None)
    if box is None or span is None:
        return None
    boxes = [b for b in (box(i) for i in range(*span)) if b is not None]
    return preview_region(boxes, width, height)


def _share(filled: FilledRegions | None, index: int, weight: float) -> tuple:
    """One window's share of a frame: (weight, patches, (source map, box) per region)
    (the debug preview reads the last)."""
    if filled is None:
        return (weight, [], None)
    k = index - filled.first_index
    maps = tuple((part.sources[k], part.box) for part in filled.parts)
    return (weight, filled.patches(k), maps)
