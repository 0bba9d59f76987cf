"""The hook's request checking, end to end through a real `moebius-video hook` subprocess.

Every bad request must give: one `error` event as the only stdout line, the documented exit
code and error code, a message naming the JSON path, and no output file.
"""

from __future__ import annotations

import json
import os
import re

import jsonschema
import pytest
from plugin_helpers import PLUGINS, REPO, run_hook, run_request

from moebius_video.hook import request_schema

SCHEMA_IN_PACKAGE = REPO / "moebius_video" / "hook" / "request.schema.json"
SCHEMA_DOCUMENTED = PLUGINS / "hook-request.schema.json"


def test_documented_schema_is_the_shipped_one():
    assert SCHEMA_DOCUMENTED.read_bytes() == SCHEMA_IN_PACKAGE.read_bytes(), (
        "plugins/hook-request.schema.json differs from moebius_video/hook/request.schema.json; "
        "copy the package's file over the documented one"
    )


def test_schema_is_valid_draft_2020_12():
    jsonschema.Draft202012Validator.check_schema(request_schema())


def test_requests_in_hook_md_are_valid():
    text = (PLUGINS / "HOOK.md").read_text()
    blocks = re.findall(r"```json\n(.*?)```", text, flags=re.S)
    assert len(blocks) >= 2, "HOOK.md should show at least two request examples"
    validator = jsonschema.Draft202012Validator(request_schema())
    for block in blocks:
        errors = [e.message for e in validator.iter_errors(json.loads(block))]
        assert not errors, f"HOOK.md example breaks the schema: {errors}\n{block}"


def test_print_schema(tmp_path):
    run = run_hook(["--print-schema"], cwd=tmp_path, events=False)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) == request_schema()


@pytest.fixture
def workdir(tmp_path, small_clip):
    """A folder with a clip and a mask-track file, as a host would prepare it."""
    (tmp_path / "plate.mp4").write_bytes(small_clip.read_bytes())
    track = {
        "schema": "moebius.masktrack/1",
        "width": 64,
        "height": 48,
        "tracks": [
            {
                "id": "dot",
                "shape": "ellipse",
                "keyframes": [{"frame": 0, "center": [30, 20], "axes": [4, 3], "angle": 0}],
            }  # noqa: E501
        ],
    }
    (tmp_path / "wires.json").write_text(json.dumps(track))
    (tmp_path / "a_folder").mkdir()
    return tmp_path


GOOD = {"input": "plate.mp4", "mask_track": "wires.json", "output": "out.mp4"}


def with_(**changes):
    request = dict(GOOD)
    for key, value in changes.items():
        if value is ...:
            request.pop(key)
        else:
            request[key] = value
    return request


ONE_POINT_TRACK = {
    "schema": "moebius.masktrack/1",
    "width": 64,
    "height": 48,
    "tracks": [
        {
            "id": "wire",
            "shape": "polyline",
            "width": 2,
            "keyframes": [{"frame": 0, "points": [[1, 2]]}],
        }
    ],
}

