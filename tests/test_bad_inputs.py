"""Bad input, the way users get it wrong: one clear line, the documented exit code,
no traceback, no output (nor temporary file) left behind, and the input untouched.

Each case builds its own broken input in a fresh folder and runs `moebius-video`
through `cli.main`, exactly as the console script does. One case at the end runs a
real subprocess too, to show the console behaviour is the same.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import pytest
from pipeline_helpers import HEIGHT, WIDTH, make_clip, wire_track

from moebius_video import cli
from moebius_video.errors import EXIT_BAD_INPUT, EXIT_USAGE

REPO = Path(__file__).resolve().parents[1]


@dataclass
class Case:
    """A folder with inputs; `argv` for the run; what the one error line must contain."""

    argv: list[str]
    exit_code: int
    says: tuple[str, ...]


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    """A valid clip and track, copied into each case's folder."""
    folder = tmp_path_factory.mktemp("good")
    track = wire_track()
    (folder / "wire.json").write_text(json.dumps(track))
    make_clip(folder / "clip.mp4", audio=False, track=track)
    return folder


def case_folder(tmp_path: Path, good: Path) -> tuple[Path, Path, Path]:
    inputs = tmp_path / "in"
    inputs.mkdir()
    for name in ("clip.mp4", "wire.json"):
        (inputs / name).write_bytes((good / name).read_bytes())
    out = tmp_path / "out"
    out.mkdir()
    return inputs / "clip.mp4", inputs / "wire.json", out


def track_with(**changes) -> dict:
    track = wire_track()
    for path, value in changes.items():
        *keys, last = path.split("__")
        node = track
        for key in keys:
            node = node[int(key)] if key.isdigit() else node[key]
        node[int(last) if last.isdigit() else last] = value
    return track


def write_track(folder: Path, track: dict | str) -> Path:
    path = folder / "bad.json"
    path.write_text(track if isinstance(track, str) else json.dumps(track))
    return path


# Each builder gets (clip, track, out folder) and returns a Case. The clip and track
# are valid unless the builder breaks them.


def missing_input(clip, track, out):
    return Case(
        [str(clip.with_name("nope.mp4")), "--mask-track", str(track), "-o", str(out / "o.mp4")],
        EXIT_BAD_INPUT,
        ("nope.mp4", "no such file"),
    )


def not_a_video(clip, track, out):
    clip.write_text("hello, I am a text file\n")
    return Case(
        [str(clip), "--mask-track", str(track), "-o", str(out / "o.mp4")],
        EXIT_BAD_INPUT,
        ("clip.mp4",),
    )


