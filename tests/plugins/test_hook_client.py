"""plugins/common/moebius_hook_client.py, the client each host's install step puts beside it."""

from __future__ import annotations

import json
import os
import stat
import sys

import jsonschema
import pytest
from plugin_helpers import PLUGINS, box_track, hook_env, write_clip

from moebius_video.hook import request_schema
from moebius_video.masks import parse_mask_track

sys.path.insert(0, str(PLUGINS / "common"))
import moebius_hook_client as client  # noqa: E402


def test_requests_it_builds_follow_the_schema():
    validator = jsonschema.Draft202012Validator(request_schema())
    matte = client.raster_mask_track("/mattes/m.mov", 1920, 1080)
    requests = [
        client.build_request("a.mov", "wires.json", "b.mov"),
        client.build_request(
            "a.mov",
            matte,
            "b.mov",
            frame_indices=(3, 9),
            codec="prores_ks",
            crf=18,
            overwrite=True,
            model="opencv",
            device="cpu",
            host="blender",
            host_data={"scene": "Edit"},
            options={"window": 8},
        ),
        client.build_request("a.mov", "wires.json", "b.mov", frames=(1001, 1010)),
    ]
    for request in requests:
        errors = [e.message for e in validator.iter_errors(request)]
        assert not errors, (errors, request)
    parse_mask_track(matte, label="matte")  # the masks module accepts the inline track


def test_hook_command_for_tool_or_python():
    assert client.hook_command("moebius-video") == ["moebius-video", "hook", "-"]
    assert client.hook_command("/opt/mv/bin/python3.11") == [
        "/opt/mv/bin/python3.11",
        "-m",
        "moebius_video.commands.hook",
        "-",
    ]


def test_hook_command_passes_the_roots():
    assert client.hook_command("moebius-video", ["/plates", "/renders"]) == [
        "moebius-video",
        "hook",
        "--root",
        "/plates",
        "--root",
        "/renders",
        "-",
    ]


def test_request_roots_are_the_folders_of_the_files_it_names(tmp_path):
    (tmp_path / "pngs").mkdir()
    matte = client.raster_mask_track(str(tmp_path / "pngs"), 64, 48, "png")
    request = client.build_request(
        "/shows/plates/a.%04d.exr", matte, "renders/a_clean.mov", options={"save_debug": "d.mp4"}
    )
    roots = client.request_roots(request, cwd="/farm/job")
    assert roots == ["/shows/plates", "/farm/job/renders", str(tmp_path / "pngs"), "/farm/job"]
    request = client.build_request("/p/a.mov", "/tracks/w.json", "/p/a_clean.mov")
    assert client.request_roots(request) == ["/p", "/tracks"]


def test_default_output_path_never_reuses_a_name(tmp_path):
    source = tmp_path / "plate.mov"
    assert client.default_output_path(source) == str(tmp_path / "plate_clean.mov")
    (tmp_path / "plate_clean.mov").write_bytes(b"")
    (tmp_path / "plate_clean_2.mov").write_bytes(b"")
    assert client.default_output_path(source) == str(tmp_path / "plate_clean_3.mov")
    assert client.default_output_path(source, extension=".mkv", folder=str(tmp_path / "o")) == (
        str(tmp_path / "o" / "plate_clean.mkv")
    )


def test_polling_a_real_run(tmp_path):
    # Plate and render in folders of their own, the hook started elsewhere: the client's
    # --root folders let it use exactly those.
    (tmp_path / "plates").mkdir()
    (tmp_path / "renders").mkdir()
    (tmp_path / "elsewhere").mkdir()
    write_clip(tmp_path / "plates" / "plate.mp4", frames=12)
    output = tmp_path / "renders" / "out.mp4"
    request = client.build_request(
        tmp_path / "plates" / "plate.mp4", box_track(64, 48), output, model="opencv"
    )
    job = client.HookJob(
        request, tool=sys.executable, env=hook_env(), cwd=str(tmp_path / "elsewhere")
    ).start()
    seen = []
    while not job.finished:
        seen.extend(e["event"] for e in job.poll())
    assert seen[0] == "started" and seen[-1] == "done" and "progress" in seen, seen
    assert (job.percent, job.frame, job.total) == (100.0, 12, 12)
    assert job.result()["output"] == str(output)


def test_hook_error_carries_code_and_exit_code(tmp_path):
    request = client.build_request(tmp_path / "absent.mp4", "w.json", tmp_path / "o.mp4")
    with pytest.raises(client.HookError) as failure:
        client.run_hook(request, tool=sys.executable, env=hook_env())
    assert (failure.value.code, failure.value.exit_code) == ("bad_request", 3)
    assert "input: not found" in str(failure.value)


def test_tool_not_found():
    request = client.build_request("a.mp4", "w.json", "o.mp4")
    with pytest.raises(client.HookError) as failure:
        client.run_hook(request, tool="/no/such/moebius-video")
    assert failure.value.code == "tool_not_found"
    assert "plug-in's settings" in str(failure.value)


def fake_tool(tmp_path, body):
    """A real executable that is not moebius-video (a wrong path in the settings)."""
    path = tmp_path / "fake-tool"
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


@pytest.mark.skipif(os.name == "nt", reason="shell script tool")
def test_tool_that_dies_without_a_result(tmp_path):
    tool = fake_tool(tmp_path, 'echo "not json"; echo "boom: something broke" >&2; exit 5')
    with pytest.raises(client.HookError) as failure:
        client.run_hook(client.build_request("a", "b", "c"), tool=tool)
    assert (failure.value.code, failure.value.exit_code) == ("crashed", 5)
    assert "boom: something broke" in str(failure.value)


@pytest.mark.skipif(os.name == "nt", reason="shell script tool")
def test_timeout_stops_the_tool(tmp_path):
    tool = fake_tool(tmp_path, "exec sleep 30")
    job = client.HookJob(client.build_request("a", "b", "c"), tool=tool).start()
    with pytest.raises(client.HookError) as failure:
        job.wait(timeout=0.5)
    assert failure.value.code == "timeout"
    assert job._process.poll() is not None, "the tool still runs"


def test_parse_event_ignores_lines_that_are_not_events():
    assert client.parse_event('{"event": "progress", "percent": 5}') == {
        "event": "progress",
        "percent": 5,
    }
    for line in ("", "hello", "[1]", '{"no": "event"}', json.dumps({"event": 3})):
        assert client.parse_event(line) is None