# (id, request dict or raw text, exit code, error code, pieces the message must contain)
BAD_REQUESTS = [
    ("not-json", '{"input": "plate.mp4",', 3, "bad_request", ["line 1 column", "invalid JSON"]),
    ("empty", "", 3, "bad_request", ["empty request"]),
    ("top-level-array", "[1, 2]", 3, "bad_request", ["top level", "got array"]),
    ("nan", '{"input": NaN}', 3, "bad_request", ["NaN is not a JSON number"]),
    (
        "duplicate-key",
        '{"input": "plate.mp4", "mask_track": "wires.json", "output": "a.mp4", "output": "b.mp4"}',
        3,
        "bad_request",
        ["duplicate key 'output'"],
    ),
    ("missing-input", with_(input=...), 3, "bad_request", ["missing required key 'input'"]),
    (
        "missing-mask-track",
        with_(mask_track=...),
        3,
        "bad_request",
        ["missing required key 'mask_track'"],
    ),
    ("missing-output", with_(output=...), 3, "bad_request", ["missing required key 'output'"]),
    ("input-not-string", with_(input=42), 3, "bad_request", ["input: expected a string"]),
    (
        "mask-track-number",
        with_(mask_track=7),
        3,
        "bad_request",
        ["mask_track: expected a path (string) or an inline mask track (object)"],
    ),
    (
        "frames-wrong-type",
        with_(frames=["a", 3]),
        3,
        "bad_request",
        ["frames[0]: expected an integer, got string"],
    ),
    ("frames-one-item", with_(frames=[3]), 3, "bad_request", ["frames: expected [first, last]"]),
    (
        "frames-reversed",
        with_(frames=[5, 2]),
        3,
        "bad_request",
        ["frames: first frame 5 is after last frame 2"],
    ),
    (
        "frames-and-indices",
        with_(frames=[0, 2], frame_indices=[0, 2]),
        3,
        "bad_request",
        ["frames or frame_indices, not both"],
    ),
    (
        "negative-index",
        with_(frame_indices=[-1, 2]),
        3,
        "bad_request",
        ["frame_indices[0]: expected at least 0, got -1"],
    ),
    ("crf-too-high", with_(crf=99), 3, "bad_request", ["crf: expected at most 63, got 99"]),
    ("crf-bool", with_(crf=True), 3, "bad_request", ["crf: expected an integer, got boolean"]),
    ("device", with_(device="gpu"), 3, "bad_request", ["device: expected auto, cpu"]),
    ("overwrite-string", with_(overwrite="yes"), 3, "bad_request", ["overwrite: expected true"]),
    (
        "unknown-version",
        with_(version=2),
        3,
        "bad_request",
        ["version: unsupported request version 2", "reads version 1"],
    ),
    ("version-string", with_(version="1"), 3, "bad_request", ["version: expected an integer"]),
    (
        "unknown-plain-key",
        with_(ouput="x.mp4"),
        3,
        "bad_request",
        ["ouput: unknown key", "host namespace"],
    ),
    (
        "option-at-wrong-level",
        with_(options={"codec": "ffv1"}),
        3,
        "bad_request",
        ["options.codec: set 'codec' at the top level"],
    ),
    ("input-missing", with_(input="nope.mp4"), 3, "bad_request", ["input: not found", "nope.mp4"]),
    (
        "mask-track-missing",
        with_(mask_track="nope.json"),
        3,
        "bad_request",
        ["mask_track: not found", "nope.json"],
    ),
    (
        "output-folder-missing",
        with_(output="no/such/dir/out.mp4"),
        3,
        "bad_request",
        [": output ", "no/such/dir/out.mp4: the folder", "does not exist"],
    ),
    (
        "output-is-folder",
        with_(output="a_folder"),
        3,
        "bad_request",
        [": output ", "a_folder: is a directory"],
    ),
    (
        "output-is-input",
        with_(output="plate.mp4"),
        3,
        "bad_request",
        [": output ", "plate.mp4: is the input; the input is never overwritten"],
    ),
    (
        "nul-in-path",
        with_(input="pla\u0000te.mp4"),
        3,
        "bad_request",
        ["input: path contains a NUL"],
    ),  # noqa: E501
    ("empty-path", with_(output=""), 3, "bad_request", ["output: expected a non-empty string"]),
    (
        "inline-track-no-schema",
        with_(mask_track={"tracks": []}),
        3,
        "bad_request",
        ["mask_track: inline mask track: missing required key 'schema'"],
    ),
    (
        "inline-track-too-few-points",
        with_(mask_track=ONE_POINT_TRACK),
        3,
        "bad_mask_track",
        ["mask_track: tracks[0].keyframes[0].points", "got 1"],
    ),
    (
        "inline-track-wrong-schema",
        with_(mask_track={**ONE_POINT_TRACK, "schema": "moebius.masktrack/9"}),
        3,
        "bad_mask_track",
        ["mask_track: schema"],
    ),
    (
        "unknown-option",
        with_(options={"windoww": 4}),
        2,
        "usage",
        ["options: unknown option 'windoww'"],
    ),
    (
        "bad-option-value",
        with_(options={"window": 0}),
        2,
        "usage",
        ["options.window: expected an integer >= 1, got 0"],
    ),
    (
        "joins-a-ray-cluster",
        with_(options={"ray_address": "10.0.0.9:6379"}),
        3,
        "bad_request",
        ["options.ray_address: a request may not join a Ray cluster"],
    ),
    (
        "reads-a-farm-sidecar",
        with_(options={"analysis": "shot.analysis.npz"}),
        3,
        "bad_request",
        ["options.analysis: a request may not read a farm's shot analysis sidecar"],
    ),
    (
        "too-many-workers",
        with_(options={"workers": 1000}),
        3,
        "bad_request",
        ["options.workers: 1000 is more than this machine's"],
    ),
    (
        "unknown-codec",
        with_(codec="no_such_codec"),
        2,
        "usage",
        ["codec: unknown codec 'no_such_codec'"],
    ),
    (
        "frames-outside-clip",
        with_(frames=[5, 500]),
        2,
        "usage",
        ["request.json: frames 5-500: outside the clip"],
    ),
]