def truncated_video(clip, track, out):
    # Without faststart the index (moov) sits at the end: half a file has no index.
    data = clip.read_bytes()
    clip.write_bytes(data[: len(data) // 2])
    return Case(
        [str(clip), "--mask-track", str(track), "-o", str(out / "o.mp4")],
        EXIT_BAD_INPUT,
        ("clip.mp4",),
    )


def truncated_after_the_index(clip, track, out):
    # faststart puts the index first; the frame data is cut off: frames go missing late,
    # while the output is already being written.
    with (
        av.open(str(clip)) as src,
        av.open(str(clip.with_name("fast.mp4")), "w", options={"movflags": "+faststart"}) as dst,
    ):
        stream = dst.add_stream_from_template(src.streams.video[0])
        for packet in src.demux(src.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                dst.mux(packet)
    data = clip.with_name("fast.mp4").read_bytes()
    clip.write_bytes(data[: int(len(data) * 0.7)])
    return Case(
        [str(clip), "--mask-track", str(track), "-o", str(out / "o.mp4")],
        EXIT_BAD_INPUT,
        ("clip.mp4",),
    )


def zero_frames(clip, track, out):
    # AVI keeps a video stream that holds no frame (MP4 would drop the empty track).
    empty = clip.with_name("empty.avi")
    with av.open(str(empty), "w") as container:
        stream = container.add_stream("mpeg4", rate=25)
        stream.width, stream.height, stream.pix_fmt = 96, 64, "yuv420p"
        container.start_encoding()
    return Case(
        [str(empty), "--mask-track", str(track), "-o", str(out / "o.mp4")],
        EXIT_BAD_INPUT,
        ("empty.avi", "no frames"),
    )


def odd_sized_video(clip, track, out):
    # FFV1 stores a 95x63 yuv420p frame; libx264 cannot encode that size in 4:2:0.
    odd = clip.with_name("odd.mkv")
    with av.open(str(odd), "w") as dst:
        stream = dst.add_stream("ffv1", rate=25)
        stream.width, stream.height, stream.pix_fmt = 95, 63, "yuv420p"
        for i in range(3):
            frame = av.VideoFrame.from_ndarray(np.full((63, 95, 3), 60 * i, np.uint8), "rgb24")
            frame.pts = i
            dst.mux(stream.encode(frame.reformat(format="yuv420p")))
        dst.mux(stream.encode(None))
    track_path = write_track(track.parent, {**wire_track(), "width": 95, "height": 63})
    return Case(
        [str(odd), "--mask-track", str(track_path), "-o", str(out / "o.mp4")],
        EXIT_BAD_INPUT,
        ("95x63", "even width and height"),
    )


def mask_json_syntax_error(clip, track, out):
    text = json.dumps(wire_track(), indent=1).replace('"width": 96,', '"width": 96', 1)
    return Case(
        [str(clip), "--mask-track", str(write_track(track.parent, text)), "-o", str(out / "o.mp4")],
        EXIT_BAD_INPUT,
        ("bad.json", "line"),
    )


def wrong_schema(clip, track, out):
    bad = write_track(track.parent, track_with(schema="moebius.masktrack/9"))
    return Case(
        [str(clip), "--mask-track", str(bad), "-o", str(out / "o.mp4")],
        EXIT_BAD_INPUT,
        ("bad.json", "schema", "moebius.masktrack/9"),
    )


def unknown_shape(clip, track, out):
    bad = write_track(track.parent, track_with(tracks__0__shape="spline"))
    return Case(
        [str(clip), "--mask-track", str(bad), "-o", str(out / "o.mp4")],
        EXIT_BAD_INPUT,
        ("bad.json", "tracks[0].shape", "spline"),
    )


def too_few_points(clip, track, out):
    bad = write_track(track.parent, track_with(tracks__0__keyframes__1__points=[[3, 4]]))
    return Case(
        [str(clip), "--mask-track", str(bad), "-o", str(out / "o.mp4")],
        EXIT_BAD_INPUT,
        ("bad.json", "tracks[0].keyframes[1].points", "at least 2"),
    )


def mismatched_point_counts(clip, track, out):
    points = [[50, 0], [56, 30], [58, 50], [60, 64]]
    bad = write_track(track.parent, track_with(tracks__0__keyframes__1__points=points))
    return Case(
        [str(clip), "--mask-track", str(bad), "-o", str(out / "o.mp4")],
        EXIT_BAD_INPUT,
        ("bad.json", "tracks[0].keyframes[1].points"),
    )


def canvas_size_mismatch(clip, track, out):
    bad = write_track(track.parent, track_with(width=1920, height=1080))
    return Case(
        [str(clip), "--mask-track", str(bad), "-o", str(out / "o.mp4")],
        EXIT_BAD_INPUT,
        ("bad.json", "1920x1080", "96x64"),
    )


def unreadable_raster_path(clip, track, out):
    raster = {
        "schema": "moebius.masktrack/1",
        "width": 96,
        "height": 64,
        "tracks": [
            {"id": "roto", "shape": "raster", "source": {"format": "png", "path": "roto/%04d.png"}}
        ],
    }
    bad = write_track(track.parent, raster)
    return Case(
        [str(clip), "--mask-track", str(bad), "-o", str(out / "o.mp4")],
        EXIT_BAD_INPUT,
        ("bad.json", "tracks[0].source", "roto"),
    )


def mask_track_missing(clip, track, out):
    return Case(
        [str(clip), "--mask-track", str(track.with_name("gone.json")), "-o", str(out / "o.mp4")],
        EXIT_BAD_INPUT,
        ("gone.json",),
    )


def frames_outside_the_clip(clip, track, out):
    return Case(
        [str(clip), "--mask-track", str(track), "-o", str(out / "o.mp4"), "--frames", "5-40"],
        EXIT_USAGE,
        ("--frames 5-40", "outside the clip", "0-11"),
    )


def frames_bad_syntax(clip, track, out):
    return Case(
        [str(clip), "--mask-track", str(track), "-o", str(out / "o.mp4"), "--frames", "5..9"],
        EXIT_USAGE,
        ("--frames", "FIRST-LAST", "5..9"),
    )


def output_is_a_directory(clip, track, out):
    return Case(
        [str(clip), "--mask-track", str(track), "-o", str(out)],
        EXIT_USAGE,
        (str(out), "directory"),
    )


def output_exists_without_y(clip, track, out):
    (out / "o.mp4").write_bytes(b"yesterday's render")
    return Case(
        [str(clip), "--mask-track", str(track), "-o", str(out / "o.mp4")],
        EXIT_USAGE,
        ("o.mp4", "already exists", "-y"),
    )


def output_is_the_input(clip, track, out):
    return Case(
        [str(clip), "--mask-track", str(track), "-o", str(clip), "-y"],
        EXIT_USAGE,
        ("clip.mp4", "is the input"),
    )


def raster_track_beside(clip: Path, source: dict) -> Path:
    """A mask-track file next to the clip whose one raster track reads `source`."""
    track = {
        "schema": "moebius.masktrack/1",
        "width": WIDTH,
        "height": HEIGHT,
        "tracks": [{"id": "matte", "shape": "raster", "source": source}],
    }
    path = clip.parent / "matte.json"
    path.write_text(json.dumps(track))
    return path


def matte_beside(clip: Path) -> Path:
    """A matte video next to the clip, one frame per clip frame."""
    path = clip.parent / "matte.mkv"
    frame = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    frame[10:20, 10:30] = 255
    with av.open(str(clip)) as source:
        count = source.streams.video[0].frames
    with av.open(str(path), "w") as out:
        stream = out.add_stream("ffv1", rate=25)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv444p"
        for _ in range(count):
            out.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        out.mux(stream.encode())
    return path


def output_is_the_mask_track(clip, track, out):
    return Case(
        [str(clip), "--mask-track", str(track), "-o", str(track), "-y"],
        EXIT_USAGE,
        ("wire.json", "would write over", "a file this run reads"),
    )


def output_is_the_tracks_matte(clip, track, out):
    matte = matte_beside(clip)
    track = raster_track_beside(clip, {"format": "video", "path": matte.name})
    return Case(
        [str(clip), "--mask-track", str(track), "-o", str(matte), "-y"],
        EXIT_USAGE,
        ("matte.mkv", "would write over", "a file this run reads"),
    )


def output_sequence_over_the_tracks_pngs(clip, track, out):
    folder = clip.parent / "roto"
    folder.mkdir()
    with av.open(str(clip)) as source:
        count = source.streams.video[0].frames
    for number in range(count):
        mask = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
        av.VideoFrame.from_ndarray(mask, format="rgb24").to_image().save(
            folder / f"m.{number:04d}.png"
        )
    track = raster_track_beside(clip, {"format": "png", "path": "roto/m.%04d.png"})
    # The same files under another spelling of the pattern.
    return Case(
        [str(clip), "--mask-track", str(track), "-o", str(folder / "m.####.png"), "-y"],
        EXIT_USAGE,
        ("m.####.png", "would write over", "m.0000.png"),
    )


def output_sequence_over_a_folder_input(clip, track, out):
    folder = clip.parent / "plate"
    folder.mkdir()
    with av.open(str(clip)) as source:
        for number, frame in enumerate(source.decode(video=0), 1001):
            frame.to_image().save(folder / f"plate.{number}.png")
    return Case(
        [str(folder), "--mask-track", str(track), "-o", str(folder / "plate.%04d.png"), "-y"],
        EXIT_USAGE,
        ("plate.%04d.png", "would write over", "plate.1001.png"),
    )


def save_debug_over_the_tracks_matte(clip, track, out):
    matte = matte_beside(clip)
    track = raster_track_beside(clip, {"format": "video", "path": matte.name})
    argv = [str(clip), "--mask-track", str(track), "-o", str(out / "o.mp4")]
    return Case(
        [*argv, "--save-debug", str(matte), "-y"],
        EXIT_USAGE,
        ("--save-debug", "matte.mkv", "a file this run reads"),
    )


def output_folder_missing(clip, track, out):
    return Case(
        [str(clip), "--mask-track", str(track), "-o", str(out / "renders" / "o.mp4")],
        EXIT_USAGE,
        ("renders", "does not exist"),
    )


def unknown_codec(clip, track, out):
    return Case(
        [str(clip), "--mask-track", str(track), "-o", str(out / "o.mp4"), "-c:v", "divx5"],
        EXIT_USAGE,
        ("-c:v", "divx5", "libx264"),
    )


def png_codec_with_a_movie_name(clip, track, out):
    return Case(
        [str(clip), "--mask-track", str(track), "-o", str(out / "o.mp4"), "-c:v", "png"],
        EXIT_USAGE,
        ("o.mp4", "png writes an image sequence"),
    )


def crf_out_of_range(clip, track, out):
    return Case(
        [str(clip), "--mask-track", str(track), "-o", str(out / "o.mp4"), "--crf", "70"],
        EXIT_USAGE,
        ("--crf", "0..51", "70"),
    )


def unknown_option(clip, track, out):
    return Case(
        [str(clip), "--mask-track", str(track), "-o", str(out / "o.mp4"), "--strength", "2"],
        EXIT_USAGE,
        ("unrecognized arguments", "--strength"),
    )


def missing_mask_track_option(clip, track, out):
    return Case(
        [str(clip), "-o", str(out / "o.mp4")],
        EXIT_USAGE,
        ("--mask-track", "required"),
    )


def damage_a_middle_frame(clip: Path) -> int:
    """Flip bytes inside the packet of the clip's middle frame (in decode order), as a
    bad sector would; returns how many frames the clip has."""
    with av.open(str(clip)) as container:
        packets = [(p.pos, p.size) for p in container.demux(video=0) if p.size]
    position, size = packets[len(packets) // 2]
    data = bytearray(clip.read_bytes())
    for k in range(position + size // 4, position + size // 4 + 32):
        data[k] ^= 0xFF
    clip.write_bytes(bytes(data))
    return len(packets)


def damaged_in_the_middle(clip, track, out):
    damage_a_middle_frame(clip)
    return Case(
        [str(clip), "--mask-track", str(track), "-o", str(out / "o.mp4")],
        EXIT_BAD_INPUT,
        ("clip.mp4", "damaged", "--allow-damaged"),
    )


CASES: list[Callable] = [
    missing_input,
    not_a_video,
    truncated_video,
    truncated_after_the_index,
    damaged_in_the_middle,
    zero_frames,
    odd_sized_video,
    mask_json_syntax_error,
    wrong_schema,
    unknown_shape,
    too_few_points,
    mismatched_point_counts,
    canvas_size_mismatch,
    unreadable_raster_path,
    mask_track_missing,
    frames_outside_the_clip,
    frames_bad_syntax,
    output_is_a_directory,
    output_exists_without_y,
    output_is_the_input,
    output_is_the_mask_track,
    output_is_the_tracks_matte,
    output_sequence_over_the_tracks_pngs,
    output_sequence_over_a_folder_input,
    save_debug_over_the_tracks_matte,
    output_folder_missing,
    unknown_codec,
    png_codec_with_a_movie_name,
    crf_out_of_range,
    unknown_option,
    missing_mask_track_option,
]


def tree_digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.mark.parametrize("build", CASES, ids=[c.__name__ for c in CASES])
def test_bad_input_gives_one_clear_line_and_no_output(build, good, tmp_path, capfd):
    clip, track, out = case_folder(tmp_path, good)
    case = build(clip, track, out)
    inputs_before = tree_digest(clip.parent)
    out_before = tree_digest(out)

    code = cli.main(case.argv + ["--model", "opencv"])
    captured = capfd.readouterr()

    assert code == case.exit_code, (
        f"exit code: expected {case.exit_code}, got {code}\n{captured.err}"
    )
    assert "Traceback" not in captured.err, captured.err
    lines = [line for line in captured.err.splitlines() if line.startswith("moebius-video: error")]
    assert len(lines) == 1, f"expected one error line, got:\n{captured.err}"
    for fragment in case.says:
        assert fragment in lines[0], f"expected {fragment!r} in the message: {lines[0]!r}"
    assert tree_digest(out) == out_before, "the output folder changed (partial or temp file)"
    assert tree_digest(clip.parent) == inputs_before, "an input was modified"


def test_documented_codes_hold_in_a_real_process(good, tmp_path):
    clip, track, out = case_folder(tmp_path, good)
    case = canvas_size_mismatch(clip, track, out)
    done = subprocess.run(
        [sys.executable, "-m", "moebius_video.cli", *case.argv, "--model", "opencv"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=60,
    )
    assert done.returncode == EXIT_BAD_INPUT, done.stderr
    assert done.stderr.startswith("moebius-video: error: "), done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr
    assert list(out.iterdir()) == []


def test_allow_damaged_writes_every_frame_and_names_the_damaged_ones(good, tmp_path, capfd):
    clip, track, out = case_folder(tmp_path, good)
    count = damage_a_middle_frame(clip)
    output = out / "o.mp4"
    argv = [str(clip), "--mask-track", str(track), "-o", str(output), "--model", "opencv"]
    code = cli.main(argv + ["--allow-damaged", "--progress", "plain"])
    captured = capfd.readouterr()
    assert code == 0, captured.err
    assert "Traceback" not in captured.err, captured.err
    with av.open(str(output)) as container:
        assert sum(1 for _ in container.decode(video=0)) == count
    summary = [line for line in (captured.out + captured.err).splitlines() if "wrote" in line]
    assert len(summary) == 1 and "damaged frames: " in summary[0], captured.err
    damaged = summary[0].split("damaged frames: ")[1]
    first = int(damaged.split("-")[0].split(",")[0])
    assert count // 2 - 3 <= first <= count // 2 + 3, summary[0]
    warned = [line for line in captured.err.splitlines() if "(--allow-damaged)" in line]
    assert warned, captured.err


def test_a_full_disk_is_a_retryable_error_naming_the_file(capfd):
    import errno

    from moebius_video.commands.guard import guarded
    from moebius_video.errors import EXIT_RETRYABLE

    def body() -> int:
        raise OSError(errno.ENOSPC, "No space left on device", "out/x.0012.png")

    assert guarded(body) == EXIT_RETRYABLE
    err = capfd.readouterr().err
    assert "Traceback" not in err and err.count("\n") == 1, err
    assert err.startswith("moebius-video: error: out/x.0012.png: No space left on device"), err


def test_a_full_disk_in_a_real_run_leaves_no_partial_file(good, tmp_path):
    # A one-page (4 KiB) file system: the movie's temporary file fills it.
    clip, track, out = case_folder(tmp_path, good)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4k", "tmpfs", str(out)])
    if mounted.returncode:
        pytest.skip("cannot mount a small tmpfs here")
    try:
        done = subprocess.run(
            [sys.executable, "-m", "moebius_video.cli", str(clip), "--mask-track", str(track),
             "-o", str(out / "o.mp4"), "--model", "opencv", "--crf", "0"],
            capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)},
            timeout=120,
        )  # fmt: skip
        assert done.returncode == 75, done.stderr
        assert "Traceback" not in done.stderr and "No space left" in done.stderr, done.stderr
        assert list(out.iterdir()) == []
    finally:
        subprocess.run(["umount", str(out)])
