"""open_video on real movie files: frame table, timestamps, tags, seeking, bad inputs."""

from __future__ import annotations

import warnings
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from iotest_helpers import BT709_TV, video_pts

from moebius_video.errors import MediaError, UsageError
from moebius_video.io import ColorTags, DecodedFrame, open_video

VFR_PTS = [0, 40, 80, 140, 160, 200, 260, 300, 320, 400, 410, 500]


def test_cfr_frame_table(clip):
    path = clip("cfr.mp4", frames=12, rate=24)
    time_base, stamps = video_pts(path)
    with open_video(path) as video:
        info = video.info
        decoded = [(f.index, f.pts) for f in video.frames()]
    assert info.frame_count == 12
    assert (info.width, info.height, info.pix_fmt, info.bit_depth) == (64, 48, "yuv420p", 8)
    assert info.time_base == time_base
    assert info.average_rate == 24
    assert not info.is_vfr
    assert decoded == list(enumerate(stamps)), f"expected {stamps}, got {decoded}"


def test_vfr_frame_table(clip):
    path = clip("vfr.mkv", time_base=Fraction(1, 1000), pts=VFR_PTS)
    with open_video(path) as video:
        info = video.info
        decoded = [f.pts for f in video.frames()]
    assert info.is_vfr
    assert info.time_base == Fraction(1, 1000)
    assert decoded == VFR_PTS
    assert info.average_rate == Fraction(11, Fraction(500, 1000))


def test_colour_tags_and_rotation(clip):
    path = clip("tagged.mp4", color=BT709_TV, rotation=90)
    with open_video(path) as video:
        assert video.info.color == ColorTags("bt709", "bt709", "bt709", "tv")
        assert video.info.rotation == 90


def test_untagged_clip_has_no_tags(clip):
    path = clip("plain.mkv", codec="ffv1")
    with open_video(path) as video:
        assert video.info.color.primaries is None and video.info.color.transfer is None


def test_ten_bit_source_gives_uint16_rgb(clip):
    path = clip("deep.mkv", codec="ffv1", pix_fmt="yuv422p10le", frames=3)
    with open_video(path) as video:
        assert (video.info.pix_fmt, video.info.bit_depth) == ("yuv422p10le", 16)
        frame = next(video.frames())
    assert frame.rgb.dtype == np.uint16 and frame.rgb.shape == (48, 64, 3)
    assert frame.source.format.name == "yuv422p10le"
    # Full 16-bit scale: a 10-bit sample maps to the top of the uint16 range, not 0..1023.
    assert frame.rgb.max() > 40000, f"expected values scaled to 16 bit, max {frame.rgb.max()}"


@pytest.mark.parametrize("matrix", [(1, 1, 1, 1), (6, 6, 6, 1), (1, 1, 1, 2)])
def test_rgb_uses_the_stream_matrix_and_range(tmp_path, matrix):
    # A flat colour encoded losslessly with a given matrix/range must come back as itself;
    # decoding with the wrong matrix (BT.601 vs 709) or range moves it by 5-20 levels.
    colour = np.array([200, 40, 90], np.uint8)
    sws = {1: 1, 6: 5}[matrix[2]]
    path = tmp_path / "flat.mkv"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("ffv1", rate=24)
        stream.width, stream.height, stream.pix_fmt = 32, 16, "yuv444p"
        context = stream.codec_context
        context.color_primaries, context.color_trc, context.colorspace, context.color_range = matrix
        rgb = av.VideoFrame.from_ndarray(np.broadcast_to(colour, (16, 32, 3)).copy(), "rgb24")
        frame = rgb.reformat(format="yuv444p", dst_colorspace=sws, dst_color_range=matrix[3])
        frame.pts = 0
        container.mux(stream.encode(frame))
        container.mux(stream.encode())
    with open_video(path) as video:
        got = next(video.frames()).rgb[8, 16].astype(int)
    assert np.abs(got - colour).max() <= 2, f"expected {colour.tolist()}, got {got.tolist()}"


