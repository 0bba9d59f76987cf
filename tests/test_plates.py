"""Plates as a facility makes them: image sequences in and out, to and from movies.

Real PNG sequences (written with OpenCV, numbered from 1001 as plates are), run through
the real CLI (`moebius_video.cli.main`) and decoded back with PyAV. Each test checks the
frame numbers and metadata a compositor relies on (file names, frame count, rate,
timecode) and, for lossless outputs, that every pixel outside the mask is the input's.
"""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from pipeline_helpers import FRAMES, HEIGHT, WIDTH, background, wire_track

from moebius_video.cli import main
from moebius_video.io import open_video
from moebius_video.masks import load_mask_track

FIRST = 1001  # the first file number of every plate here


def write_plate(folder: Path, track: dict, first: int = FIRST) -> Path:
    """shot.1001.png ... : the scene with the wire painted dark where its mask is."""
    folder.mkdir(parents=True, exist_ok=True)
    mask = load_mask_track(track, WIDTH, HEIGHT, FRAMES)
    for index in range(FRAMES):
        alpha = mask.alpha(index)[..., None]
        rgb = (background(index) * (1 - alpha) + 20 * alpha).round().astype(np.uint8)
        cv2.imwrite(str(folder / f"shot.{first + index}.png"), rgb[:, :, ::-1])
    return folder


@pytest.fixture(scope="module")
def plate(tmp_path_factory):
    """(folder of shot.1001.png..., track file numbered 0.., the track's alpha per index)."""
    root = tmp_path_factory.mktemp("plates")
    track = wire_track()
    folder = write_plate(root / "plate", track)
    path = root / "wire.json"
    path.write_text(json.dumps(track))
    mask = load_mask_track(track, WIDTH, HEIGHT, FRAMES)
    return folder, path, [mask.alpha(i) for i in range(FRAMES)]


def run(*args: str) -> int:
    return main([*map(str, args), "--model", "opencv", "--temporal", "off"])


def read_png(path: Path) -> np.ndarray:
    return cv2.imread(str(path), cv2.IMREAD_UNCHANGED)[:, :, ::-1]


def assert_same_outside(got: np.ndarray, want: np.ndarray, alpha: np.ndarray, what: str) -> int:
    """Every pixel with alpha 0 is the input's; returns how many masked pixels changed."""
    differ = np.any(got != want, axis=2)
    outside = differ & (alpha == 0)
    assert not outside.any(), (
        f"{what}: {int(outside.sum())} pixels outside the mask differ, by up to "
        f"{int(np.abs(got.astype(int) - want).max())} levels"
    )
    return int(differ.sum())


def movie_facts(path: Path) -> dict:
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        tags = {k.lower(): v for k, v in video.metadata.items()}
        streams = sorted(s.type for s in container.streams if s.type != "data")
        rate = video.average_rate
    # Our own decode: it honours the matrix tags (BT.709 for RGB plates made YCbCr).
    with open_video(path) as video:
        frames = [frame.rgb for frame in video.frames()]
    return {
        "streams": streams,
        "rate": rate,
        "timecode": tags.get("timecode"),
        "frames": frames,
    }


@pytest.mark.parametrize("spelling", ["shot.%04d.png", "shot.####.png", "shot.@@@@.png", ""])
def test_a_sequence_or_folder_becomes_a_lossless_movie(tmp_path, plate, spelling):
    folder, track, alphas = plate
    output = tmp_path / "clean.mkv"
    assert run(folder / spelling, "--mask-track", track, "-o", output, "-c:v", "ffv1") == 0
    facts = movie_facts(output)
    assert facts["streams"] == ["video"]  # nothing to remux from a sequence: no audio
    assert facts["rate"] == 24  # the default rate of a sequence
    # Frame 1001 at 24 fps: 41 s and 17 frames.
    assert facts["timecode"] == "00:00:41:17"
    assert len(facts["frames"]) == FRAMES
    changed = 0
    for index, got in enumerate(facts["frames"]):
        want = read_png(folder / f"shot.{FIRST + index}.png")
        changed += assert_same_outside(got, want, alphas[index], f"frame {FIRST + index}")
    assert changed > 0, "nothing was filled"


