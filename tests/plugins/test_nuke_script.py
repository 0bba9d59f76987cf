"""The Nuke menu command against fakes of the Nuke calls it makes, with the real hook.

The plug-in is loaded from the folder plugins/nuke/install.py installed it into, as Nuke would.
"""

from __future__ import annotations

import json
import sys

import pytest
from host_fakes import fake_nuke, load_plugin, read_node
from plugin_helpers import box_track, count_frames, hook_env, write_clip
from plugin_install import install_nuke


@pytest.fixture(scope="module")
def plate(tmp_path_factory):
    folder = tmp_path_factory.mktemp("nuke_media")
    clip = write_clip(folder / "plate.mp4", frames=20)
    (folder / "wires.json").write_text(json.dumps(box_track(64, 48, frames=20)))
    return clip


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    return install_nuke(tmp_path_factory.mktemp("nuke_home") / "moebius_video")


@pytest.fixture
def load(monkeypatch, installed):
    """load(nuke): the installed plug-in module, importing the fake `nuke` given."""

    def load_with(nuke):
        for key, value in hook_env().items():
            monkeypatch.setenv(key, value)
        monkeypatch.setenv("MOEBIUS_VIDEO_MODEL", "opencv")  # the protocol, not the fill
        monkeypatch.setitem(sys.modules, "nuke", nuke)
        return load_plugin(installed, "moebius_video_nuke", monkeypatch)

    return load_with


def run_menu_command(script, nuke):
    thread = script.clean_selected_read(codec="libx264", tool=sys.executable)
    if thread is not None:
        thread.join(timeout=300)
        assert not thread.is_alive(), "the job did not finish"


def test_cleans_the_used_frames_and_reads_the_result(load, plate):
    # The Read shows movie frames 6..15 (indices 5..14), starting at script frame 1001.
    source = read_node(
        "Read1", str(plate), first=6, last=15, orig_last=20, frame_mode="start at", frame="1001"
    )  # noqa: E501
    nuke = fake_nuke(selected=[source], mask_track_answer=str(plate.parent / "wires.json"))
    script = load(nuke)
    for stale in plate.parent.glob("plate_clean*"):
        stale.unlink()
    run_menu_command(script, nuke)

    assert nuke.messages == []
    [read] = nuke.created
    output = plate.parent / "plate_clean.mov"
    assert read["file"].value() == str(output)
    assert count_frames(output) == 10
    assert (read["first"].value(), read["last"].value()) == (1, 10)
    assert (read["origfirst"].value(), read["origlast"].value()) == (1, 10)
    # Result frame 1 is source frame 6, which the source shows at script frame 1001.
    assert (read["frame_mode"].value(), read["frame"].value()) == ("start at", "1001")
    assert (read.xpos(), read.ypos()) == (source.xpos() + 110, source.ypos())
    [task] = nuke.tasks
    assert task.progress and task.progress[-1] == 100, task.progress
    assert any("frame" in m for m in task.messages)


def test_default_a_sequence_read_becomes_a_clean_prores_movie(load, tmp_path):
    """The plug-in's default: a Read of shot.####.png (frames 1001-1012) -> shot_clean.mov in
    ProRes, through the real hook, at 24 fps with the timecode of frame 1001."""
    import av
    import cv2
    import numpy as np

    ramp = np.linspace(0, 255, 64 + 12, dtype=np.float32)
    for index in range(12):
        rgb = np.empty((48, 64, 3), np.uint8)
        rgb[..., 0] = ramp[index : index + 64].astype(np.uint8)
        rgb[..., 1] = np.linspace(40, 200, 48, dtype=np.uint8)[:, None]
        rgb[..., 2] = 255 - rgb[..., 0]
        cv2.imwrite(str(tmp_path / f"shot.{1001 + index}.png"), rgb[:, :, ::-1])
    track = tmp_path / "wires.json"
    # A track drawn in the script's frames: numbered like the files.
    track.write_text(json.dumps(box_track(64, 48, frame_base=1001, frames=12)))
    source = read_node("Read1", str(tmp_path / "shot.####.png"), 1001, 1012, orig_first=1001)
    nuke = fake_nuke(selected=[source], mask_track_answer=str(track))
    script = load(nuke)

    thread = script.clean_selected_read(tool=sys.executable)  # codec: the default
    thread.join(timeout=300)
    assert not thread.is_alive(), "the job did not finish"

    assert nuke.messages == []
    [read] = nuke.created
    output = tmp_path / "shot_clean.mov"
    assert read["file"].value() == str(output)
    with av.open(str(output)) as container:
        [video] = container.streams.video
        assert video.codec_context.name == "prores"
        assert video.average_rate == 24
        assert video.metadata.get("timecode") == "00:00:41:17"  # frame 1001 at 24 fps
        assert not container.streams.audio
    assert count_frames(output) == 12
    # Result frame 1 is file 1001, which the source shows at script frame 1001.
    assert (read["first"].value(), read["last"].value()) == (1, 12)
    assert (read["frame_mode"].value(), read["frame"].value()) == ("start at", "1001")
    [task] = nuke.tasks
    assert task.progress and task.progress[-1] == 100, task.progress


