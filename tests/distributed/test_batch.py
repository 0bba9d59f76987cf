"""Batch jobs: job-file validation, and a batch where one broken shot does not stop the others."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
import yaml
from distributed_media import FRAMES

from moebius_video.batch import JobFileError, load_job_file
from moebius_video.commands.batch import main as batch_main
from moebius_video.errors import EXIT_BAD_INPUT, EXIT_BATCH_PARTIAL
from moebius_video.io import open_video

SHOT = {"input": "plate.mp4", "mask_track": "wire.json", "output": "out/a.mp4"}


def _job_file(folder: Path, document, name: str = "jobs.yaml") -> Path:
    path = folder / name
    path.write_text(yaml.safe_dump(document) if name.endswith(".yaml") else json.dumps(document))
    return path


@pytest.mark.parametrize(
    "document, message",
    [
        ([SHOT], r"jobs.yaml: expected a mapping with 'shots', got a list"),
        ({"shots": []}, r"jobs.yaml: shots: expected a non-empty list"),
        ({"shots": [SHOT], "defualts": {}}, r"unknown key 'defualts'"),
        ({"shots": [SHOT, {**SHOT, "output": "b.mp4", "crff": 3}]}, r"shots\[1\]: .*'crff'"),
        ({"shots": [{**SHOT, "crf": 99}]}, r"shots\[0\]: --crf: .*99"),
        ({"shots": [{**SHOT, "frames": "1100-1001"}]}, r"shots\[0\]: .*1100"),
        ({"shots": [{"input": "a.mp4", "mask_track": "w.json"}]}, r"shots\[0\]: missing 'output'"),
        ({"shots": [SHOT, {**SHOT, "input": "b.mp4"}]}, r"shots\[1\].output: .*shots\[0\]"),
        ({"defaults": {"workers": 0}, "shots": [SHOT]}, r"defaults: --workers"),
        ({"shots": ["plate.mp4"]}, r"shots\[0\]: expected a mapping, got a string"),
    ],
)
def test_invalid_job_files_name_the_place(tmp_path, document, message):
    with pytest.raises(JobFileError, match=message):
        load_job_file(_job_file(tmp_path, document))


def test_yaml_syntax_error_gives_the_line(tmp_path):
    path = tmp_path / "jobs.yaml"
    path.write_text("shots:\n  - input: a.mp4\n    output: [unclosed\n")
    with pytest.raises(JobFileError, match=r"jobs.yaml: line \d+ column \d+: invalid YAML"):
        load_job_file(path)


def test_yaml_alias_bomb_is_refused_before_it_expands(tmp_path):
    # 448 bytes that safe_load turns into 9**9 values for whoever walks them.
    lines = ['a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    for i in range(1, 10):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    path = tmp_path / "jobs.yaml"
    path.write_text("\n".join(lines) + "\nshots: *a9\n")
    with pytest.raises(JobFileError, match=r"jobs.yaml: expands to more than \d+ values"):
        load_job_file(path)


@pytest.mark.parametrize("depth", [100, 5000])
def test_deeply_nested_yaml_is_refused(tmp_path, depth):
    path = tmp_path / "jobs.yaml"
    path.write_text("shots: " + "[" * depth + "]" * depth + "\n")
    with pytest.raises(JobFileError, match=r"jobs.yaml: lists or mappings nested too deep"):
        load_job_file(path)


@pytest.mark.parametrize("name", ["jobs.yaml", "jobs.json"])
def test_a_key_given_twice_is_refused(tmp_path, name):
    path = tmp_path / name
    if name.endswith(".yaml"):
        path.write_text("shots:\n  - input: a.mp4\n    input: b.mp4\n    output: o.mp4\n")
    else:
        path.write_text('{"shots": [{"input": "a.mp4", "input": "b.mp4", "output": "o.mp4"}]}')
    with pytest.raises(JobFileError, match=r"duplicate key 'input'"):
        load_job_file(path)


def test_a_yaml_merge_key_may_be_overridden(tmp_path):
    path = tmp_path / "jobs.yaml"
    path.write_text(
        "shots:\n"
        "  - &base {input: plate.mp4, mask_track: wire.json, output: a.mp4, crf: 20}\n"
        "  - {<<: *base, output: b.mp4, crf: 12}\n"
    )
    assert [s.options.crf for s in load_job_file(path)] == [20, 12]


def test_job_files_that_are_not_regular_files_are_refused_at_once(tmp_path):
    fifo = tmp_path / "jobs.yaml"
    os.mkfifo(fifo)  # would block forever on open() without a writer
    with pytest.raises(JobFileError, match=r"not a regular file"):
        load_job_file(fifo)
    with pytest.raises(JobFileError, match=r"not a regular file"):
        load_job_file("/dev/zero")
    big = tmp_path / "big.yaml"
    with big.open("wb") as stream:
        stream.truncate(5 * 2**20)
    with pytest.raises(JobFileError, match=r"more than the limit"):
        load_job_file(big)


def test_defaults_merge_and_paths_resolve_from_the_job_file(tmp_path):
    document = {
        "defaults": {"crf": 20, "keyframe-interval": 6},
        "shots": [SHOT, {**SHOT, "output": "out/b.mov", "crf": 12, "name": "sh020"}],
    }
    shots = load_job_file(_job_file(tmp_path, document, "jobs.json"))
    assert [s.options.crf for s in shots] == [20, 12]
    assert [s.options.keyframe_interval for s in shots] == [6, 6]
    assert shots[0].input == str(tmp_path / "plate.mp4")
    assert [s.name for s in shots] == ["plate", "sh020"]


def test_batch_with_a_broken_shot_finishes_the_others(shot, tmp_path, capsys):
    folder = shot["folder"]
    (tmp_path / "broken.mp4").write_text("this is not a video\n")
    document = {
        "defaults": {"mask_track": str(shot["track"]), "window": 4, "model": "opencv"},
        "shots": [
            {"name": "sh010", "input": str(shot["clip"]), "output": "out/sh010.mp4"},
            {"name": "sh020", "input": "broken.mp4", "output": "out/sh020.mp4"},
            {"name": "sh030", "input": str(folder / "plate.mp4"), "output": "out/sh030.mp4"},
        ],
    }
    (tmp_path / "out").mkdir()
    code = batch_main([str(_job_file(tmp_path, document)), "--progress", "plain"])
    captured = capsys.readouterr()
    assert code == EXIT_BATCH_PARTIAL, f"exit {code}\n{captured.err}"

    for name in ("sh010", "sh030"):
        with open_video(tmp_path / "out" / f"{name}.mp4") as video:
            assert video.info.frame_count == FRAMES
    assert not (tmp_path / "out" / "sh020.mp4").exists(), "the broken shot left an output"

    # Only frames written count: the broken shot (weighed as the mean of the others) is
    # not done, so the progress stops at two thirds; the end of the batch is 100.
    percents = [int(p) for p in re.findall(r"^Progress: (\d+)%$", captured.err, re.M)]
    assert percents == sorted(percents) and percents[-2:] == [66, 100], f"lines: {percents}"
    assert "shot 2/3 sh020: FAILED (exit 3)" in captured.err, captured.err
    rows = {line.split()[1]: line for line in captured.out.splitlines()[1:4]}
    assert "ok" in rows["sh010"].split() and "ok" in rows["sh030"].split(), captured.out
    assert "FAILED (3)" in rows["sh020"] and "broken.mp4" in rows["sh020"], captured.out
    assert "2 of 3 shots succeeded, 1 failed" in captured.out


def test_batch_json_events_name_each_shot(shot, tmp_path, capsys):
    document = {
        "defaults": {"mask_track": str(shot["track"]), "temporal": "off", "model": "opencv"},
        "shots": [
            {"name": "good", "input": str(shot["clip"]), "output": "good.%04d.png"},
            {"name": "missing", "input": "nowhere.mp4", "output": "missing.mp4"},
        ],
    }
    code = batch_main([str(_job_file(tmp_path, document)), "--progress", "json"])
    captured = capsys.readouterr()
    assert code == EXIT_BATCH_PARTIAL
    events = [json.loads(line) for line in captured.out.splitlines()]
    shots = {e["shot"]: e for e in events if e["event"] == "shot"}
    assert shots["good"]["status"] == "ok" and shots["good"]["frames"] == FRAMES
    assert shots["missing"]["status"] == "failed" and shots["missing"]["exit_code"] == 3
    assert "nowhere.mp4" in shots["missing"]["message"]
    progress = [e for e in events if e["event"] == "progress" and e.get("shot") == "good"]
    assert progress and progress[-1]["shot_percent"] == 100.0
    assert events[-1]["event"] == "done"
    assert len(list(tmp_path.glob("good.*.png"))) == FRAMES


def test_invalid_job_file_exits_3_before_running_anything(tmp_path, capsys):
    path = _job_file(tmp_path, {"shots": [{**SHOT, "crf": "high"}]})
    assert batch_main([str(path)]) == EXIT_BAD_INPUT
    assert "shots[0]" in capsys.readouterr().err


def test_batch_makes_output_folders_for_every_kind_and_removes_them_after_a_failure(
    shot, tmp_path, capsys
):
    document = {
        "defaults": {"mask_track": str(shot["track"]), "temporal": "off", "model": "opencv"},
        "shots": [
            {"name": "movie", "input": str(shot["clip"]), "output": "new/movies/a.mp4"},
            {"name": "frames", "input": str(shot["clip"]), "output": "new/frames/a.%04d.png"},
            {"name": "broken", "input": "nowhere.mp4", "output": "gone/deeper/b.mp4"},
        ],
    }
    code = batch_main([str(_job_file(tmp_path, document)), "--progress", "bar"])
    captured = capsys.readouterr()
    assert code == EXIT_BATCH_PARTIAL, captured.err
    # The bar ends at the frames written, not counting the failed shot's.
    last = re.findall(r"\[[#.]+\]\s+([\d.]+)% (\d+)/(\d+) frames", captured.err)[-1]
    assert (int(last[1]), int(last[2])) == (2 * FRAMES, 3 * FRAMES), last
    with open_video(tmp_path / "new" / "movies" / "a.mp4") as video:
        assert video.info.frame_count == FRAMES
    assert len(list((tmp_path / "new" / "frames").glob("a.*.png"))) == FRAMES
    assert not (tmp_path / "gone").exists(), "a failed shot left the folders made for it"


def test_batch_check_opens_every_input_and_mask_track(shot, tmp_path, capsys):
    (tmp_path / "broken.mp4").write_text("this is not a video\n")
    (tmp_path / "bad.json").write_text('{"schema": "moebius.masktrack/1"}')
    document = {
        "defaults": {"mask_track": str(shot["track"]), "model": "opencv"},
        "shots": [
            {"name": "good", "input": str(shot["clip"]), "output": "a.mp4"},
            {"name": "missing", "input": "nowhere.mp4", "output": "b.mp4"},
            {"name": "broken", "input": "broken.mp4", "output": "c.mp4"},
            {
                "name": "badtrack",
                "input": str(shot["clip"]),
                "mask_track": "bad.json",
                "output": "d.mp4",
            },
        ],
    }
    path = _job_file(tmp_path, document)
    before = sorted(p.name for p in tmp_path.iterdir())
    assert batch_main([str(path), "--check"]) == EXIT_BAD_INPUT
    captured = capsys.readouterr()
    assert len(captured.out.splitlines()) == 4  # every shot listed
    problems = [
        line for line in captured.err.splitlines() if line.startswith("moebius-video batch")
    ]
    assert [line.split()[3] for line in problems] == ["missing:", "broken:", "badtrack:"]
    assert "nowhere.mp4: no such file" in problems[0]
    assert "3 of 4 shots cannot run" in captured.err
    assert sorted(p.name for p in tmp_path.iterdir()) == before, "--check wrote something"
    good = _job_file(tmp_path, {**document, "shots": document["shots"][:1]}, "good.yaml")
    assert batch_main([str(good), "--check"]) == 0