def test_a_sequence_becomes_prores_at_the_rate_given_with_its_timecode(tmp_path, plate):
    folder, track, alphas = plate
    output = tmp_path / "clean.mov"
    code = run(
        folder / "shot.####.png", "--mask-track", track, "-o", output, "-c:v", "prores_ks"
    )  # fmt: skip
    assert code == 0
    code = run(
        folder / "shot.####.png", "--mask-track", track, "-o", output, "-c:v", "prores_ks",
        "--fps", "25", "-y",
    )  # fmt: skip
    assert code == 0
    facts = movie_facts(output)
    assert facts["streams"] == ["video"]
    assert facts["rate"] == 25
    assert facts["timecode"] == "00:00:40:01"  # 1001 = 40 s and 1 frame at 25 fps
    assert len(facts["frames"]) == FRAMES
    # ProRes is not lossless, but close: the plate is not shifted, scaled or re-timed.
    for index, got in enumerate(facts["frames"]):
        want = read_png(folder / f"shot.{FIRST + index}.png").astype(float)
        error = np.abs(got / 257.0 - want)[alphas[index] == 0]  # 10-bit decodes to 16

        assert error.mean() < 2, f"frame {FIRST + index}: mean error {error.mean():.2f}"


def test_ntsc_rates_and_frames_pick_the_timecode_of_the_first_frame_written(tmp_path, plate):
    folder, track, _ = plate
    output = tmp_path / "clean.mov"
    code = run(
        folder / "shot.%04d.png",
        "--mask-track",
        track,
        "-o",
        output,
        "-c:v",
        "prores_ks",
        "--fps",
        "23.976",
        "--frames",
        "1003-1008",
    )
    assert code == 0
    facts = movie_facts(output)
    assert facts["rate"] == Fraction(24000, 1001)
    assert len(facts["frames"]) == 6
    # 1003 counted at 24 frames a second (NTSC timecode counts the whole rate).
    assert facts["timecode"] == "00:00:41:19"
    with av.open(str(output)) as container:
        assert container.streams.video[0].codec_context.name == "prores"


def sequence_numbers(folder: Path, prefix: str) -> list[int]:
    return sorted(int(p.name[len(prefix) : -4]) for p in folder.iterdir())


def test_a_sequence_is_numbered_by_its_files(tmp_path, plate, capsys):
    folder, track, alphas = plate
    out = tmp_path / "out"
    code = run(folder / "shot.@@@@.png", "--mask-track", track, "-o", out / "o.####.png",
               "--frames", "1001-1003")  # fmt: skip
    assert code == 0
    assert sequence_numbers(out, "o.") == [1001, 1002, 1003]
    for number in (1001, 1002, 1003):
        got, want = read_png(out / f"o.{number}.png"), read_png(folder / f"shot.{number}.png")
        assert_same_outside(got, want, alphas[number - FIRST], f"frame {number}")
    # The track numbers its frames from 0: said once, with the option that changes it.
    err = capsys.readouterr().err
    assert err.count("frame_base is 0 but the first file") == 1, err
    assert "--frame-numbers track" in err


def test_frame_numbers_track_numbers_by_the_track(tmp_path, plate, capsys):
    folder, track, _ = plate
    out = tmp_path / "out"
    code = run(folder, "--mask-track", track, "-o", out / "o.%04d.png",
               "--frame-numbers", "track", "--frames", "0-2")  # fmt: skip
    assert code == 0
    assert sequence_numbers(out, "o.") == [0, 1, 2]
    # In file numbers these frames are outside the track's numbering.
    code = run(folder, "--mask-track", track, "-o", out / "p.%04d.png",
               "--frame-numbers", "track", "--frames", "1001-1003")  # fmt: skip
    assert code == 2
    assert "outside the clip, which has frames 0-11" in capsys.readouterr().err
    assert not list(out.glob("p.*"))