@pytest.mark.parametrize(
    "request_, exit_code, code, pieces",
    [case[1:] for case in BAD_REQUESTS],
    ids=[case[0] for case in BAD_REQUESTS],
)
def test_bad_request(workdir, request_, exit_code, code, pieces):
    before = sorted(p.name for p in workdir.iterdir())
    run = run_request(request_, workdir)
    assert run.returncode == exit_code, f"exit {run.returncode}, expected {exit_code}: {run.last}"
    assert run.kinds()[-1] == "error" and "done" not in run.kinds(), run.events
    assert run.last["code"] == code, run.last
    assert run.last["exit_code"] == exit_code
    for piece in pieces:
        assert piece in run.last["message"], f"{piece!r} not in {run.last['message']!r}"
    assert run.last["message"].startswith(str(workdir / "request.json") + ": "), run.last["message"]
    assert "Traceback" not in run.stderr
    after = sorted(p.name for p in workdir.iterdir() if p.name != "request.json")
    assert after == before, "a failed request left files behind"


def test_output_exists_needs_overwrite(workdir):
    (workdir / "out.mp4").write_bytes(b"keep me")
    run = run_request(GOOD, workdir)
    assert run.returncode == 2
    assert run.last["code"] == "output_exists"
    assert '"overwrite": true' in run.last["message"]
    assert (workdir / "out.mp4").read_bytes() == b"keep me"


def test_request_file_missing(tmp_path):
    run = run_hook([str(tmp_path / "absent.json")], cwd=tmp_path)
    assert (run.returncode, run.last["code"]) == (2, "usage")
    assert "absent.json: request file not found" in run.last["message"]


def test_no_request_given(tmp_path):
    run = run_hook([], cwd=tmp_path)
    assert (run.returncode, run.last["code"]) == (2, "usage")
    assert "give a request file, or -" in run.last["message"]


@pytest.mark.parametrize("args", [["a.json", "b.json"], ["--bogus"], ["--workers", "2"]])
def test_argument_mistakes_are_error_events(tmp_path, args):
    # A plug-in reads events: argparse's usage text alone on stderr would tell it nothing.
    run = run_hook(args, cwd=tmp_path)
    assert (run.returncode, run.kinds()) == (2, ["error"])
    assert run.last["code"] == "usage" and "usage: moebius-video hook" in run.last["message"]


def test_a_fifo_request_is_refused_not_waited_on(tmp_path):
    fifo = tmp_path / "request.json"
    os.mkfifo(fifo)  # no writer: open() and read() would block the host forever
    run = run_hook([str(fifo)], cwd=tmp_path, timeout=30)
    assert (run.returncode, run.last["code"]) == (2, "usage")
    assert "not a regular file" in run.last["message"]


def test_bad_request_on_stdin_is_named_stdin(tmp_path):
    run = run_hook(["-"], cwd=tmp_path, stdin=b'{"version": 1}')
    assert run.returncode == 3
    assert run.last["message"].startswith("<stdin>: missing required key 'input'")


def test_several_schema_errors_are_listed_in_request_order(workdir):
    run = run_request({"input": 1, "mask_track": "wires.json", "output": 2, "crf": -1}, workdir)
    message = run.last["message"]
    assert message.index("input:") < message.index("output:") < message.index("crf:"), message
    assert "(and 2 more" in message


def _run_confined(workdir, request_) -> object:
    (workdir / "request.json").write_text(json.dumps(request_))
    return run_hook(["--root", str(workdir), str(workdir / "request.json")], cwd=workdir)


@pytest.mark.parametrize(
    "request_, key",
    [
        (with_(output="../escaped.mp4"), "output"),
        (with_(input="OUTSIDE/plate.mp4"), "input"),
        (with_(mask_track="OUTSIDE/wires.json"), "mask_track"),
        (
            with_(
                mask_track={
                    "schema": "moebius.masktrack/1",
                    "width": 64,
                    "height": 48,
                    "tracks": [
                        {
                            "id": "m",
                            "shape": "raster",
                            "source": {"format": "png", "path": "../OUTSIDE_NAME/m.png"},
                        }
                    ],
                }
            ),
            "mask_track.tracks[0].source.path",
        ),
    ],
    ids=["output-dotdot", "input-absolute", "mask-track-absolute", "inline-raster-dotdot"],
)
def test_a_root_confines_every_path_of_a_request(workdir, request_, key):
    outside = workdir.parent / f"{workdir.name}-outside"  # files that exist, out of the root
    outside.mkdir()
    for name in ("plate.mp4", "wires.json"):
        (outside / name).write_bytes((workdir / name).read_bytes())
    (outside / "m.png").write_bytes(b"")
    text = json.dumps(request_).replace("OUTSIDE_NAME", outside.name)
    request_ = json.loads(text.replace("OUTSIDE", str(outside)))
    run = _run_confined(workdir, request_)
    assert run.returncode == 3 and run.last["code"] == "bad_request", run.last
    assert f"{key}: " in run.last["message"] and "outside the folders" in run.last["message"]
    assert not (workdir.parent / "escaped.mp4").exists()


