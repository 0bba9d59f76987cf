"""The Blender VSE add-on in a real Blender, headless, on a real clip, through the real hook.

The add-on is installed as a user installs it: plugins/blender/build_addon.py builds the zip,
and Blender's own `bpy.ops.preferences.addon_install` installs it into a temporary user
scripts folder ($BLENDER_USER_SCRIPTS), from where it is enabled.

Blender comes from `.ci/install_blender.sh` (Debian's `blender` package; CI runs it). Set
MOEBIUS_BLENDER to use another Blender executable, or MOEBIUS_BPY_PYTHON to a Python that has
the `bpy` module (the PyPI wheel, Blender 4.x/5.x) to run the same scenario there too.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from plugin_helpers import REPO, count_frames, hook_env
from plugin_install import build_blender_addon

SCENARIO = Path(__file__).with_name("blender_scenario.py")
CLIP = REPO / "sample_clips" / "carphone_wire.mp4"  # 176x144, 120 frames, 30000/1001 fps
TRACK = REPO / "sample_clips" / "carphone_wire.json"
FRAME_START, FIRST_INDEX, COUNT = 101, 10, 12


def blender_runners() -> list:
    runners = []
    blender = os.environ.get("MOEBIUS_BLENDER") or shutil.which("blender")
    if blender:
        runners.append(
            pytest.param(
                [blender, "-b", "--factory-startup", "--python-exit-code", "1", "--python"],
                id="blender",
            )
        )
    bpy_python = os.environ.get("MOEBIUS_BPY_PYTHON")
    if bpy_python:
        runners.append(pytest.param([bpy_python], id="bpy-module"))
    if not runners:
        runners.append(
            pytest.param(
                None,
                id="blender",
                marks=pytest.mark.skip(
                    reason="no Blender installed: run .ci/install_blender.sh (CI does), "
                    "or set MOEBIUS_BLENDER / MOEBIUS_BPY_PYTHON"
                ),
            )
        )
    return runners


def write_matte(path: Path, width: int, height: int, frames: int, box) -> Path:
    """A matte clip: white (remove) inside `box` = (x0, y0, x1, y1), black elsewhere."""
    import av

    x0, y0, x1, y1 = box
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=Fraction(30000, 1001))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for index in range(frames):
            rgb = np.zeros((height, width, 3), np.uint8)
            rgb[y0:y1, x0:x1] = 255
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = index
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def decode(path: Path) -> list[np.ndarray]:
    import av

    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24").astype(np.float64) for f in container.decode(video=0)]


def psnr(a: np.ndarray, b: np.ndarray, keep: np.ndarray) -> float:
    mse = float(np.mean((a[keep] - b[keep]) ** 2))
    return 99.0 if mse == 0 else 10 * np.log10(255.0**2 / mse)


@pytest.fixture(scope="module")
def shot(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("blender_shot")
    shutil.copy(CLIP, folder / "plate.mp4")
    shutil.copy(TRACK, folder / "plate_wires.json")
    write_matte(folder / "matte.mp4", 176, 144, 120, box=(60, 50, 100, 90))
    return folder


@pytest.mark.parametrize("runner", blender_runners())
def test_addon_cleans_a_strip_in_blender(runner, shot, tmp_path):
    out_folder = tmp_path
    user_scripts = tmp_path / "blender_user_scripts"
    config = {
        "addon_zip": str(build_blender_addon(tmp_path / "dist")),
        "tool": sys.executable,  # a Python with moebius_video importable (PYTHONPATH below)
        "clip": str(shot / "plate.mp4"),
        "mask_track": str(shot / "plate_wires.json"),
        "matte": str(shot / "matte.mp4"),
        "fps": 30,
        "fps_base": 1.001,
        "frame_start": FRAME_START,
        "first_index": FIRST_INDEX,
        "count": COUNT,
        "report": str(out_folder / "report.json"),
    }
    for stale in shot.glob("plate_clean*"):
        stale.unlink()  # the module-scoped shot is shared by the runners
    config_path = out_folder / "config.json"
    config_path.write_text(json.dumps(config))
    proc = subprocess.run(
        [*runner, str(SCENARIO), "--", str(config_path)],
        capture_output=True,
        text=True,
        env={**hook_env(), "BLENDER_USER_SCRIPTS": str(user_scripts)},
        timeout=600,
    )
    assert proc.returncode == 0, f"Blender failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    report = json.loads((out_folder / "report.json").read_text())
    # 0. The add-on and its hook client run from where the zip was installed.
    installed = user_scripts / "addons" / "moebius_video_vse"
    assert Path(report["addon_file"]) == installed / "__init__.py", report["addon_file"]
    assert Path(report["hook_client_file"]) == installed / "moebius_hook_client.py"
    source = report["source"]
    first_frame = FRAME_START + FIRST_INDEX
    assert (source["frame_final_start"], source["frame_final_end"]) == (
        first_frame,
        first_frame + COUNT,
    ), source

    # 1. The operator: one new movie strip on the channel above, over the same frames.
    operator = report["operator"]
    assert operator["result"] == ["FINISHED"], operator
    assert len(operator["new"]) == 1, operator
    added = operator["new"][0]
    output = shot / "plate_clean.mp4"
    assert added["type"] == "MOVIE"
    assert Path(added["filepath"]) == output, (added["filepath"], output)
    assert added["channel"] == source["channel"] + 1
    assert (added["frame_final_start"], added["frame_final_end"]) == (
        source["frame_final_start"],
        source["frame_final_end"],
    ), f"expected the source's range, got {added}"
    # Content alignment: output frame 0 is source frame FIRST_INDEX, shown at the same frame.
    assert added["frame_start"] == FRAME_START + FIRST_INDEX
    assert count_frames(output) == COUNT

    # The frames really line up: outside the wire, output frame k matches source frame
    # FIRST_INDEX + k better than its neighbours (the clip moves from frame to frame).
    from scipy.ndimage import binary_dilation

    from moebius_video.masks import load_mask_track

    source_frames = decode(shot / "plate.mp4")
    cleaned = decode(output)
    track = load_mask_track(TRACK, width=176, height=144, frame_count=len(source_frames))
    for k in (1, COUNT // 2, COUNT - 2):
        index = FIRST_INDEX + k
        keep = ~binary_dilation(track.alpha(index) > 0, iterations=4)
        scores = {d: psnr(cleaned[k], source_frames[index + d], keep) for d in (-1, 0, 1)}
        assert max(scores, key=scores.get) == 0, f"output frame {k} vs source offsets: {scores}"
        assert scores[0] > 35, f"output frame {k}: PSNR {scores[0]:.1f} dB to its source frame"

    # 2. Stepped like the modal operator, with a matte strip: the next free channel up.
    stepped = report["stepped"]
    assert stepped["steps"] > 0, "the job ended before the first step; nothing was polled"
    assert any("%" in s for s in stepped["statuses"]), stepped["statuses"]
    assert stepped["request"]["mask_track"]["tracks"][0]["source"] == {
        "format": "video",
        "path": str(shot / "matte.mp4"),
    }
    assert stepped["request"]["frame_indices"] == [FIRST_INDEX, FIRST_INDEX + COUNT - 1]
    assert stepped["request"]["blender"]["strip"] == "plate"
    matte_added = stepped["added"]
    assert [s["name"] for s in stepped["new"]] == [matte_added["name"]]
    assert matte_added["channel"] == source["channel"] + 2, "channel above was taken by run 1"
    assert (matte_added["frame_final_start"], matte_added["frame_final_end"]) == (
        source["frame_final_start"],
        source["frame_final_end"],
    )
    assert Path(matte_added["filepath"]) == shot / "plate_clean_2.mp4"
    assert count_frames(Path(matte_added["filepath"])) == COUNT

    # 3. Cancelled: reported as interrupted, nothing left behind.
    cancelled = report["cancelled"]
    assert cancelled == {"code": "interrupted", "output_exists": False, "new": []}, cancelled
    assert sorted(p.name for p in shot.iterdir()) == [
        "matte.mp4",
        "plate.mp4",
        "plate_clean.mp4",
        "plate_clean_2.mp4",
        "plate_wires.json",
    ], "a cancelled run left files behind"

    # 4. Nothing selected.
    assert "Select the movie strip to clean" in report["nothing_selected"]