def test_a_track_numbered_like_the_files_says_nothing(tmp_path, plate, capsys):
    folder, _, alphas = plate
    track = tmp_path / "wire1001.json"
    track.write_text(json.dumps(wire_track(frame_base=FIRST)))
    out = tmp_path / "out"
    code = run(folder / "shot.%04d.png", "--mask-track", track, "-o", out / "o.%04d.png",
               "--frame-indices", "9-11")  # fmt: skip
    assert code == 0
    assert sequence_numbers(out, "o.") == [1010, 1011, 1012]
    assert "frame_base" not in capsys.readouterr().err
    got, want = read_png(out / "o.1010.png"), read_png(folder / "shot.1010.png")
    assert_same_outside(got, want, alphas[9], "frame 1010")


def test_a_movie_becomes_a_hash_pattern_sequence_numbered_by_the_track(tmp_path):
    from pipeline_helpers import make_clip

    track = wire_track(frame_base=FIRST)
    clip = make_clip(tmp_path / "plate.mp4", track=track)
    path = tmp_path / "wire.json"
    path.write_text(json.dumps(track))
    out = tmp_path / "out"
    assert run(clip, "--mask-track", path, "-o", out / "o.####.png", "--frames", "1002-1004") == 0
    assert sequence_numbers(out, "o.") == [1002, 1003, 1004]


def test_fps_errors_and_a_movie_ignores_fps(tmp_path, plate, capsys):
    folder, track, _ = plate
    out = tmp_path / "x.mkv"
    assert run(folder, "--mask-track", track, "-o", out, "-c:v", "ffv1", "--fps", "0") == 2
    assert "--fps: expected a frame rate above 0" in capsys.readouterr().err
    assert not out.exists()
    from pipeline_helpers import make_clip

    clip = make_clip(tmp_path / "plate.mp4", audio=False)
    assert run(clip, "--mask-track", track, "-o", out, "-c:v", "ffv1", "--fps", "30") == 0
    assert "--fps is for image sequences; a movie keeps its own rate (25)" in (
        capsys.readouterr().err
    )
    with av.open(str(out)) as container:
        assert container.streams.video[0].average_rate == 25


def write_interlaced(path: Path, field_order: int, track: dict) -> Path:
    """An interlaced H.264 clip coded as fields (field_order 2 = tt, 3 = bb)."""
    mask = load_mask_track(track, WIDTH, HEIGHT, FRAMES)
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=25)
        video.width, video.height, video.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        video.codec_context.field_order = field_order
        order = "tff=1" if field_order == 2 else "bff=1"
        video.codec_context.options = {"flags": "+ildct+ilme", "x264-params": order, "crf": "10"}
        for index in range(FRAMES):
            alpha = mask.alpha(index)[..., None]
            rgb = (background(index) * (1 - alpha) + 20 * alpha).round().astype(np.uint8)
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
            frame.pts = index
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
    return path


def field_order_of(path: Path) -> tuple[int, bool]:
    """(the stream's AVFieldOrder: 1 progressive, 2 tt, 3 bb; whether frames are coded
    interlaced)."""
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        first = next(container.decode(video=0))
        return video.codec_context.field_order, first.interlaced_frame


@pytest.mark.parametrize("order", [2, 3], ids=["tt", "bb"])
@pytest.mark.parametrize("codec, suffix", [("libx264", ".mp4"), ("prores_ks", ".mov"),
                                           ("ffv1", ".mkv")])  # fmt: skip