@pytest.mark.parametrize("name", ["gop.mp4", "gop.mkv"])
def test_seek_gives_the_same_frames_as_a_linear_decode(clip, name):
    # Short GOPs with B-frames: every range below starts mid-GOP or on a key frame.
    path = clip(name, frames=24, codec_options={"g": "5", "bf": "2"})
    with open_video(path) as video:
        linear = [(f.index, f.pts, f.rgb) for f in video.frames()]
        for start, stop in [(0, 24), (7, 12), (3, 4), (10, 11), (23, 24), (5, 20)]:
            got = [(f.index, f.pts, f.rgb) for f in video.frames(start, stop)]
            assert [g[:2] for g in got] == [x[:2] for x in linear[start:stop]]
            for (index, _, rgb), (_, _, expected) in zip(got, linear[start:stop], strict=True):
                assert np.array_equal(rgb, expected), f"frame {index} differs after seeking"


def test_frames_out_of_range(clip):
    path = clip("short.mp4", frames=5)
    with open_video(path) as video:
        with pytest.raises(UsageError, match=r"frame range 3-9 is outside the clip \(frames 0-4\)"):
            video.frames(3, 10)
        with pytest.raises(UsageError):
            video.frames(4, 4)


def test_raw_stream_without_timestamps_is_counted_by_decoding(clip):
    path = clip("raw.h264", frames=9)
    with pytest.warns(UserWarning, match="cannot be detected"), open_video(path) as video:
        assert video.info.frame_count == 9
        assert [f.index for f in video.frames(2, 5)] == [2, 3, 4]
        assert [f.pts for f in video.frames(2, 5)] == [2, 3, 4]
        assert video.info.time_base == 1 / video.info.average_rate


# -- bad inputs -------------------------------------------------------------------------------


def test_missing_file(tmp_path):
    with pytest.raises(MediaError, match="nope.mp4: no such file"):
        open_video(tmp_path / "nope.mp4")


def test_text_file_renamed_mp4(tmp_path):
    path = tmp_path / "notes.mp4"
    path.write_text("these are not the frames you are looking for\n" * 20)
    with pytest.raises(MediaError, match="notes.mp4: cannot be read as a video"):
        open_video(path)


def test_audio_only_file(tmp_path):
    path = tmp_path / "sound.wav"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("pcm_s16le", rate=8000)
        stream.layout = "mono"
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), "s16", "mono")
        frame.sample_rate, frame.pts = 8000, 0
        container.mux(stream.encode(frame))
        container.mux(stream.encode())
    with pytest.raises(MediaError, match=r"sound.wav: no video stream \(streams: audio\)"):
        open_video(path)


def test_zero_frames(tmp_path):
    # A Matroska file with a video track that never got a frame (the audio track keeps
    # the file valid; an empty mp4 track would simply be left out by the muxer).
    path = tmp_path / "empty.mkv"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        sound = container.add_stream("pcm_s16le", rate=8000)
        sound.layout = "mono"
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), "s16", "mono")
        frame.sample_rate, frame.pts = 8000, 0
        container.mux(sound.encode(frame))
        container.mux(sound.encode())
    with pytest.raises(MediaError, match="empty.mkv: the video stream #0 has no frames"):
        open_video(path)


def test_truncated_mp4_with_index_up_front(clip):
    # faststart puts the index first: it promises 24 frames the cut file no longer holds.
    path = clip("cut.mp4", frames=24, container_options={"movflags": "+faststart"})
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(MediaError, match="cut.mp4: truncated: the header lists 24 frames"):
        open_video(path)


def test_truncated_mp4_without_index(clip):
    path = clip("cut.mp4", frames=24)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # the index (moov) sits at the end: gone
    with pytest.raises(MediaError, match="cut.mp4: cannot be read as a video"):
        open_video(path)


def test_truncated_mkv_is_an_error_or_held_to_its_declared_length(clip, tmp_path):
    # Matroska stores no frame count, but its DURATION tag (at the head) tells how long the
    # video was: a cut file is refused, or with allow_damaged held to the whole length.
    path = clip("cut.mkv", frames=24, codec="ffv1")
    data = path.read_bytes()
    cut = tmp_path / "cut2.mkv"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(MediaError, match=r"cut2.mkv: truncated or damaged: .* lasts 1.000 s"):
        open_video(cut)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with open_video(cut, allow_damaged=True) as video:
            indexes = [f.index for f in video.frames()]
            damaged = sorted(video.damaged)
    assert indexes == list(range(24))
    assert damaged and damaged[-1] == 23 and damaged[0] > 0, damaged
    assert any("damaged" in str(w.message) for w in caught)


