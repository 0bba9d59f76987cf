"""Progress events and the reporters that print them.

`inpaint_video` calls `progress(event)` with a `ProgressEvent`; a reporter turns
the events into what the reader of the output expects:

| mode | where | what |
|---|---|---|
| `bar` | stderr | a redrawn bar, for a person at a terminal (the default on a TTY) |
| `plain` | stderr | `Progress: NN%` lines, as Deadline parses them (the default otherwise) |
| `openjd` | stderr | `openjd_progress: NN` lines (AWS Deadline Cloud / Open Job Description) |
| `json` | stdout | one JSON object per line with an `event` key (the hook protocol) |

JSON events: `{"event": "started", "total": N, "input": ..., "output": ...}`,
`{"event": "progress", "percent": P, "frame": F, "total": N}` (F frames written so far),
`{"event": "warning", "message": ...}`, `{"event": "done", "output": ..., "stats": {...}}`,
`{"event": "error", "code": ..., "exit_code": ..., "message": ...}`.

Warnings go to stderr in every mode except `json`, where they are events on stdout.
This module imports nothing heavy, so plugins and the hook can use it cheaply.
"""

from __future__ import annotations

import contextlib
import json
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TextIO

PROGRESS_MODES = ("bar", "plain", "openjd", "json")

EVENT_KINDS = ("started", "progress", "warning", "done")


@dataclass(frozen=True)
class ProgressEvent:
    """One thing that happened during a run.

    kind: "started" | "progress" | "warning" | "done".
    frame: frames written so far (started: 0).
    total: frames the run will write.
    percent: 0..100, from frame / total.
    message: human text (warnings; the summary line on done).
    stats: for "started" the input/output paths, for "done" the InpaintResult as a dict.
    """

    kind: str
    frame: int = 0
    total: int = 0
    percent: float = 0.0
    message: str = ""
    stats: Mapping[str, Any] = field(default_factory=dict)


ProgressCallback = Callable[[ProgressEvent], None]


class Reporter:
    """Base reporter: prints warnings to stderr, ignores the rest. Call it with events."""

    def __init__(self, stdout: TextIO | None = None, stderr: TextIO | None = None):
        # Resolved at call time, so a reporter made before sys.stdout is redirected still works.
        self._stdout = stdout
        self._stderr = stderr

    @property
    def out(self) -> TextIO:
        return self._stdout or sys.stdout

    @property
    def err(self) -> TextIO:
        return self._stderr or sys.stderr

    def __call__(self, event: ProgressEvent) -> None:
        if event.kind == "warning":
            self.warning(event.message)
        elif event.kind == "progress":
            self.progress(event)
        elif event.kind == "started":
            self.started(event)
        elif event.kind == "done":
            self.done(event)

    def started(self, event: ProgressEvent) -> None:
        pass

    def progress(self, event: ProgressEvent) -> None:
        pass

    def done(self, event: ProgressEvent) -> None:
        pass

    def warning(self, message: str) -> None:
        print(f"moebius-video: warning: {message}", file=self.err, flush=True)

    def error(self, code: str, exit_code: int, message: str) -> None:
        """A run failed; the CLI prints the message itself, so only `json` adds anything."""

    def end_line(self) -> None:
        """Finish a line drawn in place (the bar), so other text can be printed."""

    def summary(self, line: str) -> None:
        """The one-line summary at the end of a run (stdout; stderr in json mode)."""
        print(line, file=self.out, flush=True)


class _PercentLines(Reporter):
    """Prints a line each time the whole percent changes: farm log parsers want few lines."""

    template = "{percent}"

    def __init__(self, stdout: TextIO | None = None, stderr: TextIO | None = None):
        super().__init__(stdout, stderr)
        self._last = -1

    def started(self, event: ProgressEvent) -> None:
        self._emit(0)

    def progress(self, event: ProgressEvent) -> None:
        self._emit(int(event.percent))

    def done(self, event: ProgressEvent) -> None:
        self._emit(100)

    def _emit(self, percent: int) -> None:
        if percent != self._last:
            self._last = percent
            print(self.template.format(percent=percent), file=self.err, flush=True)


class PlainReporter(_PercentLines):
    """`Progress: NN%` lines (Deadline's default progress regex)."""

    template = "Progress: {percent}%"


class OpenJDReporter(_PercentLines):
    """`openjd_progress: NN` lines (Open Job Description / AWS Deadline Cloud)."""

    template = "openjd_progress: {percent}"


