"""Render-farm chunks: separate processes, one killed and resumed, equal a one-process render."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from distributed_media import FRAME_BASE, FRAMES

from moebius_video.api import render_chunk
from moebius_video.options import InpaintOptions
from moebius_video.paths import frame_path, is_image_pattern

REPO = Path(__file__).resolve().parents[2]
# Small windows: the chunks below cut segments in the middle, which must not change pixels.
ARGS = ["--window", "2", "--context", "2", "--model", "opencv"]
OPTIONS = InpaintOptions(window=2, context=2, model="opencv")


def _chunk_command(shot, out: Path, frames: str, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "moebius_video.cli",
        str(shot["clip"]),
        "--mask-track",
        str(shot["track"]),
        "-o",
        str(out / "clean.%04d.png"),
        "--frames",
        frames,
        *ARGS,
        *extra,
    ]


def _run(command: list[str]) -> subprocess.CompletedProcess:
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"exit {done.returncode}\nstderr:\n{done.stderr}"
    return done


def test_frame_patterns():
    assert is_image_pattern("out/shot.%04d.png") and is_image_pattern("shot.####.exr")
    assert not is_image_pattern("out/shot_clean.mov")
    assert frame_path("a/shot.%04d.png", 1001) == Path("a/shot.1001.png")
    assert frame_path("a/shot.####.exr", 7) == Path("a/shot.0007.exr")


def test_chunks_with_one_killed_and_resumed_equal_one_process(shot, tmp_path):
    reference = tmp_path / "reference"
    render_chunk(shot["clip"], shot["track"], reference / "clean.%04d.png", OPTIONS)
    numbers = range(FRAME_BASE, FRAME_BASE + FRAMES)
    expected = {n: frame_path(reference / "clean.%04d.png", n).read_bytes() for n in numbers}

    chunks = tmp_path / "chunks"
    # Chunk borders fall inside windows (of 2 frames): 1001-1009, 1010-1021, 1022-1030.
    _run(_chunk_command(shot, chunks, "1001-1009"))
    _run(_chunk_command(shot, chunks, "1022-1030", "--skip-existing"))

    # The middle chunk is killed as a farm would kill a pre-empted task: SIGKILL, no cleanup.
    middle = subprocess.Popen(
        _chunk_command(shot, chunks, "1010-1021", "--progress", "json"),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        for line in middle.stdout:
            if json.loads(line).get("event") == "progress":  # the first frame is on disk
                os.kill(middle.pid, signal.SIGSTOP)
                break
        written_before_kill = sorted(p.name for p in chunks.glob("clean.*.png"))
    finally:
        os.kill(middle.pid, signal.SIGKILL)
        middle.wait(timeout=30)
        middle.stdout.close()
    assert middle.returncode == -signal.SIGKILL
    in_middle = [f"clean.{n}.png" for n in range(1010, 1022)]
    killed_with = [name for name in written_before_kill if name in in_middle]
    assert 0 < len(killed_with) < len(in_middle), f"kill did not land mid-chunk: {killed_with}"

    resumed = _run(_chunk_command(shot, chunks, "1010-1021", "--skip-existing"))
    wrote, kept = len(in_middle) - len(killed_with), len(killed_with)
    assert f": {wrote} frames (1010-1021), kept {kept} already there," in resumed.stdout

    got = {n: frame_path(chunks / "clean.%04d.png", n).read_bytes() for n in numbers}
    differing = [n for n in numbers if got[n] != expected[n]]
    assert not differing, f"frames that differ from the one-process render: {differing}"
    leftovers = sorted(p.name for p in chunks.iterdir() if not p.name.endswith(".png"))
    assert not leftovers, f"temporary files left behind: {leftovers}"


def test_existing_frames_need_skip_existing_or_overwrite(shot, tmp_path):
    render_chunk(
        shot["clip"], shot["track"], tmp_path / "f.%04d.png", OPTIONS.replace(frames=(1001, 1002))
    )
    from moebius_video.errors import UsageError

    with pytest.raises(UsageError, match=r"f\.1001\.png already exists"):
        render_chunk(
            shot["clip"],
            shot["track"],
            tmp_path / "f.%04d.png",
            OPTIONS.replace(frames=(1001, 1003)),
        )
    again = render_chunk(
        shot["clip"],
        shot["track"],
        tmp_path / "f.%04d.png",
        OPTIONS.replace(frames=(1001, 1003)),
        skip_existing=True,
    )
    assert (again.frames, again.skipped) == (1, 2), f"expected 1 written 2 kept, got {again}"


def test_skip_existing_renders_again_what_does_not_decode(shot, tmp_path):
    pattern = tmp_path / "f.%04d.png"
    options = OPTIONS.replace(frames=(1001, 1004))
    render_chunk(shot["clip"], shot["track"], pattern, options)
    whole = {n: frame_path(pattern, n).read_bytes() for n in range(1001, 1005)}
    frame_path(pattern, 1001).write_bytes(whole[1001][: len(whole[1001]) // 2])  # truncated
    frame_path(pattern, 1002).write_bytes(b"")  # empty
    frame_path(pattern, 1003).write_bytes(b"not a png at all")  # garbage
    warnings = []
    again = render_chunk(
        shot["clip"],
        shot["track"],
        pattern,
        options,
        skip_existing=True,
        progress=lambda e: warnings.append(e.message) if e.kind == "warning" else None,
    )
    assert (again.frames, again.skipped) == (3, 1), again
    assert any("3 existing frame files do not decode" in w for w in warnings), warnings
    assert {n: frame_path(pattern, n).read_bytes() for n in range(1001, 1005)} == whole

    movie = tmp_path / "chunk.mp4"
    movie.write_bytes(b"")  # a chunk killed before its first byte, or a foreign file
    result = render_chunk(shot["clip"], shot["track"], movie, options, skip_existing=True)
    assert result.frames == 4
    kept = render_chunk(shot["clip"], shot["track"], movie, options, skip_existing=True)
    assert kept.frames == 0  # now whole: kept


def test_one_worker_never_imports_ray(shot, tmp_path):
    code = (
        "import sys\n"
        "from moebius_video.api import render_chunk\n"
        "from moebius_video.options import InpaintOptions\n"
        f"render_chunk({str(shot['clip'])!r}, {str(shot['track'])!r}, "
        f"{str(tmp_path / 'f.%04d.png')!r}, InpaintOptions(window=2, context=2, model='opencv'))\n"
        "assert 'ray' not in sys.modules, 'ray was imported'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert len(list(tmp_path.glob("f.*.png"))) == FRAMES


def test_scattered_missing_frames_resume_in_one_pass_and_equal_the_whole(shot, tmp_path):
    # Frames a window apart or less share windows: they are rendered in one pass over
    # their span (each window filled once, not once per missing frame), and equal a
    # whole render; the frames kept are not rewritten.
    pattern = tmp_path / "f.%04d.png"
    render_chunk(shot["clip"], shot["track"], pattern, OPTIONS)
    numbers = range(FRAME_BASE, FRAME_BASE + FRAMES)
    whole = {n: frame_path(pattern, n).read_bytes() for n in numbers}
    missing = [FRAME_BASE + 1, FRAME_BASE + 4, FRAME_BASE + 7]
    for n in missing:
        frame_path(pattern, n).unlink()
    kept_times = {n: frame_path(pattern, n).stat().st_mtime_ns for n in numbers if n not in missing}
    again = render_chunk(shot["clip"], shot["track"], pattern, OPTIONS, skip_existing=True)
    assert (again.frames, again.skipped) == (3, FRAMES - 3), again
    assert {n: frame_path(pattern, n).read_bytes() for n in numbers} == whole
    assert {n: frame_path(pattern, n).stat().st_mtime_ns for n in kept_times} == kept_times
