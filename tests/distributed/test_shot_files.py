"""The farm workflow: `analyse` once, chunks read the sidecar and share filled windows.

Real processes (the CLI), real PyAV clips; the chunks must equal a one-process render byte
for byte, and nothing stale (another mask track, other options, a damaged file) may
change a pixel: a sidecar that does not match is refused, a window that does not match
is filled again.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from distributed_media import FRAME_BASE, FRAMES, wire_track

from moebius_video.api import analyse_shot, render_chunk
from moebius_video.errors import EXIT_USAGE, OptionError
from moebius_video.options import InpaintOptions
from moebius_video.paths import frame_path
from moebius_video.shot_files import (
    WindowCache,
    default_sidecar,
    read_analysis,
    read_npz,
    windows_folder,
)

REPO = Path(__file__).resolve().parents[2]
# Windows of 8 frames, chunks of 5: neighbouring chunks share windows.
ARGS = ["--window", "8", "--context", "2", "--model", "opencv"]
OPTIONS = InpaintOptions(window=8, context=2, model="opencv")
NUMBERS = range(FRAME_BASE, FRAME_BASE + FRAMES)


def _cli(*args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "moebius_video.cli", *map(str, args)]
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=180)


def _ok(done: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert done.returncode == 0, f"exit {done.returncode}\nstderr:\n{done.stderr}"
    return done


def _chunk(shot, out: Path, frames: str, sidecar: Path, track=None, *extra: str):
    return _cli(
        shot["clip"],
        "--mask-track",
        track or shot["track"],
        "-o",
        out / "clean.%04d.png",
        "--frames",
        frames,
        "--analysis",
        sidecar,
        *ARGS,
        *extra,
    )


def _frames(folder: Path) -> dict[int, bytes]:
    return {n: frame_path(folder / "clean.%04d.png", n).read_bytes() for n in NUMBERS}


def _whole(shot, folder: Path, track=None) -> dict[int, bytes]:
    render_chunk(shot["clip"], track or shot["track"], folder / "clean.%04d.png", OPTIONS)
    return _frames(folder)


def test_chunks_with_the_sidecar_equal_one_process_and_share_windows(shot, tmp_path):
    expected = _whole(shot, tmp_path / "whole")
    sidecar = tmp_path / "farm" / "plate.analysis.npz"  # its folder does not exist yet
    done = _ok(_cli("analyse", shot["clip"], "--mask-track", shot["track"], "-o", sidecar))
    assert f"wrote {sidecar}: the shot analysis" in done.stdout
    chunks = tmp_path / "chunks"
    _ok(_chunk(shot, chunks, "1001-1005", sidecar))  # fills window 0
    folder = windows_folder(sidecar)
    first = {p.name: p.stat().st_ino for p in folder.iterdir()}
    assert len(first) == 1, sorted(first)
    _ok(_chunk(shot, chunks, "1006-1010", sidecar))  # reads window 0, fills window 1
    second = {p.name: p.stat().st_ino for p in folder.iterdir()}
    assert len(second) == 2 and all(second[name] == ino for name, ino in first.items()), (
        "a window already in the folder was filled and written again"
    )
    for first_frame in range(1011, FRAME_BASE + FRAMES, 5):
        _ok(_chunk(shot, chunks, f"{first_frame}-{first_frame + 4}", sidecar))
    got = _frames(chunks)
    differing = [n for n in NUMBERS if got[n] != expected[n]]
    assert not differing, f"frames that differ from the one-process render: {differing}"
    leftovers = [p.name for p in folder.iterdir() if not p.name.startswith("window-")]
    assert not leftovers, f"temporary files left behind: {leftovers}"


def test_the_sidecar_holds_the_analysis_a_run_computes(shot, tmp_path):
    from moebius_video.api import _shot_key, load_track_for
    from moebius_video.io import open_video
    from moebius_video.temporal.shot_analysis import analyse_shots

    result = analyse_shot(shot["clip"], shot["track"], tmp_path / "a.npz")
    assert (result.frames, result.masked_frames) == (FRAMES, FRAMES)
    with open_video(shot["clip"]) as video:
        track = load_track_for(shot["track"], video.info)
        key = _shot_key(shot["clip"], video.info, shot["track"], track, (), False)
        computed = analyse_shots(video.frames(), track).to_arrays()
    stored = read_analysis(tmp_path / "a.npz", key).to_arrays()
    assert stored.keys() == computed.keys()
    for name, value in computed.items():
        assert value.dtype == stored[name].dtype and value.shape == stored[name].shape, name
        assert value.tobytes() == stored[name].tobytes(), name


def test_a_stale_sidecar_is_refused_naming_what_differs(shot, tmp_path):
    sidecar = tmp_path / "a.npz"
    analyse_shot(shot["clip"], shot["track"], sidecar)
    other = tmp_path / "other.json"
    moved = wire_track()
    moved["tracks"][0]["width"] = 5
    other.write_text(json.dumps(moved))
    out = tmp_path / "out"
    done = _chunk(shot, out, "1001-1005", sidecar, other)
    assert done.returncode == EXIT_USAGE, done.stderr
    assert f"--analysis {sidecar}: made for another shot or options: the mask track" in done.stderr
    assert not out.exists() or not any(out.iterdir()), "output written before the refusal"

    done = _chunk(shot, out, "1001-1005", sidecar, None, "--shot-cuts", "1010")
    assert done.returncode == EXIT_USAGE and "--shot-cuts differ" in done.stderr, done.stderr


@pytest.mark.parametrize("damage", ["missing", "garbage", "huge-array", "object-array"])
def test_a_missing_or_damaged_sidecar_is_a_usage_error(shot, tmp_path, damage):
    sidecar = tmp_path / "a.npz"
    if damage == "garbage":
        sidecar.write_bytes(b"PK\x03\x04 not really a zip file" * 10)
    elif damage == "huge-array":
        # A header that asks for 8 TB over a few bytes of data: refused before allocating.
        header = {"descr": "<f8", "fortran_order": False, "shape": (10**12,)}
        with open(tmp_path / "key.npy", "wb") as file:
            np.lib.format.write_array_header_1_0(file, header)
            file.write(b"\0" * 64)
        import zipfile

        with zipfile.ZipFile(sidecar, "w") as archive:
            archive.write(tmp_path / "key.npy", "key.npy")
    elif damage == "object-array":
        np.savez(sidecar, key=np.array([{"a": 1}], dtype=object))
    out = tmp_path / "out"
    done = _chunk(shot, out, "1001-1005", sidecar)
    assert done.returncode == EXIT_USAGE, done.stderr
    assert f"--analysis {sidecar}: " in done.stderr
    expected = "no such file" if damage == "missing" else "not a moebius-video shot analysis"
    assert expected in done.stderr
    assert not out.exists() or not any(out.iterdir())


def test_npz_reads_are_bounded(tmp_path):
    path = tmp_path / "big.npz"
    np.savez(path, a=np.zeros(1000, np.float64))
    assert read_npz(path, 1 << 20)["a"].shape == (1000,)
    with pytest.raises(ValueError, match="more than"):
        read_npz(path, 4000)


def test_a_changed_mask_track_misses_the_windows_of_the_old_one(shot, tmp_path):
    """A chunk of an older job (another mask track) left its windows in the folder: the
    new job's chunks never read them, whatever their names."""
    sidecar = tmp_path / "farm" / "a.analysis.npz"
    old = tmp_path / "old"
    analyse_shot(shot["clip"], shot["track"], sidecar)
    options = OPTIONS.replace(analysis=sidecar)
    render_chunk(shot["clip"], shot["track"], old / "clean.%04d.png", options)
    stale = {p.name: p.read_bytes() for p in windows_folder(sidecar).iterdir()}
    assert stale

    other = tmp_path / "other.json"
    moved = wire_track()
    moved["tracks"][0]["width"] = 5
    other.write_text(json.dumps(moved))
    analyse_shot(shot["clip"], other, sidecar, InpaintOptions(overwrite=True))
    assert not any(windows_folder(sidecar).iterdir()), "re-analysing keeps the old windows"
    for name, data in stale.items():  # as if an old task wrote them after the new analysis
        (windows_folder(sidecar) / name).write_bytes(data)
    new = tmp_path / "new"
    render_chunk(shot["clip"], other, new / "clean.%04d.png", options)
    expected = _whole(shot, tmp_path / "whole", other)
    assert _frames(new) == expected
    assert _frames(new) != _frames(old)