def test_undecodable_frame_is_named(clip):
    # All-intra H.264 with frame 6's payload zeroed: the decoder rejects that packet.
    path = clip("broken.mp4", frames=10, codec_options={"g": "1"})
    with av.open(str(path)) as container:
        position, size = [(p.pos, p.size) for p in container.demux(video=0) if p.size][6]
    data = bytearray(path.read_bytes())
    data[position : position + size] = bytes(size)
    path.write_bytes(bytes(data))
    with open_video(path) as video:
        frames = video.frames()
        with pytest.raises(
            MediaError, match=r"broken.mp4: the video stream is damaged near frame [4-7]"
        ):
            for _ in frames:
                pass


# --- rgb_crop: converting only the area around a box ---------------------------------


def random_boxes(width: int, height: int, count: int, seed: int) -> list[tuple[int, int, int, int]]:
    """Boxes at every parity of offset and size, small and large, some at the frame edges."""
    rng = np.random.default_rng(seed)
    boxes = [(0, 0, width, 1), (width - 1, height - 3, width, height), (1, 1, 4, 3)]
    for _ in range(count):
        x0, y0 = int(rng.integers(0, width)), int(rng.integers(0, height))
        limit = int(rng.choice([3, 20, max(width, height)]))
        x1 = int(rng.integers(x0 + 1, min(x0 + limit, width) + 1))
        y1 = int(rng.integers(y0 + 1, min(y0 + limit, height) + 1))
        boxes.append((x0, y0, x1, y1))
    return boxes


@pytest.mark.parametrize(
    "codec, pix_fmt, size",
    [
        ("libx264", "yuv420p", (96, 80)),
        ("libx264", "yuv422p", (96, 80)),
        ("libx264", "yuv420p10le", (96, 80)),
        ("ffv1", "yuv444p", (70, 46)),
        ("ffv1", "yuv420p", (98, 62)),  # not a multiple of the crop grid
        ("ffv1", "yuv420p", (97, 61)),  # odd: chroma is not half the frame, whole frame it is
        ("prores_ks", "yuv422p10le", (96, 80)),
        ("png", "rgb24", (70, 46)),
    ],
)
def test_rgb_crop_is_the_whole_frame_conversion_cut(clip, codec, pix_fmt, size):
    ext = "mov" if codec in ("prores_ks", "png") else "mkv"
    path = clip(f"crop.{ext}", frames=3, size=size, codec=codec, pix_fmt=pix_fmt)
    width, height = size
    with open_video(path) as video:
        for frame in video.frames():
            for box in random_boxes(width, height, 40, seed=frame.index):
                fresh = DecodedFrame(frame.index, frame.pts, source=frame.source)
                x0, y0, x1, y1 = box
                got = fresh.rgb_crop(box).copy()
                want = frame.rgb[y0:y1, x0:x1]
                assert got.dtype == want.dtype and got.shape == want.shape
                assert np.array_equal(got, want), f"{pix_fmt} {size} frame {frame.index}: {box}"


def test_rgb_crop_converts_only_around_the_boxes(clip):
    path = clip("wide.mkv", frames=1, size=(320, 240), codec="ffv1")
    with open_video(path) as video:
        frame = next(iter(video.frames()))
        assert (frame.width, frame.height, frame.rgb_dtype) == (320, 240, np.uint8)
        first = frame.rgb_crop((100, 50, 140, 90)).copy()
        inner = frame.rgb_crop((110, 60, 120, 70))  # inside the area converted: a slice
        assert np.shares_memory(inner, frame.rgb_crop((100, 50, 140, 90)))
        frame.rgb_crop((200, 150, 210, 160))  # elsewhere: the area grows to cover both
        assert frame._rgb is None, "the whole frame was converted"
        assert np.array_equal(first, frame.rgb[50:90, 100:140])
        assert np.array_equal(inner, frame.rgb[60:70, 110:120])
        # Once the whole frame is converted, crops are slices of it.
        assert np.shares_memory(frame.rgb_crop((0, 0, 5, 5)), frame.rgb)
        with pytest.raises(ValueError, match="outside"):
            frame.rgb_crop((300, 200, 330, 210))


