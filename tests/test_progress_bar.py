"""The terminal bar: its ETA follows the frames coming out, not the start-up before them."""

import io
import re

from moebius_video.progress import BarReporter, ProgressEvent


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _etas(text: str) -> list[str]:
    return re.findall(r"ETA (.{6})", text)


def test_the_eta_is_the_rate_since_the_first_frame_not_since_start_up():
    clock, err = Clock(), io.StringIO()
    bar = BarReporter(stdout=io.StringIO(), stderr=err, clock=clock)
    bar(ProgressEvent("started", total=100))
    clock.now += 8.0  # start-up: context decoded, shot analysed, model loaded
    bar(ProgressEvent("progress", frame=1, total=100, percent=1.0))
    for frame in range(2, 22):  # then 10 frames a second
        clock.now += 0.1
        bar(ProgressEvent("progress", frame=frame, total=100, percent=float(frame)))
    etas = _etas(err.getvalue())
    assert etas[0] == "  --  " and etas[1] == "  --  ", etas  # no rate measured yet
    # 79 frames left at 10 fps: 8 s (counted from the start: 38 s).
    assert etas[-1] == "   8 s", etas
    bar(ProgressEvent("done", frame=100, total=100, percent=100.0))
    assert err.getvalue().endswith("\n")