def test_interlaced_sources_keep_their_field_order(tmp_path, capsys, order, codec, suffix):
    track = wire_track()
    clip = write_interlaced(tmp_path / "interlaced.mp4", order, track)
    assert field_order_of(clip) == (order, True)
    path = tmp_path / "wire.json"
    path.write_text(json.dumps(track))
    output = tmp_path / f"clean{suffix}"
    assert run(clip, "--mask-track", path, "-o", output, "-c:v", codec) == 0
    stored, coded_as_fields = field_order_of(output)
    assert stored == order, f"{codec}: field order {stored}, the source's {order}"
    # libx264 and ProRes code the fields again; FFV1 keeps each frame's interlace flag.
    assert coded_as_fields
    err = capsys.readouterr().err
    assert err.count("filled per frame, not per field") == 1, err


@pytest.mark.parametrize("codec, suffix", [("libx264", ".mp4"), ("prores_ks", ".mov"),
                                           ("ffv1", ".mkv"), ("ffv1", ".mp4")])  # fmt: skip
def test_progressive_sources_and_sequences_stay_progressive(tmp_path, plate, capsys, codec,
                                                            suffix):  # fmt: skip
    from pipeline_helpers import make_clip

    folder, track, _ = plate
    clip = make_clip(tmp_path / "plate.mp4", audio=False)
    assert field_order_of(Path(clip))[0] == 1
    for source, name in ((clip, "movie"), (folder, "sequence")):
        output = tmp_path / f"{name}{suffix}"
        assert run(source, "--mask-track", track, "-o", output, "-c:v", codec) == 0
        assert field_order_of(output) == (1, False), f"{codec} from a {name}"
    assert "per field" not in capsys.readouterr().err


def test_h264_goes_into_mpeg_ts_and_prores_does_not(tmp_path, capsys):
    from pipeline_helpers import make_clip

    track = wire_track()
    clip = make_clip(tmp_path / "plate.mp4", track=track)
    path = tmp_path / "wire.json"
    path.write_text(json.dumps(track))
    output = tmp_path / "clean.ts"
    assert run(clip, "--mask-track", path, "-o", output, "-c:v", "libx264") == 0
    with av.open(str(output)) as container:
        assert [s.codec_context.name for s in container.streams] == ["h264", "aac"]
        assert sum(1 for _ in container.decode(video=0)) == FRAMES
    for codec, instead in (("prores_ks", ".mov or .mkv"), ("ffv1", ".mkv")):
        refused = tmp_path / f"{codec}.ts"
        assert run(clip, "--mask-track", path, "-o", refused, "-c:v", codec) == 2
        name = "prores" if codec == "prores_ks" else codec
        message = f"{name} cannot be stored in a .ts file; use {instead}"
        assert message in capsys.readouterr().err
        assert not refused.exists()
        assert not list(tmp_path.glob(".*tmp*"))


def test_a_hash_pattern_of_mask_pngs_is_a_mask_track(tmp_path, plate):
    folder, _, alphas = plate
    roto = tmp_path / "roto"
    roto.mkdir()
    for index, alpha in enumerate(alphas):
        cv2.imwrite(str(roto / f"roto.{FIRST + index}.png"), np.where(alpha > 0, 255, 0))
    output = tmp_path / "clean.mkv"
    code = run(folder / "shot.####.png", "--mask-track", roto / "roto.####.png", "-o", output,
               "-c:v", "ffv1")  # fmt: skip
    assert code == 0
    changed = 0
    for index, got in enumerate(movie_facts(output)["frames"]):
        want = read_png(folder / f"shot.{FIRST + index}.png")
        changed += assert_same_outside(got, want, alphas[index], f"frame {FIRST + index}")
    assert changed > 0


