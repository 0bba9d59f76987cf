"""Image-sequence output through every entry point: the API, the hook and the CLI.

A real clip (sample_clips/carphone_wire.mp4, BT.709-tagged yuv420p) with its real wire
track, decoded and encoded by PyAV; the patches are real fills. Every entry point goes
through the one per-frame writer, so all three give the same files, numbered by clip
frame (index + frame_base), and every pixel outside the mask is bit-identical to our
own decode of the source. Before the one writer, the API and the hook composited in
YUV and converted back, changing 122,351 unmasked pixels of these 12 frames by up to
11 levels, and numbered files from 0 whatever the frame_base.
"""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from moebius_video import InpaintOptions, inpaint_video
from moebius_video.commands import hook
from moebius_video.io import open_video
from moebius_video.masks import load_mask_track

SAMPLES = Path(__file__).resolve().parents[1] / "sample_clips"
CLIP = SAMPLES / "carphone_wire.mp4"
FRAME_BASE = 1001
FIRST, LAST = 1001, 1012  # 12 frames, in the track's frame numbers


@pytest.fixture(scope="module")
def track(tmp_path_factory) -> Path:
    """The sample wire track, numbered from 1001 (as a farm shot would be)."""
    document = json.loads((SAMPLES / "carphone_wire.json").read_text())
    document["frame_base"] = FRAME_BASE
    for entry in document["tracks"]:
        for key in entry["keyframes"]:
            key["frame"] += FRAME_BASE
    path = tmp_path_factory.mktemp("track") / "wire.json"
    path.write_text(json.dumps(document))
    return path


@pytest.fixture(scope="module")
def source(track):
    """Our own decode of the source (RGB) and the track's alpha, per clip frame number."""
    with open_video(CLIP) as video:
        info = video.info
        frames = {f.index + FRAME_BASE: f.rgb for f in video.frames(FIRST - 1001, LAST - 1000)}
    masks = load_mask_track(
        str(track), width=info.width, height=info.height, frame_count=info.frame_count
    )
    alphas = {n: masks.alpha(n - FRAME_BASE) for n in frames}
    return frames, alphas


def check_sequence(folder: Path, source) -> dict[str, bytes]:
    """Files named by clip frame; unmasked pixels equal the decode; masked ones were filled."""
    frames, alphas = source
    names = sorted(p.name for p in folder.iterdir())
    assert names == [f"o.{n:04d}.png" for n in range(FIRST, LAST + 1)], names
    filled = 0
    for number, rgb in frames.items():
        got = cv2.imread(str(folder / f"o.{number:04d}.png"), cv2.IMREAD_UNCHANGED)[:, :, ::-1]
        outside = alphas[number] == 0
        differ = np.any(got != rgb, axis=2) & outside
        assert not differ.any(), (
            f"frame {number}: {int(differ.sum())} pixels outside the mask differ from the "
            f"decoded input, by up to {int(np.abs(got.astype(int) - rgb).max())} levels"
        )
        filled += int(np.any(got != rgb, axis=2).sum())
    assert filled > 0, "nothing was filled: the test did not composite any patch"
    return {name: (folder / name).read_bytes() for name in names}


def test_api_hook_and_cli_write_the_same_sequence_with_the_input_outside_the_mask(
    tmp_path, track, source
):
    options = {"model": "opencv", "frames": [FIRST, LAST]}

    inpaint_video(
        CLIP,
        track,
        tmp_path / "api" / "o.%04d.png",
        InpaintOptions(model="opencv", frames=(FIRST, LAST)),
    )
    api = check_sequence(tmp_path / "api", source)

    (tmp_path / "hook").mkdir()
    request = tmp_path / "request.json"
    request.write_text(
        json.dumps(
            {
                "version": 1,
                "input": str(CLIP),
                "mask_track": str(track),
                "output": str(tmp_path / "hook" / "o.%04d.png"),
                **options,
            }
        )
    )
    events = io.StringIO()
    with contextlib.redirect_stdout(events):
        # The sample clip and the track live elsewhere: a host names their folders.
        roots = [arg for f in (tmp_path, CLIP.parent, track.parent) for arg in ("--root", str(f))]
        code = hook.main([*roots, str(request)])
    assert code == 0, events.getvalue()
    assert json.loads(events.getvalue().splitlines()[-1])["event"] == "done"
    from_hook = check_sequence(tmp_path / "hook", source)

    done = subprocess.run(
        [sys.executable, "-m", "moebius_video.cli", str(CLIP), "--mask-track", str(track)]
        + ["-o", str(tmp_path / "cli" / "o.%04d.png"), "--model", "opencv"]
        + ["--frames", f"{FIRST}-{LAST}", "--progress", "plain"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    cli = check_sequence(tmp_path / "cli", source)

    assert api == from_hook == cli, "the entry points wrote different files"


def test_temporal_off_and_exr_keep_the_input_outside_the_mask(tmp_path, track, source):
    pytest.importorskip("OpenEXR")  # reads the files back exactly
    frames, alphas = source
    inpaint_video(
        CLIP,
        track,
        tmp_path / "o.%04d.exr",
        InpaintOptions(model="opencv", frames=(FIRST, LAST), temporal=False),
    )
    for number, rgb in frames.items():
        with open_video(tmp_path / f"o.{number:04d}.exr") as one:
            got = next(iter(one.frames())).plate.linear_rgb()  # the floats in the file
        expected = rgb.astype(np.float32) / 255  # 8-bit code values, exactly, in float
        outside = alphas[number] == 0
        assert np.array_equal(got[outside], expected[outside]), f"frame {number}"