def test_a_link_out_of_the_root_is_refused_and_a_request_inside_runs(workdir):
    elsewhere = workdir.parent / f"{workdir.name}-elsewhere.mp4"
    elsewhere.write_bytes((workdir / "plate.mp4").read_bytes())
    (workdir / "link.mp4").symlink_to(elsewhere)
    run = _run_confined(workdir, with_(input="link.mp4"))
    assert run.returncode == 3 and "outside the folders" in run.last["message"], run.last
    run = _run_confined(workdir, GOOD)
    assert run.returncode == 0, run.last
    assert (workdir / "out.mp4").exists()


def _outside(workdir):
    """A folder beside the request's, holding a copy of its plate."""
    outside = workdir.parent / f"{workdir.name}-outside"
    outside.mkdir(exist_ok=True)
    (outside / "plate.mp4").write_bytes((workdir / "plate.mp4").read_bytes())
    return outside


@pytest.mark.parametrize(
    "changes, key",
    [
        ({"output": "../escaped.mp4"}, "output"),
        ({"input": "OUTSIDE/plate.mp4"}, "input"),
        ({"options": {"save_debug": "../debug.mp4"}}, "options.save_debug"),
    ],
    ids=["output-dotdot", "input-absolute", "save-debug-dotdot"],
)
def test_without_a_root_a_request_stays_in_its_own_folder(workdir, changes, key):
    outside = _outside(workdir)
    request_ = json.loads(json.dumps(with_(**changes)).replace("OUTSIDE", str(outside)))
    run = run_request(request_, workdir)
    assert run.returncode == 3 and run.last["code"] == "bad_request", run.last
    message = run.last["message"]
    assert f"{key}: " in message and "the request's own folder" in message, message
    assert "MOEBIUS_VIDEO_HOOK_ROOTS" in message and "--root" in message
    assert not (workdir.parent / "escaped.mp4").exists()
    assert not (workdir.parent / "debug.mp4").exists()


def test_a_refusal_does_not_tell_whether_the_file_outside_exists(workdir):
    outside = _outside(workdir)
    messages = []
    for name in ("plate.mp4", "no-such-plate.mp4"):
        run = run_request(with_(input=str(outside / name)), workdir)
        assert run.returncode == 3, run.last
        messages.append(run.last["message"].replace(name, "NAME"))
    assert messages[0] == messages[1]
    assert "not found" not in messages[0]


def test_raster_paths_inside_a_track_file_are_confined(workdir):
    outside = _outside(workdir)
    (outside / "matte.png").write_bytes(b"")
    for path in (str(outside / "matte.png"), f"../{outside.name}/matte.png"):
        track = {
            "schema": "moebius.masktrack/1",
            "width": 64,
            "height": 48,
            "tracks": [{"id": "m", "shape": "raster", "source": {"format": "png", "path": path}}],
        }
        (workdir / "rasters.json").write_text(json.dumps(track))
        run = run_request(with_(mask_track="rasters.json"), workdir)
        assert run.returncode == 3 and run.last["code"] == "bad_request", run.last
        assert "mask_track.tracks[0].source.path: " in run.last["message"], run.last


def test_the_roots_variable_lets_a_host_allow_more_folders(workdir):
    outside = _outside(workdir)
    request_ = with_(input=str(outside / "plate.mp4"), output=str(outside / "clean.mp4"))
    (workdir / "request.json").write_text(json.dumps(request_))
    roots = os.pathsep.join([str(workdir), str(outside)])
    run = run_hook(
        [str(workdir / "request.json")], cwd=workdir, env={"MOEBIUS_VIDEO_HOOK_ROOTS": roots}
    )
    assert run.returncode == 0, run.last
    assert (outside / "clean.mp4").exists()
    # --root wins over the variable: the outside folder is no longer allowed.
    (outside / "clean.mp4").unlink()
    run = run_hook(
        ["--root", str(workdir), str(workdir / "request.json")],
        cwd=workdir,
        env={"MOEBIUS_VIDEO_HOOK_ROOTS": roots},
    )
    assert run.returncode == 3 and "outside the folders" in run.last["message"], run.last


def test_save_debug_is_relative_to_the_request(workdir, tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("cwd")
    (workdir / "request.json").write_text(json.dumps(with_(options={"save_debug": "dbg.mp4"})))
    run = run_hook([str(workdir / "request.json")], cwd=elsewhere)
    assert run.returncode == 0, run.last
    assert (workdir / "dbg.mp4").exists() and not (elsewhere / "dbg.mp4").exists()