def test_duplicate_timestamps_are_re_timed_with_a_warning(tmp_path, capsys):
    track = wire_track()
    path = tmp_path / "wire.json"
    path.write_text(json.dumps(track))
    source = tmp_path / "dup.mkv"
    with av.open(str(source), "w") as out:
        video = out.add_stream("ffv1", rate=25)
        video.width, video.height, video.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        video.time_base = Fraction(1, 1000)
        for index in range(FRAMES):
            frame = av.VideoFrame.from_ndarray(background(index), format="rgb24")
            frame = frame.reformat(format="yuv420p")
            frame.pts, frame.time_base = index // 2 * 80, Fraction(1, 1000)  # pairs share one
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
    output = tmp_path / "clean.mkv"
    assert run(source, "--mask-track", path, "-o", output, "-c:v", "ffv1") == 0
    err = capsys.readouterr().err
    assert err.count("6 frames share their timestamp with another") == 1, err
    assert "re-timed to the stream's average rate (25 fps" in err
    with av.open(str(output)) as container:
        pts = [p.pts for p in container.demux(video=0) if p.size]
    assert pts == [40 * i for i in range(FRAMES)]  # every frame kept, evenly spaced


def test_pcm_layout_kept_in_mov_and_matroska_says_it_cannot(tmp_path, capsys):
    track = wire_track()
    path = tmp_path / "wire.json"
    path.write_text(json.dumps(track))
    source = tmp_path / "pcm.mov"
    with av.open(str(source), "w") as out:
        video = out.add_stream("prores_ks", rate=25)
        video.width, video.height, video.pix_fmt = WIDTH, HEIGHT, "yuv422p10le"
        sound = out.add_stream("pcm_s16le", rate=48000)
        sound.layout = "5.1"
        for index in range(FRAMES):
            frame = av.VideoFrame.from_ndarray(background(index), format="rgb24")
            frame = frame.reformat(format="yuv422p10le")
            frame.pts = index
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        for index in range(FRAMES):
            samples = np.zeros((1, 1920 * 6), np.int16)
            chunk = av.AudioFrame.from_ndarray(samples, format="s16", layout="5.1")
            chunk.sample_rate, chunk.pts = 48000, index * 1920
            out.mux(sound.encode(chunk))
        out.mux(sound.encode(None))
    for suffix, layout in ((".mov", "5.1"), (".mkv", "6 channels")):
        output = tmp_path / f"clean{suffix}"
        assert run(source, "--mask-track", path, "-o", output, "-c:v", "prores_ks") == 0
        with av.open(str(output)) as container:
            assert container.streams.audio[0].layout.name == layout
    err = capsys.readouterr().err
    assert err.count("Matroska stores PCM audio without its channel layout") == 1, err


def write_rotated(path: Path, rotation: int, mask=None) -> Path:
    """A phone-style clip: frames stored WIDTH x HEIGHT with a display rotation
    (counter-clockwise, as FFmpeg's display matrix says); the mask's pixels painted dark."""
    with av.open(str(path), "w") as out:
        video = out.add_stream("ffv1", rate=25)
        video.width, video.height, video.pix_fmt = WIDTH, HEIGHT, "yuv444p"
        video.set_display_rotation(rotation)
        for index in range(FRAMES):
            rgb = background(index)
            if mask is not None:
                rgb = np.where(mask(index)[..., None] > 0, 20, rgb).astype(np.uint8)
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv444p")
            frame.pts = index
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
    return path


def test_a_rotated_clip_needs_its_masks_in_the_stored_orientation(tmp_path, capsys):
    stored = wire_track()  # 96x64, the stored frames
    clip = write_rotated(tmp_path / "phone.mkv", 90)  # shown 64x96, a phone held upright
    display = dict(stored, width=HEIGHT, height=WIDTH)
    halved = dict(stored, width=HEIGHT // 2, height=WIDTH // 2, scale_to_video=True)
    for name, track in (("display", display), ("halved", halved)):
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(track))
        output = tmp_path / f"{name}.mkv"
        assert run(clip, "--mask-track", path, "-o", output, "-c:v", "ffv1") == 3
        err = capsys.readouterr().err
        assert f"the clip is stored {WIDTH}x{HEIGHT} and rotated 90 degrees" in err, err
        assert f'(width {WIDTH}, height {HEIGHT}), or set "orientation": "display"' in err
        assert "scale_to_video" not in err  # it would stretch the mask, not turn it
        assert not output.exists()
    path = tmp_path / "stored.json"
    path.write_text(json.dumps(stored))
    output = tmp_path / "stored.mkv"
    assert run(clip, "--mask-track", path, "-o", output, "-c:v", "ffv1") == 0
    with av.open(str(output)) as container:
        assert container.streams.video[0].codec_context.width == WIDTH


