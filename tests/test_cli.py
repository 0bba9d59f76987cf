"""`moebius-video` as a user runs it: a real subprocess on small generated clips.

Covers the run command end to end (frames, pts, audio, summary line), the progress
modes (bar, plain, openjd, json), subcommand dispatch, -y, and Ctrl-C / SIGTERM
leaving no output behind.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

# Shared clip makers (tests/ is on sys.path under pytest's default import mode).
from pipeline_helpers import FRAMES, audio_packets, decoded, make_clip, narrow_pipe, wire_track

REPO = Path(__file__).resolve().parents[1]
# The classical filler by name: no model registry lookup, so no torch import per run.
FAST = ("--model", "opencv")
SUMMARY = re.compile(
    r"^moebius-video: wrote (?P<output>\S+): (?P<frames>\d+) frames "
    r"\((?P<first>\d+)-(?P<last>\d+)\)(?:, kept (?P<kept>\d+) already there)?, "
    r"masked (?P<masked>\d+\.\d\d)% of the area in (?P<masked_frames>\d+) frames, "
    r"\d+\.\d s, \d+\.\d fps \(filler \S+, \S+\)$"
)


def moebius_video(*args, text: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "moebius_video.cli", *map(str, args)],
        capture_output=True,
        text=text,
        env=env,
        timeout=120,
    )


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    folder = tmp_path_factory.mktemp("shot")
    track = wire_track()
    (folder / "wire.json").write_text(json.dumps(track))
    return make_clip(folder / "wire.mp4", track=track), str(folder / "wire.json")


def test_run_writes_the_clip_and_prints_a_summary(shot, tmp_path):
    # The default filler and default progress (plain, as stderr is not a terminal).
    clip, track = shot
    output = tmp_path / "clean.mp4"
    done = moebius_video(clip, "--mask-track", track, "-o", output)
    assert done.returncode == 0, done.stderr

    match = SUMMARY.match(done.stdout.strip())
    assert match, f"summary line not as documented: {done.stdout!r}"
    assert match["output"] == str(output)
    assert (int(match["frames"]), int(match["first"]), int(match["last"])) == (FRAMES, 0, 11)
    assert int(match["masked_frames"]) == 8
    assert 0.5 < float(match["masked"]) < 20, match["masked"]
    assert "Progress: 100%" in done.stderr.splitlines()
    assert "Traceback" not in done.stderr

    src, out = decoded(clip), decoded(output)
    assert [f.pts for f in out] == [f.pts for f in src]
    assert audio_packets(output) == audio_packets(clip)


def test_every_kind_of_output_prints_the_same_summary_line(shot, tmp_path):
    clip, track = shot
    frames = tmp_path / "f.%04d.png"
    done = moebius_video(clip, "--mask-track", track, "-o", frames, *FAST)
    assert done.returncode == 0, done.stderr
    match = SUMMARY.match(done.stdout.strip())
    assert match, f"a sequence's summary is not the run's: {done.stdout!r}"
    assert (int(match["frames"]), match["kept"]) == (FRAMES, None)
    assert int(match["masked_frames"]) == 8
    (tmp_path / "f.0003.png").unlink()  # a frame a killed farm task never wrote
    done = moebius_video(clip, "--mask-track", track, "-o", frames, "--skip-existing", *FAST)
    match = SUMMARY.match(done.stdout.strip())
    assert match, f"a resumed chunk's summary is not the run's: {done.stdout!r}"
    assert (int(match["frames"]), int(match["kept"])) == (1, FRAMES - 1)
    movie = tmp_path / "chunk.mp4"
    done = moebius_video(clip, "--mask-track", track, "-o", movie, "--skip-existing", *FAST)
    assert SUMMARY.match(done.stdout.strip()), done.stdout


@pytest.mark.parametrize(
    "mode, pattern",
    [("plain", r"^Progress: (\d+)%$"), ("openjd", r"^openjd_progress: (\d+)$")],
)
def test_farm_progress_lines_on_stderr(shot, tmp_path, mode, pattern):
    clip, track = shot
    done = moebius_video(
        clip, "--mask-track", track, "-o", tmp_path / "o.mp4", *FAST, "--progress", mode
    )
    assert done.returncode == 0, done.stderr
    percents = [int(m[1]) for m in map(re.compile(pattern).match, done.stderr.splitlines()) if m]
    assert percents[0] == 0 and percents[-1] == 100, percents
    assert percents == sorted(set(percents)), f"not increasing, or repeated: {percents}"
    assert not re.search(pattern, done.stdout, re.M), "progress belongs on stderr"


def test_bar_redraws_one_line(shot, tmp_path):
    clip, track = shot
    done = moebius_video(
        clip,
        "--mask-track",
        track,
        "-o",
        tmp_path / "o.mp4",
        *FAST,
        "--progress",
        "bar",
        text=False,
    )
    assert done.returncode == 0, done.stderr
    bar = done.stderr.decode()
    assert "\r[" in bar and "100.0%" in bar and f"{FRAMES}/{FRAMES} frames" in bar, bar
    assert bar.endswith("\n"), "the bar ends its line when done"


def test_json_events_on_stdout(shot, tmp_path):
    clip, track = shot
    output = tmp_path / "o.mkv"
    done = moebius_video(
        clip,
        "--mask-track",
        track,
        "-o",
        output,
        "-c:v",
        "ffv1",
        "--progress",
        "json",
    )
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines()]  # every line is JSON
    kinds = [e["event"] for e in events]
    assert kinds[0] == "started" and kinds[-1] == "done", kinds
    assert set(kinds) <= {"started", "progress", "warning", "done"}, kinds
    progress = [e for e in events if e["event"] == "progress"]
    assert progress[-1]["percent"] == 100.0 and progress[-1]["frame"] == FRAMES
    assert [e["frame"] for e in progress] == sorted(e["frame"] for e in progress)
    done_event = events[-1]
    assert done_event["output"] == str(output)
    assert done_event["stats"]["frames"] == FRAMES
    assert done_event["stats"]["frame_range"] == [0, FRAMES - 1]
    # The human summary still goes out, on stderr, so stdout stays machine-readable.
    assert SUMMARY.match(done.stderr.strip().splitlines()[-1]), done.stderr


def test_json_error_event_and_exit_code(tmp_path):
    not_a_video = tmp_path / "notes.mp4"
    not_a_video.write_text("this is not a video\n")
    track = tmp_path / "t.json"
    track.write_text(json.dumps(wire_track()))
    done = moebius_video(
        not_a_video, "--mask-track", track, "-o", tmp_path / "o.mp4", "--progress", "json"
    )
    assert done.returncode == 3, done.stderr
    (event,) = [json.loads(line) for line in done.stdout.splitlines()]
    assert event["event"] == "error" and event["exit_code"] == 3, event
    assert event["code"] == "bad_media" and "notes.mp4" in event["message"], event
    assert done.stderr.startswith("moebius-video: error: "), done.stderr


def test_explicit_run_subcommand_is_the_same_command(shot, tmp_path):
    clip, track = shot
    a, b = tmp_path / "a.mkv", tmp_path / "b.mkv"
    lossless = (*FAST, "-c:v", "ffv1")  # libx264 is not byte-repeatable under load
    assert moebius_video(clip, "--mask-track", track, "-o", a, *lossless).returncode == 0
    assert moebius_video("run", clip, "--mask-track", track, "-o", b, *lossless).returncode == 0
    assert a.read_bytes() == b.read_bytes()


def test_existing_output_needs_y(shot, tmp_path):
    clip, track = shot
    output = tmp_path / "o.mp4"
    output.write_bytes(b"an older render")
    refused = moebius_video(clip, "--mask-track", track, "-o", output, *FAST)
    assert refused.returncode == 2 and "use -y" in refused.stderr, refused.stderr
    assert output.read_bytes() == b"an older render"
    replaced = moebius_video(clip, "--mask-track", track, "-o", output, *FAST, "-y")
    assert replaced.returncode == 0, replaced.stderr
    assert len(decoded(output)) == FRAMES


def test_shot_cuts_with_temporal_off_is_a_usage_error(shot, tmp_path):
    # The per-frame fill never carries anything between frames: a cut given by hand would
    # be ignored, so it is refused (exit 2) before any output exists. The default is fine.
    clip, track = shot
    output = tmp_path / "o.mkv"
    per_frame = (clip, "--mask-track", track, "-o", output, *FAST, "--temporal", "off")
    for cuts in ("5", "none"):
        refused = moebius_video(*per_frame, "--shot-cuts", cuts)
        assert refused.returncode == 2, refused.stderr
        assert refused.stderr.startswith("moebius-video: error: --shot-cuts: "), refused.stderr
        assert "drop --temporal off or --shot-cuts" in refused.stderr, refused.stderr
        assert not output.exists() and not list(tmp_path.iterdir())
    default = moebius_video(*per_frame, "--shot-cuts", "auto", "-c:v", "ffv1")
    assert default.returncode == 0, default.stderr
    assert len(decoded(output)) == FRAMES


def test_help_version_and_usage():
    top = moebius_video("--help")
    assert top.returncode == 0 and "run" in top.stdout and "hook" in top.stdout
    assert "exit codes" in top.stdout
    run_help = moebius_video("run", "--help")
    assert run_help.returncode == 0 and "--mask-track" in run_help.stdout
    assert moebius_video("--version").stdout.startswith("moebius-video ")
    bare = moebius_video()
    assert bare.returncode == 2 and "usage:" in bare.stderr


@pytest.mark.parametrize(
    ("sig", "sigint"),
    [
        (signal.SIGINT, signal.SIG_DFL),
        (signal.SIGTERM, signal.SIG_DFL),
        (signal.SIGHUP, signal.SIG_DFL),
        (signal.SIGTERM, signal.SIG_IGN),  # as a background shell starts it
    ],
    ids=["ctrl-c", "sigterm", "sighup", "sigterm-with-sigint-ignored"],
)
def test_interrupt_leaves_no_output(tmp_path, sig, sigint):
    track = wire_track(first=0, last=199)
    (tmp_path / "t.json").write_text(json.dumps(track))
    clip = make_clip(tmp_path / "long.mp4", frames=200, audio=False, track=track)
    output = tmp_path / "out" / "o.mp4"
    output.parent.mkdir()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    # 200 progress lines (12 KB) cannot fit in the pipe (4 KB) plus one read (4 KB): the
    # run is still going, stalled on its progress output, when the signal arrives.
    read_fd, write_fd = narrow_pipe()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "moebius_video.cli",
            clip,
            "--mask-track",
            tmp_path / "t.json",
            "-o",
            output,
            "--progress",
            "json",
        ],
        stdout=write_fd,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        # A shell that starts pytest in the background (`cmd &`, nohup) hands its children
        # SIGINT (and under nohup SIGHUP) ignored, and Python then installs no Ctrl-C
        # handler: give the run the dispositions a terminal would, or SIGINT ignored on
        # purpose.
        preexec_fn=lambda: (
            signal.signal(signal.SIGINT, sigint),
            signal.signal(signal.SIGHUP, signal.SIG_DFL),
        ),
    )
    os.close(write_fd)
    with open(read_fd) as stdout:
        # Wait until frames are being written, then interrupt.
        for line in stdout:
            if json.loads(line)["event"] == "progress":
                break
        process.send_signal(sig)
        rest = stdout.read()
    stderr = process.communicate(timeout=60)[1]
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr and "interrupted" in stderr, stderr
    assert '"event": "error"' in rest and '"code": "interrupted"' in rest
    assert list(output.parent.iterdir()) == [], "a partial or temporary file was left behind"


def test_run_help_does_not_import_torch():
    # Parsing a command line must stay cheap: torch loads only when a model is used.
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, moebius_video.cli as c; c.main(['run', '--help']);"
            "print('torch' in sys.modules)",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=60,
    )
    assert done.stdout.strip().endswith("False"), done.stdout + done.stderr


def _without_ray(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    # As on a machine where the [ray] extra was not installed: `import ray` fails.
    code = (
        "import sys; sys.modules['ray'] = None; import moebius_video.cli as c; "
        f"sys.exit(c.main({args!r}))"
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=120,
    )


def test_workers_without_the_ray_extra_is_a_usage_error_with_the_install_line(shot, tmp_path):
    clip, track = shot
    out = tmp_path / "out.mp4"
    run = _without_ray(
        [clip, "--mask-track", track, "-o", str(out), "--workers", "2", *FAST], tmp_path
    )
    assert run.returncode == 2, run.stderr
    assert 'runs on Ray, which is not installed: pip install "moebius-video[ray]"' in run.stderr
    assert "Traceback" not in run.stderr and not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == []
    jobs = tmp_path / "jobs.json"
    jobs.write_text(
        json.dumps(
            {"shots": [{"input": clip, "mask_track": track, "output": str(out), "workers": 2}]}
        )
    )
    run = _without_ray(["batch", str(jobs)], tmp_path)
    assert run.returncode == 2, run.stderr
    assert "--workers 2 runs on Ray, which is not installed" in run.stderr
    assert "Traceback" not in run.stderr and not out.exists()


def test_run_help_lists_every_codec_and_the_core_defaults():
    from moebius_video.io.codecs import CODECS, resolve_codec
    from moebius_video.temporal import TemporalOptions

    done = moebius_video("run", "--help")
    text = " ".join(done.stdout.split())  # argparse wraps lines
    for name in CODECS:
        assert f"{name} = " in text, name
    with pytest.raises(Exception, match="choose one of: " + ", ".join(CODECS)):
        resolve_codec("divx")  # the error lists the same codecs
    core = TemporalOptions()
    assert f"frames per temporal window ({core.window})" in text
    assert f"on each side of a window ({core.context})" in text
    assert f"never-seen pixels ({core.keyframe_interval})" in text
