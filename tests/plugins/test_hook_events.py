"""The hook's events and results on real clips, through a real `moebius-video hook` subprocess."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys

import cv2
import numpy as np
import pytest
from plugin_helpers import box_track, count_frames, hook_env, run_hook, run_request, write_clip

# The classical filler keeps these protocol tests fast and independent of model weights.
FILLER = {"model": "opencv"}


@pytest.fixture
def shot(tmp_path, small_clip):
    (tmp_path / "plate.mp4").write_bytes(small_clip.read_bytes())
    (tmp_path / "box.json").write_text(json.dumps(box_track(64, 48)))
    (tmp_path / "box_1001.json").write_text(json.dumps(box_track(64, 48, frame_base=1001)))
    return tmp_path


def test_success_events_and_output(shot):
    request = {
        "version": 1,
        "input": "plate.mp4",
        "mask_track": "box.json",
        "output": "plate_clean.mp4",
        "blender": {"scene": "Scene", "strip": "plate"},
        **FILLER,
    }
    run = run_request(request, shot)
    assert run.returncode == 0, run.stderr
    kinds = run.kinds()
    assert kinds[0] == "started" and kinds[-1] == "done", kinds
    assert set(kinds[1:-1]) == {"progress"}, "no warnings expected for a known host namespace"
    started = run.events[0]
    assert started["total"] == 12
    assert started["output"] == str(shot / "plate_clean.mp4")

    progress = [e for e in run.events if e["event"] == "progress"]
    percents = [e["percent"] for e in progress]
    assert percents == sorted(percents) and percents[-1] == 100.0, percents
    assert [e["frame"] for e in progress] == sorted(e["frame"] for e in progress)
    assert progress[-1]["frame"] == 12

    done = run.last
    assert done["output"] == str(shot / "plate_clean.mp4")
    assert done["stats"]["frames"] == 12
    assert done["stats"]["frame_indices"] == [0, 11]
    assert done["stats"]["masked_frames"] == 12
    assert count_frames(shot / "plate_clean.mp4") == 12
    assert "wrote" in run.stderr, "the summary line belongs on stderr"


def test_stdin_inline_track_frame_indices_and_unknown_namespace(shot):
    request = {
        "input": "plate.mp4",  # relative to the current folder: the request came on stdin
        "mask_track": box_track(64, 48, frame_base=1001),
        "output": "part.mp4",
        "frame_indices": [3, 8],
        "myhost": {"anything": [1, 2, 3]},
        **FILLER,
    }
    run = run_hook(["-"], cwd=shot, stdin=json.dumps(request).encode())
    assert run.returncode == 0, run.stderr
    assert run.events[0] == {
        "event": "warning",
        "message": "<stdin>: myhost: unknown key, carried as a host namespace and not read",
    }
    stats = run.last["stats"]
    assert stats["frame_range"] == [1004, 1009], "indices 3..8 are frames 1004..1009"
    assert stats["frame_indices"] == [3, 8]
    assert count_frames(shot / "part.mp4") == 6


def test_frames_in_clip_numbers(shot):
    request = {
        "input": "plate.mp4",
        "mask_track": "box_1001.json",
        "output": "part.mp4",
        "frames": [1004, 1009],
        **FILLER,
    }
    run = run_request(request, shot)
    assert run.returncode == 0, run.stderr
    assert run.last["stats"]["frame_indices"] == [3, 8]
    assert count_frames(shot / "part.mp4") == 6


def test_a_sequence_folder_becomes_a_movie_numbered_by_its_files(shot):
    """frame_indices are input indices, frames the files' numbers; the movie made from the
    sequence runs at options.fps with the timecode of its first frame."""
    import av

    plates = shot / "plates"
    plates.mkdir()
    with av.open(str(shot / "plate.mp4")) as container:
        for index, frame in enumerate(container.decode(video=0)):
            cv2.imwrite(str(plates / f"sh010.{1001 + index}.png"), frame.to_ndarray(format="bgr24"))
    for key, value in (("frame_indices", [3, 8]), ("frames", [1004, 1009])):
        request = {
            "input": "plates",
            "mask_track": "box.json",  # numbered from 0: a warning says the files win
            "output": f"{key}.mov",
            key: value,
            "codec": "prores_ks",
            "options": {"fps": 25},
            **FILLER,
        }
        run = run_request(request, shot)
        assert run.returncode == 0, run.stderr
        stats = run.last["stats"]
        assert stats["frame_range"] == [1004, 1009] and stats["frame_indices"] == [3, 8]
        warnings = [e["message"] for e in run.events if e["event"] == "warning"]
        assert sum("frame_base is 0 but the first file" in m for m in warnings) == 1, warnings
        with av.open(str(shot / f"{key}.mov")) as container:
            video = container.streams.video[0]
            assert video.average_rate == 25
            assert video.metadata["timecode"] == "00:00:40:04"  # 1004 at 25 fps
        assert count_frames(shot / f"{key}.mov") == 6


def test_inline_raster_path_is_relative_to_the_request(shot, tmp_path_factory):
    matte = np.zeros((48, 64), np.uint8)
    matte[10:30, 20:40] = 255
    cv2.imwrite(str(shot / "matte.png"), matte)
    track = {
        "schema": "moebius.masktrack/1",
        "width": 64,
        "height": 48,
        "tracks": [
            {"id": "m", "shape": "raster", "source": {"format": "png", "path": "matte.png"}}
        ],
    }
    request = {"input": "plate.mp4", "mask_track": track, "output": "out.mp4", **FILLER}
    (shot / "job.json").write_text(json.dumps(request))
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    run = run_hook([str(shot / "job.json")], cwd=elsewhere)
    assert run.returncode == 0, run.last
    assert run.last["stats"]["masked_frames"] == 12
    assert (shot / "out.mp4").exists() and not (elsewhere / "out.mp4").exists()


def test_overwrite_true_replaces_the_output(shot):
    (shot / "out.mp4").write_bytes(b"old")
    run = run_request(
        {
            "input": "plate.mp4",
            "mask_track": "box.json",
            "output": "out.mp4",
            "overwrite": True,
            **FILLER,
        },  # noqa: E501
        shot,
    )
    assert run.returncode == 0, run.last
    assert count_frames(shot / "out.mp4") == 12


def test_input_that_is_not_a_video(shot):
    (shot / "notes.mp4").write_text("this is not a video")
    run = run_request({"input": "notes.mp4", "mask_track": "box.json", "output": "o.mp4"}, shot)
    assert run.returncode == 3, run.last
    assert run.last["code"] in ("bad_media", "bad_input")
    assert "notes.mp4" in run.last["message"]
    assert not (shot / "o.mp4").exists()


def test_inline_track_that_does_not_fit_the_clip(shot):
    track = box_track(100, 80)  # the clip is 64x48 and the track does not ask to be scaled
    run = run_request({"input": "plate.mp4", "mask_track": track, "output": "o.mp4"}, shot)
    assert (run.returncode, run.last["code"]) == (3, "bad_mask_track"), run.last
    assert "100" in run.last["message"] and "64" in run.last["message"]
    assert not (shot / "o.mp4").exists()


def test_sigterm_cancels_and_leaves_no_output(tmp_path):
    write_clip(tmp_path / "long.mp4", width=160, height=120, frames=250)
    (tmp_path / "box.json").write_text(json.dumps(box_track(160, 120, frames=250)))
    request = {"input": "long.mp4", "mask_track": "box.json", "output": "long_clean.mp4", **FILLER}
    before = sorted(p.name for p in tmp_path.iterdir())
    # 250 progress lines (15 KB) cannot fit in the pipe (4 KB) plus one read (4 KB): the
    # hook is still working, stalled on its output, when the cancel arrives.
    read_fd, write_fd = os.pipe()
    assert fcntl.fcntl(write_fd, fcntl.F_SETPIPE_SZ, 4096) == 4096
    process = subprocess.Popen(
        [sys.executable, "-m", "moebius_video.cli", "hook", "-"],
        stdin=subprocess.PIPE,
        stdout=write_fd,
        stderr=subprocess.PIPE,
        cwd=tmp_path,
        env=hook_env(),
    )
    os.close(write_fd)
    process.stdin.write(json.dumps(request).encode())
    process.stdin.close()
    events = []
    with open(read_fd) as stdout:
        for line in stdout:
            events.append(json.loads(line))
            if events[-1]["event"] == "progress":
                process.send_signal(signal.SIGTERM)
                break
        events.extend(json.loads(line) for line in stdout)
    returncode = process.wait(timeout=60)
    process.stderr.close()
    assert events[-1]["event"] == "error", events[-3:]
    assert events[-1]["code"] == "interrupted" and events[-1]["exit_code"] == 130
    assert returncode == 130
    assert events[-2]["event"] == "progress" and events[-2]["percent"] < 100, "too late to cancel"
    assert sorted(p.name for p in tmp_path.iterdir()) == before, "the cancelled run left files"