def test_a_window_cache_misses_on_other_options_and_damaged_files(tmp_path):
    from moebius_video.temporal.window import FilledRegions, FilledWindow

    def part(box, value):
        x0, y0, x1, y1 = box
        return FilledWindow(
            0,
            box,
            [np.full((y1 - y0, x1 - x0, 3), value + i, np.uint8) for i in range(4)],
            [np.full((y1 - y0, x1 - x0), 2, np.uint8) for _ in range(4)],
            [np.full((y1 - y0, x1 - x0), 0.5, np.float32) for _ in range(4)],
            (2,),
        )

    boxes = [(10, 20, 40, 36), (100, 50, 130, 80)]  # two regions' crops
    window = FilledRegions((part((12, 22, 30, 34), 0), part((104, 52, 120, 70), 9)))
    cache = WindowCache(tmp_path, {"shot": "a", "temporal": {"window": 8}})
    cache.put(0, 0, 4, boxes, window)
    back = cache.get(0, 0, 4, boxes)
    assert back.cuts == (2,) and len(back.parts) == 2
    for got, put in zip(back.parts, window.parts, strict=True):
        assert got.box == put.box
        assert all(np.array_equal(a, b) for a, b in zip(got.filled, put.filled, strict=True))
    assert (
        WindowCache(tmp_path, {"shot": "a", "temporal": {"window": 9}}).get(0, 0, 4, boxes) is None
    )
    assert (
        WindowCache(tmp_path, {"shot": "b", "temporal": {"window": 8}}).get(0, 0, 4, boxes) is None
    )
    assert cache.get(0, 0, 4, [(10, 20, 40, 37), boxes[1]]) is None  # another crop
    assert cache.get(0, 0, 4, boxes[:1]) is None  # the regions split differently
    (path,) = tmp_path.iterdir()
    path.write_bytes(path.read_bytes()[:-100])  # truncated: a miss, not a crash
    assert cache.get(0, 0, 4, boxes) is None


