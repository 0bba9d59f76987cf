"""The Resolve script against fakes of the Resolve calls it makes, with the real hook.

The script is loaded from the folder plugins/resolve/install.py installed it into.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
from host_fakes import (
    Resolve,
    ResolveFolder,
    ResolveMediaPool,
    ResolveMediaPoolItem,
    ResolveProject,
    ResolveTimeline,
    ResolveTimelineItem,
    ResolveTimelineItemWithTrack,
    load_plugin,
)
from plugin_helpers import box_track, count_frames, hook_env, write_clip
from plugin_install import install_resolve

TIMELINE_START = 86400


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    return install_resolve(tmp_path_factory.mktemp("resolve") / "Scripts" / "Utility")


@pytest.fixture
def resolve_script(monkeypatch, installed):
    for key, value in hook_env().items():
        monkeypatch.setenv(key, value)  # the hook subprocess must find moebius_video
    return load_plugin(installed, "moebius_video_resolve", monkeypatch)


@pytest.fixture(scope="module")
def plate(tmp_path_factory):
    """A 40-frame clip whose content moves one pixel per frame, with its sidecar mask track."""
    folder = tmp_path_factory.mktemp("resolve_media")
    clip = write_clip(folder / "plate.mp4", frames=40)
    (folder / "plate.masktrack.json").write_text(json.dumps(box_track(64, 48, frames=40)))
    return clip


def make_host(plate, item_cls=ResolveTimelineItemWithTrack, marks=None, **item_args):
    source = ResolveMediaPoolItem(str(plate))
    plates = ResolveFolder("Plates", clips=[source])
    root = ResolveFolder("Master", subfolders=[ResolveFolder("Audio"), plates])
    args = {"start": TIMELINE_START + 10, "duration": 20, "left_offset": 20, **item_args}
    item = item_cls("plate.mp4", source, **args)
    timeline = ResolveTimeline("Edit v3", TIMELINE_START, [[item]], item, marks=marks)
    pool = ResolveMediaPool(root, current=root)
    return Resolve(ResolveProject(timeline, pool)), pool, timeline


def settings(script, **changes):
    # The classical filler: these tests are about the protocol, not the fill.
    return script.Settings(tool=sys.executable, codec="libx264", model="opencv", **changes)


def test_cleans_marked_part_of_current_item(resolve_script, plate):
    # The item shows source frames 20..39 at 86410..86429; the marks keep 86415..86424.
    resolve, pool, timeline = make_host(plate, marks={"video": {"in": 15, "out": 24}})
    events = []
    clip = resolve_script.clean_current_item(resolve, settings(resolve_script), events.append)

    output = plate.parent / "plate_clean.mp4"
    assert clip.GetClipProperty("File Path") == str(output)
    assert pool.imports == [("Plates", [str(output)])], "import next to the source clip"
    assert pool.GetCurrentFolder() is pool.GetRootFolder(), "the current folder was not restored"
    assert count_frames(output) == 10
    assert events[-1]["event"] == "done"
    assert events[-1]["stats"]["frame_indices"] == [25, 34]

    assert timeline.added_tracks == 1, "V2 did not exist"
    assert pool.appended == [
        {
            "mediaPoolItem": clip,
            "startFrame": 0,
            "endFrame": 9,
            "trackIndex": 2,
            "recordFrame": TIMELINE_START + 15,
            "mediaType": 1,
        }
    ]
    # Output frame 0 is source frame 25 (the clip moves a pixel per frame; look off the mask).
    import av

    with av.open(str(plate)) as src, av.open(str(output)) as out:
        source = [f.to_ndarray(format="rgb24").astype(int) for f in src.decode(video=0)]
        first = next(out.decode(video=0)).to_ndarray(format="rgb24").astype(int)
    keep = np.ones(first.shape[:2], bool)
    keep[10:32, 16:38] = False  # the box of box_track, with a margin
    errors = {i: np.abs(first - source[i])[keep].mean() for i in (24, 25, 26)}
    assert min(errors, key=errors.get) == 25, f"mean abs error to source frames: {errors}"


def test_finds_the_track_of_an_older_resolve_item(resolve_script, plate, tmp_path):
    # Items without GetTrackTypeAndIndex (before Resolve 18.5): the script searches the tracks.
    clip = tmp_path / "plate.mp4"
    clip.write_bytes(plate.read_bytes())
    (tmp_path / "plate_mask.json").write_text(
        json.dumps(box_track(64, 48, frames=40))
    )  # other sidecar
    resolve, pool, timeline = make_host(clip, item_cls=ResolveTimelineItem)
    item = timeline.current_item
    other = ResolveTimelineItem("other", ResolveMediaPoolItem("/x.mov"), TIMELINE_START, 5, 0)
    timeline.tracks = [[other], [item], []]  # the item sits on V2; V3 is empty
    resolve_script.clean_current_item(resolve, settings(resolve_script), print)
    assert count_frames(tmp_path / "plate_clean.mp4") == 20
    assert timeline.added_tracks == 0
    assert [(a["trackIndex"], a["recordFrame"]) for a in pool.appended] == [
        (3, TIMELINE_START + 10)
    ]


@pytest.mark.parametrize(
    "change, message",
    [
        ({"marks": {"video": {"in": 0, "out": 5}}}, "does not cover the current clip"),
        ({"no_item": True}, "Put the playhead over the video clip"),
        ({"no_mask": True}, "plate.masktrack.json next to it"),
    ],
)
def test_user_errors(resolve_script, plate, tmp_path, change, message):
    clip = plate
    if change.get("no_mask"):
        clip = tmp_path / "plate.mp4"
        clip.write_bytes(plate.read_bytes())
    resolve, pool, timeline = make_host(clip, marks=change.get("marks"))
    if change.get("no_item"):
        timeline.current_item = None
    with pytest.raises(resolve_script.ResolveScriptError, match=message):
        resolve_script.clean_current_item(resolve, settings(resolve_script), print)
    assert pool.imports == []


def test_hook_failure_imports_nothing(resolve_script, plate, tmp_path):
    clip = tmp_path / "plate.mp4"
    clip.write_bytes(plate.read_bytes())
    track = box_track(64, 48, frames=40)
    track["tracks"][0]["keyframes"][0]["points"] = [[1, 1], [2, 2]]  # a polygon needs 3
    (tmp_path / "plate.masktrack.json").write_text(json.dumps(track))
    resolve, pool, _ = make_host(clip)
    with pytest.raises(resolve_script.hook.HookError) as failure:
        resolve_script.clean_current_item(resolve, settings(resolve_script), print)
    assert failure.value.code == "bad_mask_track"
    assert failure.value.exit_code == 3
    assert "tracks[0].keyframes[0].points" in str(failure.value)
    assert pool.imports == []
    assert not (tmp_path / "plate_clean.mp4").exists()


def test_main_uses_the_resolve_global(resolve_script, plate, monkeypatch, capsys):
    resolve, pool, _ = make_host(plate)
    main_module = sys.modules["__main__"]
    monkeypatch.setattr(main_module, "resolve", resolve, raising=False)
    monkeypatch.setenv("MOEBIUS_VIDEO_TOOL", sys.executable)
    monkeypatch.setenv("MOEBIUS_VIDEO_ADD_TO_TIMELINE", "0")
    monkeypatch.setenv("MOEBIUS_VIDEO_MODEL", "opencv")
    assert resolve_script.get_resolve() is resolve
    for stale in plate.parent.glob("plate_clean*"):
        stale.unlink()
    assert resolve_script.main() == 0
    assert "imported plate_clean.mp4" in capsys.readouterr().out
    assert len(pool.imports) == 1
