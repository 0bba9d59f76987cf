"""Image sequences in (PNG 8/16 bit, EXR) and image sequences out (one file per frame)."""

from __future__ import annotations

import os
from fractions import Fraction

import av
import cv2
import numpy as np
import pytest
from iotest_helpers import picture

from moebius_video.errors import MediaError, UsageError
from moebius_video.io import FrameFileWriter, VideoWriter, composite, open_video
from moebius_video.io.exr import encode_view
from moebius_video.patches import FramePatch


def write_pngs(folder, names, deep=False, size=(40, 30)):
    """PNG files with known RGB content; returns the RGB arrays in name order."""
    folder.mkdir(exist_ok=True)
    images = []
    for index, name in enumerate(names):
        rgb = picture(index, *size, deep=deep)
        cv2.imwrite(str(folder / name), rgb[:, :, ::-1])  # OpenCV writes BGR
        images.append(rgb)
    return images


def test_printf_pattern_starts_at_the_first_number_on_disk(tmp_path):
    images = write_pngs(tmp_path / "plates", [f"shot.{n:04d}.png" for n in range(1001, 1006)])
    (tmp_path / "plates" / "shot.notes.txt").write_text("not a frame")
    with open_video(tmp_path / "plates" / "shot.%04d.png") as video:
        info = video.info
        frames = list(video.frames())
        middle = list(video.frames(2, 4))
    assert (info.frame_count, info.start_number, info.width, info.height) == (5, 1001, 40, 30)
    assert (info.time_base, info.average_rate, info.bit_depth) == (Fraction(1, 24), 24, 8)
    assert info.stream_index is None and info.is_image_sequence
    assert [f.pts for f in frames] == [0, 1, 2, 3, 4]
    for frame, expected in zip(frames, images, strict=True):
        assert frame.source is None
        assert np.array_equal(frame.rgb, expected), f"frame {frame.index}: RGB differs (BGR swap?)"
    assert [f.index for f in middle] == [2, 3]


def test_hash_pattern_and_fps_option(tmp_path):
    write_pngs(tmp_path, [f"plate_{n:03d}.png" for n in range(7, 10)])
    with open_video(tmp_path / "plate_###.png", fps=25) as video:
        assert (video.info.frame_count, video.info.start_number) == (3, 7)
        assert video.info.time_base == Fraction(1, 25)


def test_folder_of_sixteen_bit_pngs_in_natural_order(tmp_path):
    names = ["frame1.png", "frame2.png", "frame10.png"]
    images = write_pngs(tmp_path / "deep", names, deep=True)
    with open_video(tmp_path / "deep") as video:
        assert (video.info.bit_depth, video.info.pix_fmt) == (16, "rgb48le")
        frames = list(video.frames())
    assert [f.rgb.dtype for f in frames] == [np.uint16] * 3
    for frame, expected in zip(frames, images, strict=True):  # frame10 comes last
        assert np.array_equal(frame.rgb, expected)


def test_exr_written_by_ffmpeg_is_read_exactly_with_its_working_image(tmp_path):
    # Written with FFmpeg's EXR encoder (what a movie -> .exr run writes), read by io.exr.
    pytest.importorskip("OpenEXR")
    values = np.linspace(-0.5, 4, 8 * 6 * 3, dtype=np.float32).reshape(6, 8, 3)
    with av.open(str(tmp_path / "lin.%04d.exr"), "w", format="image2") as container:
        stream = container.add_stream("exr", rate=24)
        stream.width, stream.height, stream.pix_fmt = 8, 6, "gbrpf32le"
        frame = av.VideoFrame.from_ndarray(values, format="gbrpf32le", channel_last=True)
        frame.pts = 0
        container.mux(stream.encode(frame))
        container.mux(stream.encode())
    with open_video(tmp_path / "lin.%04d.exr") as video:
        frame = next(video.frames())
        assert video.info.color.transfer == "linear"
    assert np.array_equal(frame.plate.linear_rgb(), values)  # unclipped, bit for bit
    assert frame.rgb.dtype == np.uint16
    assert np.array_equal(frame.rgb, encode_view(values))  # what the fill works on


def test_gap_in_a_sequence(tmp_path):
    write_pngs(tmp_path, ["s.0001.png", "s.0002.png", "s.0004.png"])
    with pytest.raises(MediaError, match=r"1 frame\(s\) missing between 1 and 4, .*s.0003.png"):
        open_video(tmp_path / "s.%04d.png")


def test_empty_pattern_and_folder(tmp_path):
    with pytest.raises(MediaError, match="no files match the pattern"):
        open_video(tmp_path / "s.%04d.png")
    (tmp_path / "empty").mkdir()
    with pytest.raises(MediaError, match="folder holds no .png or .exr images"):
        open_video(tmp_path / "empty")


def test_unreadable_and_mismatched_images(tmp_path):
    write_pngs(tmp_path, ["s.0001.png", "s.0002.png"])
    (tmp_path / "s.0003.png").write_text("not a png")
    with open_video(tmp_path / "s.%04d.png") as video:
        with pytest.raises(MediaError, match="s.0003.png: not a readable image"):
            list(video.frames())
    write_pngs(tmp_path, ["s.0003.png"], size=(20, 30))
    with open_video(tmp_path / "s.%04d.png") as video:
        with pytest.raises(MediaError, match="s.0003.png: 20x30 uint8 differs from the first"):
            list(video.frames())


# -- image sequence output: the one per-frame writer ---------------------------------------------


