"""Segments on a real local Ray cluster (2 CPUs, started once for this module).

Outputs are compared byte for byte with the one-process render: the segment plan does
not depend on the number of workers, and a segment gives the same patches wherever it
runs, even on an actor that Ray restarted after its process was killed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from distributed_media import FRAME_BASE, FRAMES, per_frame_job, wire_track, write_clip

from moebius_video import InpaintOptions, inpaint_video
from moebius_video.api import render_chunk
from moebius_video.distributed import fill_segments, plan_segments
from moebius_video.fillers import OpenCVFiller

# Small windows so the 30-frame clip is cut into 4 segments of 4 windows (8 frames).
OPTIONS = InpaintOptions(window=2, context=2, model="opencv")


def _frames(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.png"))}


@pytest.fixture(scope="module")
def reference(shot, tmp_path_factory) -> dict[str, bytes]:
    """The one-process render (1 worker: no Ray involved)."""
    out = tmp_path_factory.mktemp("reference")
    render_chunk(shot["clip"], shot["track"], out / "clean.%04d.png", OPTIONS)
    frames = _frames(out)
    assert len(frames) == FRAMES, f"expected {FRAMES} frames, got {len(frames)}"
    return frames


def _assert_same(got: dict[str, bytes], expected: dict[str, bytes]) -> None:
    assert sorted(got) == sorted(expected), f"files: expected {sorted(expected)}, got {sorted(got)}"
    differing = [name for name in expected if got[name] != expected[name]]
    assert not differing, f"{len(differing)} frames differ from the 1-worker render: {differing}"


def test_two_workers_write_the_same_bytes_as_one(shot, reference, ray_cluster, tmp_path):
    # A movie through inpaint_video: the local streaming path against Ray segments. FFV1,
    # because libx264 itself is not byte-repeatable on a loaded machine (see README).
    lossless = OPTIONS.replace(codec="ffv1")
    one = inpaint_video(shot["clip"], shot["track"], tmp_path / "one.mkv", lossless)
    two = inpaint_video(
        shot["clip"], shot["track"], tmp_path / "two.mkv", lossless.replace(workers=2)
    )
    assert one.masked_frames == FRAMES, f"expected a mask on every frame, got {one}"
    # The summary names the filler the workers built, as the one-process run does.
    assert two.filler == f"{one.filler} on Ray", f"fillers: {one.filler!r}, {two.filler!r}"
    assert (tmp_path / "one.mkv").read_bytes() == (tmp_path / "two.mkv").read_bytes(), (
        f"1 worker and 2 workers wrote different files: {one} vs {two}"
    )

    # Per-frame files through the farm path.
    pids = set()
    render_chunk(
        shot["clip"],
        shot["track"],
        tmp_path / "frames" / "clean.%04d.png",
        OPTIONS.replace(workers=2),
        on_segment=lambda result: pids.add(result.worker_pid),
    )
    _assert_same(_frames(tmp_path / "frames"), reference)
    assert os.getpid() not in pids, "segments ran in the driver, not on Ray workers"
    assert len(pids) == 2, f"expected both workers to fill segments, got pids {pids}"


def test_killed_worker_still_gives_complete_identical_output(
    shot, reference, ray_cluster, tmp_path
):
    pids: list[int] = []
    killed: list[int] = []

    def kill_after_first_segment(result) -> None:
        pids.append(result.worker_pid)
        if not killed:  # the actor that filled segment 0 has segment 2 queued
            os.kill(result.worker_pid, signal.SIGKILL)
            killed.append(result.worker_pid)

    render_chunk(
        shot["clip"],
        shot["track"],
        tmp_path / "clean.%04d.png",
        OPTIONS.replace(workers=2),
        on_segment=kill_after_first_segment,
    )
    _assert_same(_frames(tmp_path), reference)
    assert killed[0] not in pids[1:], f"the killed worker {killed[0]} kept answering: {pids}"
    # Two original actors plus the one Ray restarted in place of the killed process.
    assert len(set(pids)) == 3, f"expected a restarted worker among the pids {pids}"


@dataclass(frozen=True)
class TiledFiller:
    """OpenCV fill that runs out of memory above `limit` px tiles, as a GPU model would."""

    tile_size: int = 512
    limit: int = 128
    name: str = "tiled-test"

    def fill(self, image: np.ndarray, hole: np.ndarray) -> np.ndarray:
        if self.tile_size > self.limit:
            raise MemoryError(f"tile {self.tile_size} does not fit")
        return OpenCVFiller().fill(image, hole)


def test_out_of_memory_is_retried_with_smaller_tiles(shot, ray_cluster):
    from ray import cloudpickle

    # Workers cannot import this test module by name: send TiledFiller by value.
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    job = per_frame_job(shot, TiledFiller)
    segments = plan_segments(FRAMES, 10, 0)
    from moebius_video.distributed.ray_runner import RayOptions

    results = list(fill_segments(job, segments, ray_options=RayOptions(workers=2, oom_retries=2)))
    assert [r.segment.index for r in results] == [0, 1, 2]
    filled = [index for r in results for index, _, patches in r.parts if patches]
    assert filled == list(range(FRAMES)), f"frames with a fill: {filled}"

    from moebius_video.errors import RetryableError

    one_retry = RayOptions(workers=2, oom_retries=1)  # 512 -> 256 still does not fit
    with pytest.raises(RetryableError, match="out of memory"):
        list(fill_segments(job, segments, ray_options=one_retry))


# Index of the first frame of the second shot in the clip below: on the border between
# segments 1 and 2 (8 frames each), so windows of both, on different workers, find it.
CUT = 16


def _cut_warnings(events) -> list[str]:
    return [e.message for e in events if e.kind == "warning" and "shot cut" in e.message]


def test_the_driver_reports_a_cut_a_worker_found(ray_cluster, tmp_path):
    clip = write_clip(tmp_path / "edited.mp4", cut=CUT)
    track = tmp_path / "wire.json"
    track.write_text(json.dumps(wire_track()))
    expected = [
        f"shot cut found before frame {FRAME_BASE + CUT}: nothing is carried across it"
        " (--shot-cuts gives the cuts by hand, --shot-cuts none turns this off)"
    ]
    # The one-process streaming path reports it once; 2 Ray workers say the same, once,
    # although windows in two segments found it.
    lossless = OPTIONS.replace(codec="ffv1")
    one, two = [], []
    inpaint_video(clip, track, tmp_path / "one.mkv", lossless, progress=one.append)
    inpaint_video(
        clip, track, tmp_path / "two.mkv", lossless.replace(workers=2), progress=two.append
    )
    assert _cut_warnings(one) == expected, f"one process: {_cut_warnings(one)}"
    assert _cut_warnings(two) == expected, f"2 Ray workers: {_cut_warnings(two)}"

    # A farm chunk that writes the cut reports it, and it was found on a worker.
    events, results = [], []
    render_chunk(
        clip,
        track,
        tmp_path / "chunk" / "clean.%04d.png",
        OPTIONS.replace(workers=2, frames=(FRAME_BASE + 9, FRAME_BASE + 20)),
        progress=events.append,
        on_segment=results.append,
    )
    assert _cut_warnings(events) == expected, f"chunk with the cut: {_cut_warnings(events)}"
    found_in = [(r.segment.index, r.worker_pid) for r in results if CUT in r.cuts]
    assert len(found_in) == 2, f"expected segments 1 and 2 to find the cut: {found_in}"
    assert os.getpid() not in {pid for _, pid in found_in}, "the cut was found in the driver"

    # A chunk that ends just before it reads the cut as context but does not write it.
    events, results = [], []
    render_chunk(
        clip,
        track,
        tmp_path / "before" / "clean.%04d.png",
        OPTIONS.replace(workers=2, frames=(FRAME_BASE, FRAME_BASE + CUT - 1)),
        progress=events.append,
        on_segment=results.append,
    )
    assert any(CUT in r.cuts for r in results), "the chunk's context did not reach the cut"
    assert _cut_warnings(events) == [], f"chunk before the cut: {_cut_warnings(events)}"


def noticing_filler() -> OpenCVFiller:
    """A filler factory that says something while it builds, as a missing model does."""
    import warnings

    from moebius_video.distributed.worker import WorkerNotice

    warnings.warn("test notice: weights missing on this worker", WorkerNotice, stacklevel=2)
    return OpenCVFiller()


def test_the_driver_shows_a_workers_notice_once(shot, ray_cluster):
    import warnings

    from ray import cloudpickle

    from moebius_video.distributed import iter_frame_parts
    from moebius_video.distributed.ray_runner import RayOptions

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    job = per_frame_job(shot, noticing_filler)
    results = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        frames = list(
            iter_frame_parts(
                job, FRAMES, ray_options=RayOptions(workers=2), on_result=results.append
            )
        )
    assert len(frames) == FRAMES, f"expected {FRAMES} frames, got {len(frames)}"
    pids = {r.worker_pid for r in results if r.notices}
    assert len(pids) == 2 and os.getpid() not in pids, f"notices came from {pids}"
    shown = [str(w.message) for w in caught if "test notice" in str(w.message)]
    assert shown == ["test notice: weights missing on this worker"], f"driver showed {shown}"


def _session_processes(session: int, leader: int) -> list[str]:
    """Command lines of the processes still in a session (the CLI's Ray workers, raylet...)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != leader:
            try:
                if os.getsid(int(entry)) == session:
                    found.append(Path(f"/proc/{entry}/cmdline").read_bytes().decode()[:120])
            except (OSError, UnicodeDecodeError):
                continue  # gone meanwhile
    return found


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="lists processes from /proc")
def test_sigterm_stops_a_two_worker_run_and_its_workers(tmp_path):
    # ray.init installs handlers of its own (a stack dump, then exit status 15); the CLI's
    # must win, so that the run unwinds: exit 130, no output, actors and cluster gone.
    frames = 200
    clip = write_clip(tmp_path / "long.mp4", frames=frames)
    (tmp_path / "wire.json").write_text(json.dumps(wire_track(frames=frames)))
    output = tmp_path / "out" / "clean.mp4"
    output.parent.mkdir()
    command = [sys.executable, "-m", "moebius_video.cli", str(clip), "--mask-track"]
    command += [str(tmp_path / "wire.json"), "-o", str(output), "--progress", "json"]
    command += ["--workers", "2", "--model", "opencv"]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,  # its own session: every process it starts can be found
    )
    try:
        for line in process.stdout:
            if json.loads(line)["event"] == "progress":
                break  # the workers are filling
        assert _session_processes(process.pid, process.pid), "no Ray processes were started"
        process.send_signal(signal.SIGTERM)
        process.stdout.read()
        stderr = process.communicate(timeout=60)[1]
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr and "SIGTERM received" not in stderr, stderr
    assert "WARNING" not in stderr, stderr  # Ray's token-auth notice, in every farm log
    assert list(output.parent.iterdir()) == [], "a partial or temporary file was left behind"
    for _ in range(40):  # Ray's own processes take a moment to notice
        left = _session_processes(process.pid, process.pid)
        if not left:
            break
        time.sleep(0.25)
    assert not left, f"still running after the run ended: {left}"