def test_analyse_command_defaults_and_refusals(shot, tmp_path):
    import shutil

    clip = tmp_path / "plate.mp4"
    shutil.copy(shot["clip"], clip)
    _ok(_cli("analyse", clip, "--mask-track", shot["track"]))
    assert default_sidecar(clip) == tmp_path / "plate.analysis.npz"
    assert default_sidecar(tmp_path / "sh010.%04d.exr") == tmp_path / "sh010.analysis.npz"
    done = _cli("analyse", clip, "--mask-track", shot["track"])
    assert done.returncode == EXIT_USAGE and "already exists (use -y" in done.stderr
    done = _cli("analyse", clip, "--mask-track", shot["track"], "-o", shot["track"], "-y")
    assert done.returncode == EXIT_USAGE and "a file this run reads" in done.stderr
    sidecar = tmp_path / "plate.analysis.npz"
    done = _cli(clip, "--mask-track", shot["track"], "-o", sidecar, "-y", "--analysis", sidecar)
    assert done.returncode == EXIT_USAGE and "a file this run reads" in done.stderr
    assert sidecar.stat().st_size > 0
    for bad in (dict(temporal=False), dict(workers=2)):
        with pytest.raises(OptionError, match="--analysis"):
            InpaintOptions(analysis="a.npz", **bad)