def test_sequence_in_and_out_keeps_unmasked_pixels(tmp_path):
    images = write_pngs(tmp_path / "in", [f"p.{n:04d}.png" for n in range(1, 5)])
    alpha = np.zeros((10, 10), np.float32)
    alpha[2:8, 2:8] = 1
    with open_video(tmp_path / "in" / "p.%04d.png") as video:
        out = FrameFileWriter(tmp_path / "out" / "c.%04d.png", 1, (0, 4))
        with out:
            for frame in video.frames():
                fill = np.full((10, 10, 3), 255, np.uint8)
                out.write(frame, [FramePatch(frame.index, 5, 5, fill, alpha)])
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == ["c.0001.png", "c.0002.png", "c.0003.png", "c.0004.png"]
    for name, expected in zip(names, images, strict=True):
        got = cv2.imread(str(tmp_path / "out" / name))[:, :, ::-1]
        assert np.all(got[7:13, 7:13] == 255)
        got[7:13, 7:13] = expected[7:13, 7:13]
        assert np.array_equal(got, expected), f"{name}: pixels outside the patch changed"


def test_ten_bit_movie_to_sixteen_bit_pngs(clip, tmp_path):
    source = clip("deep.mkv", frames=3, codec="ffv1", pix_fmt="yuv422p10le")
    output = tmp_path / "frames" / "frame.%06d.png"
    with open_video(source) as video, FrameFileWriter(output, 0, (0, 3)) as writer:
        decoded = []
        for frame in video.frames():
            decoded.append(frame.rgb)
            writer.write(frame, [])
    names = sorted(p.name for p in output.parent.iterdir())
    assert names == ["frame.000000.png", "frame.000001.png", "frame.000002.png"]
    for name, expected in zip(names, decoded, strict=True):
        got = cv2.imread(str(output.parent / name), cv2.IMREAD_UNCHANGED)[:, :, ::-1]
        assert got.dtype == np.uint16
        assert np.array_equal(got, expected), f"{name} differs from the decoded RGB"


def test_movie_frame_range_to_png_numbers_by_clip_frame(clip, tmp_path):
    source = clip("src.mp4", frames=10)
    with open_video(source) as video:
        with FrameFileWriter(tmp_path / "o.####.png", 1001, (4, 7)) as writer:
            for frame in video.frames(4, 7):
                writer.write(frame, [])
    assert sorted(p.name for p in tmp_path.glob("o.*.png")) == [
        "o.1005.png",
        "o.1006.png",
        "o.1007.png",
    ]


def test_png_sequence_to_movie(tmp_path):
    write_pngs(tmp_path / "in", [f"p.{n:04d}.png" for n in range(1, 7)], size=(48, 32))
    with open_video(tmp_path / "in" / "p.%04d.png", fps=25) as video:
        with VideoWriter(tmp_path / "out.mp4", video.info) as writer:
            for frame in video.frames():
                writer.write(composite(frame, []))
    with open_video(tmp_path / "out.mp4") as result:
        info = result.info
        assert (info.frame_count, info.average_rate, info.pix_fmt) == (6, 25, "yuv444p")
        assert (info.color.matrix, info.color.range) == ("bt709", "tv")


def test_existing_frames_need_overwrite_or_skip_and_a_failure_leaves_whole_files(tmp_path):
    write_pngs(tmp_path / "in", ["p.0001.png", "p.0002.png"])
    write_pngs(tmp_path / "out", ["c.0001.png"])
    before = (tmp_path / "out" / "c.0001.png").read_bytes()
    pattern = tmp_path / "out" / "c.%04d.png"
    with pytest.raises(UsageError, match=r"c.0001.png already exists .*--skip-existing"):
        FrameFileWriter(pattern, 1, (0, 2))
    kept = FrameFileWriter(pattern, 1, (0, 2), skip_existing=True)
    assert (kept.todo, kept.skipped) == ([1], 1)
    with open_video(tmp_path / "in" / "p.%04d.png") as video:
        with pytest.raises(RuntimeError, match="boom"):
            with FrameFileWriter(pattern, 1, (0, 2), skip_existing=True) as writer:
                for frame in video.frames(1, 2):
                    writer.write(frame, [])
                    raise RuntimeError("boom")
    # Each file is renamed into place whole; no temporary file is left behind.
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["c.0001.png", "c.0002.png"]
    assert (tmp_path / "out" / "c.0001.png").read_bytes() == before


def test_a_dead_writers_temporary_file_is_cleared(tmp_path):
    stale = tmp_path / "c.0001.png.tmp-999999999"
    stale.write_bytes(b"half a png")
    os.utime(stale, (1e9, 1e9))  # left by a run before this one
    FrameFileWriter(tmp_path / "c.%04d.png", 1, (0, 1)).open()
    assert list(tmp_path.iterdir()) == []


def test_frame_output_needs_a_known_extension(tmp_path):
    with pytest.raises(UsageError, match=r"per-frame output must end in one of \.png"):
        FrameFileWriter(tmp_path / "o.%04d.jpg", 0, (0, 1))


def test_the_movie_writer_sends_sequences_to_the_frame_writer(tmp_path):
    write_pngs(tmp_path, ["p.0001.png"])
    with open_video(tmp_path / "p.%04d.png") as video:
        with pytest.raises(UsageError, match="png writes an image sequence"):
            VideoWriter(tmp_path / "o.%04d.png", video.info, codec="libx264")