def test_shot_cuts_are_given_in_the_files_numbers(tmp_path, plate, capsys):
    folder, track, _ = plate
    out = tmp_path / "out"
    common = ["--model", "opencv", "--shot-pull", "off", "--window", "8", "--context", "2"]
    code = main([str(folder), "--mask-track", str(track), "-o", str(out / "o.%04d.png"),
                 "--shot-cuts", "5", *common])  # fmt: skip
    assert code == 2
    assert "--shot-cuts: frame 5 is outside the clip's frames 1001-1012" in capsys.readouterr().err
    code = main([str(folder), "--mask-track", str(track), "-o", str(out / "o.%04d.png"),
                 "--shot-cuts", "1006", *common])  # fmt: skip
    assert code == 0
    assert sequence_numbers(out, "o.") == list(range(FIRST, FIRST + FRAMES))


def display_track(width: int, height: int) -> dict:
    """A polygon drawn on the displayed picture (width x height), off-centre so that every
    turn puts it somewhere else."""
    track = wire_track()
    track.update(width=width, height=height, orientation="display")
    track["tracks"] = [
        {
            "id": "corner",
            "shape": "polygon",
            "keyframes": [
                {"frame": 0, "points": [[3, 5], [20, 5], [20, 11], [3, 30]]},
                {"frame": FRAMES - 1, "points": [[5, 5], [22, 5], [22, 11], [5, 30]]},
            ],
        }
    ]
    return track


@pytest.mark.parametrize("rotation", [90, 180, 270])
def test_orientation_display_turns_the_masks_onto_the_stored_frames(rotation):
    shown = (HEIGHT, WIDTH) if rotation % 180 else (WIDTH, HEIGHT)
    track = display_track(*shown)
    drawn = load_mask_track({**track, "orientation": "stored"}, *shown, FRAMES).alpha(0)
    turned = load_mask_track(track, WIDTH, HEIGHT, FRAMES, rotation=rotation)
    # The displayed picture is the stored frame turned counter-clockwise by the rotation
    # (np.rot90 turns counter-clockwise), so the stored mask is the drawn one turned back.
    want = np.rot90(drawn, -rotation // 90)
    assert np.array_equal(turned.alpha(0), want)
    x0, y0, x1, y1 = turned.box(0)
    ys, xs = np.nonzero(want)
    assert x0 <= xs.min() and xs.max() < x1 and y0 <= ys.min() and ys.max() < y1
    assert (x1 - x0, y1 - y0) < (WIDTH, HEIGHT)  # a box around the mask, not the frame


def test_orientation_display_cleans_a_rotated_clip(tmp_path):
    track = display_track(HEIGHT, WIDTH)
    stored = load_mask_track(track, WIDTH, HEIGHT, FRAMES, rotation=270)
    clip = write_rotated(tmp_path / "phone.mkv", 270, mask=stored.alpha)
    path = tmp_path / "display.json"
    path.write_text(json.dumps(track))
    output = tmp_path / "clean.mkv"
    assert run(clip, "--mask-track", path, "-o", output, "-c:v", "ffv1") == 0
    with open_video(clip) as before, open_video(output) as after:
        assert after.info.rotation == 270  # the tag is kept, the pixels are not turned
        for a, b in zip(before.frames(), after.frames(), strict=True):
            changed = assert_same_outside(b.rgb, a.rgb, stored.alpha(a.index), "frame")
            assert changed > 0, f"frame {a.index}: the painted corner was not filled"
