"""Helpers of the hook and plug-in tests: a real hook subprocess and small real clips."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
PLUGINS = REPO / "plugins"


def hook_env() -> dict[str, str]:
    """The environment of a hook subprocess: this repo importable, wherever the test runs."""
    env = os.environ.copy()
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    return env


@dataclass
class HookRun:
    returncode: int
    events: list[dict[str, Any]]
    stderr: str
    stdout: str = field(repr=False, default="")

    @property
    def last(self) -> dict[str, Any]:
        assert self.events, f"no events on stdout; stderr:\n{self.stderr}"
        return self.events[-1]

    def kinds(self) -> list[str]:
        return [e["event"] for e in self.events]


def run_hook(
    args: list[str],
    cwd: Path,
    stdin: bytes | None = None,
    timeout: float = 120,
    events: bool = True,
    env: dict[str, str] | None = None,
) -> HookRun:
    """`moebius-video hook ARGS` through the real CLI dispatcher, in a subprocess.

    events: stdout must be JSON-lines events (the protocol), parsed into HookRun.events.
    env: variables added to hook_env().
    """
    proc = subprocess.run(
        [sys.executable, "-m", "moebius_video.cli", "hook", *args],
        input=stdin if stdin is not None else b"",
        capture_output=True,
        cwd=cwd,
        env={**hook_env(), **(env or {})},
        timeout=timeout,
    )
    stdout = proc.stdout.decode("utf-8")
    # The protocol: every stdout line is one JSON object with an "event" key.
    parsed = []
    for number, line in enumerate(stdout.splitlines() if events else [], 1):
        try:
            event = json.loads(line)
        except ValueError:
            pytest.fail(f"stdout line {number} is not JSON: {line!r}\nstderr:\n{proc.stderr!r}")
        assert isinstance(event, dict) and "event" in event, f"line {number}: {line!r}"
        parsed.append(event)
    return HookRun(proc.returncode, parsed, proc.stderr.decode("utf-8", "replace"), stdout)


def run_request(request: dict[str, Any] | str, cwd: Path, name: str = "request.json") -> HookRun:
    """Write `request` (a dict, or raw text) to cwd/name and run the hook on that file."""
    path = cwd / name
    path.write_text(request if isinstance(request, str) else json.dumps(request))
    return run_hook([str(path)], cwd=cwd)


def write_clip(
    path: Path, width: int = 64, height: int = 48, frames: int = 12, rate: int = 25
) -> Path:
    """A small real H.264 clip: a gradient that moves one pixel per frame, so frames differ."""
    import av

    ramp = np.linspace(0, 255, width + frames, dtype=np.float32)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=rate)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.time_base = Fraction(1, rate)
        stream.options = {"crf": "10"}
        for index in range(frames):
            row = ramp[index : index + width]
            rgb = np.empty((height, width, 3), np.uint8)
            rgb[..., 0] = row.astype(np.uint8)
            rgb[..., 1] = np.linspace(40, 200, height, dtype=np.uint8)[:, None]
            rgb[..., 2] = (255 - row).astype(np.uint8)
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = index
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def count_frames(path: Path) -> int:
    import av

    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


def box_track(width: int, height: int, frame_base: int = 0, frames: int = 12) -> dict[str, Any]:
    """An inline mask track: a small square on each of `frames` frames (held still)."""
    square = [[20, 14], [34, 14], [34, 28], [20, 28]]
    return {
        "schema": "moebius.masktrack/1",
        "width": width,
        "height": height,
        "frame_base": frame_base,
        "tracks": [
            {
                "id": "box",
                "shape": "polygon",
                "keyframes": [
                    {"frame": frame_base, "points": square},
                    {"frame": frame_base + frames - 1, "points": square},
                ],
            }
        ],
    }