def test_matte_read_becomes_an_inline_track(load, plate, tmp_path):
    matte = read_node("Matte", str(tmp_path / "matte.%04d.png"), first=1, last=20)
    source = read_node("Read1", str(plate), first=1, last=20)
    nuke = fake_nuke(selected=[source, matte])
    script = load(nuke)
    plan, codec = script.plan_from_selection(codec="ffv1")
    request = script.build_request(plan, codec)
    assert request["mask_track"]["tracks"][0]["source"] == {
        "format": "png",
        "path": str(tmp_path / "matte.%04d.png"),
    }
    assert request["frame_indices"] == [0, 19]
    assert request["nuke"] == {"node": "Read1", "script": "/shows/demo/sh010_comp_v001.nk"}
    assert request["output"].endswith("plate_clean.mkv")


def test_sequence_pattern_and_offset_mode(load, tmp_path):
    for number in (1001, 1002):
        (tmp_path / f"shot.{number}.png").write_bytes(b"")
    node = read_node("Read2", str(tmp_path / "shot.####.png"), 1001, 1002, orig_first=1001)
    node["frame_mode"].setValue("offset")
    node["frame"].setValue("10")
    script = load(fake_nuke(selected=[node]))
    assert script.media_path_of(node) == str(tmp_path / "shot.%04d.png")
    assert script.start_time_of_first(node) == 1011


def test_cancel_leaves_nothing(load, tmp_path):
    # Long enough that the hook is still running when the cancel comes after its first
    # progress event.
    plate = write_clip(tmp_path / "long.mp4", frames=240)
    (tmp_path / "wires.json").write_text(json.dumps(box_track(64, 48, frames=240)))
    source = read_node("Read1", str(plate), first=1, last=240)
    nuke = fake_nuke(
        selected=[source],
        mask_track_answer=str(tmp_path / "wires.json"),
        cancel_after_progress=1,
    )
    script = load(nuke)
    before = sorted(p.name for p in plate.parent.iterdir())
    run_menu_command(script, nuke)
    assert nuke.created == []
    assert nuke.messages == ["Moebius Video: cancelled"]
    assert sorted(p.name for p in plate.parent.iterdir()) == before


@pytest.mark.parametrize(
    "selected, answer, message",
    [
        ([], None, "Select the Read node to clean"),
        (["read"], None, "No mask track chosen"),
    ],
)
def test_user_errors(load, plate, selected, answer, message):
    nodes = [read_node("Read1", str(plate), 1, 20) for _ in selected]
    nuke = fake_nuke(selected=nodes, mask_track_answer=answer)
    script = load(nuke)
    assert script.clean_selected_read(codec="libx264", tool=sys.executable) is None
    assert nuke.messages == [f"Moebius Video: {message}"]


def test_install_menu(load):
    nuke = fake_nuke()
    script = load(nuke)
    script.install_menu()
    assert nuke.menus["Nuke"].commands == {
        "Moebius Video/Clean Read Node": script.clean_selected_read
    }


def test_source_must_be_selected_last(load, plate):
    from host_fakes import NukeNode

    grade = NukeNode("Grade", "Grade1", {})
    nuke = fake_nuke(selected=[grade, read_node("Read1", str(plate), 1, 20)])
    script = load(nuke)
    assert script.clean_selected_read(codec="libx264", tool=sys.executable) is None
    assert nuke.messages == ["Moebius Video: Select the Read node to clean last (after the matte)"]