def _flip_middle_packet(path: Path) -> None:
    with av.open(str(path)) as container:
        packets = [(p.pos, p.size) for p in container.demux(video=0) if p.size]
    position, size = packets[len(packets) // 2]
    data = bytearray(path.read_bytes())
    for k in range(position + size // 3, position + size // 3 + 64):
        data[k] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("name", ["damaged.mkv", "damaged.mp4"])
def test_damage_in_the_middle_is_an_error_or_listed_with_allow_damaged(clip, name):
    path = clip(name, frames=12, size=(96, 64))
    _flip_middle_packet(path)
    with open_video(path) as video:
        with pytest.raises(MediaError, match=rf"{name}: the video stream is damaged"):
            for _ in video.frames():
                pass
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with open_video(path, allow_damaged=True) as video:
            count = sum(1 for _ in video.frames())
            damaged = sorted(video.damaged)
    assert count == 12
    assert damaged and 4 <= damaged[0] <= 8, damaged
    assert [str(w.message) for w in caught if "damaged" in str(w.message)]


def _drop_packets(path: Path, keep) -> None:
    """Remux `path` with only the video packets whose index passes `keep` (lost packets)."""
    source = path.with_name("whole-" + path.name)
    path.rename(source)
    with av.open(str(source)) as inp, av.open(str(path), "w") as out:
        stream = out.add_stream_from_template(inp.streams.video[0])
        for k, packet in enumerate(p for p in inp.demux(video=0) if p.size):
            if keep(k):
                packet.stream = stream
                out.mux(packet)
    # The muxer wrote DURATION from the packets it saw; put the whole clip's back, as a
    # file cut short by damage still carries it in its header.
    with av.open(str(source)) as whole, av.open(str(path)) as cut:
        declared = whole.streams.video[0].metadata["DURATION"].encode()
        written = cut.streams.video[0].metadata["DURATION"].encode()
    data = path.read_bytes()
    assert data.count(written) == 1 and len(written) == len(declared)
    path.write_bytes(data.replace(written, declared))
    source.unlink()


@pytest.mark.parametrize(
    "lost, where", [(lambda k: k < 9, "end"), (lambda k: k not in (5, 6) and k < 10, "both")]
)
def test_mkv_frames_lost_against_its_duration_are_an_error_or_held(clip, lost, where):
    # Matroska declares no frame count, only a duration: frames lost at the end (and
    # packets lost in the middle with them) would otherwise make a shorter clip silently.
    # A gap in the middle alone is left to the decoder: a capture that dropped a frame
    # has one too, and is not damaged.
    path = clip("lost.mkv", frames=12, size=(96, 64), codec_options={"g": "4"})
    with av.open(str(path)) as container:
        whole = [p.pts for p in container.demux(video=0) if p.size]
    _drop_packets(path, lost)
    with av.open(str(path)) as container:
        kept = [p.pts for p in container.demux(video=0) if p.size]
        assert len(kept) < 12 and container.streams.video[0].metadata.get("DURATION")
    with pytest.raises(MediaError, match=r"lost.mkv: truncated or damaged: .* frames are missing"):
        open_video(path)
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        with open_video(path, allow_damaged=True) as video:
            count = sum(1 for _ in video.frames())
    assert count == len(whole) == 12, where


def test_a_raw_stream_warns_that_its_length_cannot_be_checked(clip):
    path = clip("raw.h264", frames=6, size=(96, 64))
    with pytest.warns(UserWarning, match=r"raw.h264: .* a truncated stream cannot be detected"):
        with open_video(path) as video:
            assert video.info.frame_count == 6
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a movie with a declared length says nothing
        with open_video(clip("fine.mkv", frames=6, size=(96, 64))) as video:
            assert video.info.frame_count == 6


def test_tags_that_are_not_utf8_do_not_stop_the_read(clip):
    # A title written by an old tool in Latin-1 (or damaged): FFmpeg hands the bytes over.
    source = clip("plain.mp4", frames=4, size=(96, 64))
    path = source.with_name("latin1.mp4")
    with av.open(str(source)) as inp, av.open(str(path), "w") as out:
        out.metadata["title"] = "XXXXXXXX"
        stream = out.add_stream_from_template(inp.streams.video[0])
        for packet in inp.demux(video=0):
            if packet.size:
                packet.stream = stream
                out.mux(packet)
    data = path.read_bytes()
    assert data.count(b"XXXXXXXX") == 1
    path.write_bytes(data.replace(b"XXXXXXXX", b"Caf\xe9 \xd1o\xf1"))
    with pytest.raises(UnicodeDecodeError):
        av.open(str(path)).close()  # what stopped the run with a traceback
    with open_video(path) as video:
        assert video.info.frame_count == 4