class BarReporter(Reporter):
    """A bar redrawn in place on a terminal, at most ten times a second."""

    width = 30

    def __init__(
        self,
        stdout: TextIO | None = None,
        stderr: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        super().__init__(stdout, stderr)
        self._clock = clock
        self._start = clock()
        self._first: tuple[float, int] | None = None  # (time, frame) of the first frame out
        self._last_draw = -1.0
        self._drawn = False

    def started(self, event: ProgressEvent) -> None:
        self._start = self._clock()
        self._first = None
        self._draw(event, force=True)

    def progress(self, event: ProgressEvent) -> None:
        self._draw(event)

    def done(self, event: ProgressEvent) -> None:
        self._draw(event, force=True)
        self.end_line()

    def warning(self, message: str) -> None:
        self.end_line()
        super().warning(message)

    def error(self, code: str, exit_code: int, message: str) -> None:
        self.end_line()

    def end_line(self) -> None:
        if self._drawn:
            print(file=self.err, flush=True)
            self._drawn = False

    def _draw(self, event: ProgressEvent, force: bool = False) -> None:
        now = self._clock()
        if self._first is None and event.frame > 0:
            self._first = (now, event.frame)
        if not force and now - self._last_draw < 0.1:
            return
        self._last_draw = now
        fraction = min(max(event.percent / 100.0, 0.0), 1.0)
        filled = int(round(fraction * self.width))
        bar = "#" * filled + "." * (self.width - filled)
        elapsed = now - self._start
        fps = event.frame / elapsed if elapsed > 0 else 0.0
        # The rate since the first frame came out: start-up (decoding the context, the
        # shot analysis, loading a model) is not a rate, and made the first ETA 20x long.
        eta = "  --  "
        if self._first is not None:
            since, first_frame = now - self._first[0], self._first[1]
            if since >= 1.0 and event.frame - first_frame >= 2:
                rate = (event.frame - first_frame) / since
                eta = f"{(event.total - event.frame) / rate:4.0f} s"
        line = (
            f"\r[{bar}] {event.percent:5.1f}% {event.frame}/{event.total} frames"
            f"  {fps:5.1f} fps  ETA {eta}"
        )
        self.err.write(line)
        self.err.flush()
        self._drawn = True


class JsonReporter(Reporter):
    """JSON lines on stdout, one object per event; the protocol of `moebius-video hook`."""

    def __init__(self, stdout: TextIO | None = None, stderr: TextIO | None = None):
        super().__init__(stdout, stderr)
        self._last_percent = -1.0
        # A warning can come from the thread filling a window while this one reports
        # progress: each line is written whole.
        self._lock = threading.Lock()

    def emit(self, event: str, **fields: Any) -> None:
        line = json.dumps({"event": event, **fields}, default=str) + "\n"
        with self._lock:
            self.out.write(line)
            self.out.flush()

    def started(self, event: ProgressEvent) -> None:
        self.emit("started", total=event.total, **event.stats)

    def progress(self, event: ProgressEvent) -> None:
        # A line per tenth of a percent at most: hosts redraw on each line.
        percent = round(event.percent, 1)
        if percent != self._last_percent:
            self._last_percent = percent
            self.emit("progress", percent=percent, frame=event.frame, total=event.total)

    def done(self, event: ProgressEvent) -> None:
        stats = dict(event.stats)
        self.emit("done", output=stats.pop("output", None), stats=stats)

    def warning(self, message: str) -> None:
        self.emit("warning", message=message)

    def error(self, code: str, exit_code: int, message: str) -> None:
        self.emit("error", code=code, exit_code=exit_code, message=message)

    def summary(self, line: str) -> None:
        # stdout carries only JSON in this mode.
        print(line, file=self.err, flush=True)


_REPORTERS: dict[str, type[Reporter]] = {
    "bar": BarReporter,
    "plain": PlainReporter,
    "openjd": OpenJDReporter,
    "json": JsonReporter,
}


def default_mode(stream: TextIO | None = None) -> str:
    """`bar` when stderr is a terminal, `plain` otherwise (farm logs, pipes, CI)."""
    stream = stream or sys.stderr
    isatty = getattr(stream, "isatty", None)
    return "bar" if isatty is not None and isatty() else "plain"


def make_reporter(
    mode: str | None = None, stdout: TextIO | None = None, stderr: TextIO | None = None
) -> Reporter:
    """The reporter for a `--progress` mode; None picks `default_mode()`."""
    mode = mode or default_mode(stderr)
    try:
        cls = _REPORTERS[mode]
    except KeyError:
        from .errors import UsageError

        choices = ", ".join(PROGRESS_MODES)
        raise UsageError(f"--progress: unknown mode {mode!r}; choose one of {choices}") from None
    return cls(stdout, stderr)


@contextlib.contextmanager
def warnings_as_events(report: ProgressCallback) -> Iterator[None]:
    """Python warnings raised during the run (a pixel format ffv1 cannot keep, timestamps
    a container rounds) become warning events, so hook and farm readers see them too."""

    def show(message, category, filename, lineno, file=None, line=None) -> None:
        report(ProgressEvent("warning", message=str(message)))

    with warnings.catch_warnings():
        warnings.simplefilter("default")  # each distinct warning once, not once per frame
        warnings.showwarning = show
        yield
