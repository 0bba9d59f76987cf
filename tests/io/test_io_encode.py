"""VideoWriter with real encoders: timestamps, remux, lossless pass-through, tags, bad outputs."""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np
import pytest
from iotest_helpers import BT709_TV, packets, planes, video_pts

from moebius_video.errors import MediaError, UsageError
from moebius_video.io import ColorTags, VideoWriter, composite, open_video
from moebius_video.patches import FramePatch

VFR_PTS = [0, 40, 80, 140, 160, 200, 260, 300, 320, 400, 410, 500]


def square_patch(frame, x0=10, y0=6, size=16, value=None):
    """A filled square with a feathered rim; value defaults to mid-grey."""
    alpha = np.zeros((size, size), np.float32)
    alpha[2:-2, 2:-2] = 1
    alpha[1, 1:-1] = alpha[-2, 1:-1] = 0.5
    top = np.iinfo(frame.rgb.dtype).max
    rgb = np.full((size, size, 3), top // 2 if value is None else value, frame.rgb.dtype)
    return FramePatch(frame.index, x0, y0, rgb, alpha)


def transcode(source, output, patch=None, frame_range=None, **options):
    """Decode `source`, composite an optional patch per frame, write `output`."""
    with open_video(source) as video:
        with VideoWriter(
            output, video.info, remux_from=source, frame_range=frame_range, **options
        ) as writer:
            for frame in video.frames(*(frame_range or (0, None))):
                writer.write(composite(frame, [patch(frame)] if patch else []))
        return video.info


# Lossless and intra codecs: libx264 itself is not byte-repeatable on a loaded machine.
@pytest.mark.parametrize(("out_name", "codec"), [("o.mkv", "ffv1"), ("o.mov", "prores")])
def test_the_same_input_gives_the_same_bytes(clip, tmp_path, out_name, codec):
    source = clip("a.mkv", frames=12, audio="aac")
    first, second = tmp_path / ("1" + out_name), tmp_path / ("2" + out_name)
    transcode(source, first, patch=square_patch, codec=codec)
    transcode(source, second, patch=square_patch, codec=codec)
    assert first.read_bytes() == second.read_bytes(), f"{out_name}: two runs wrote different bytes"


# -- timestamps and frame count ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("cfr.mp4", {"frames": 12, "rate": 24}),
        ("ntsc.mov", {"frames": 10, "rate": Fraction(30000, 1001)}),
        ("vfr.mkv", {"time_base": Fraction(1, 1000), "pts": VFR_PTS}),
        ("vfr.mp4", {"time_base": Fraction(1, 1000), "pts": VFR_PTS}),
    ],
)
@pytest.mark.parametrize("codec", ["libx264", "ffv1"])
def test_frame_count_and_pts_survive(clip, tmp_path, name, options, codec):
    if codec == "ffv1" and not name.endswith("mkv"):
        name = name.rsplit(".", 1)[0] + ".mkv"
    source = clip(name, **options)
    output = tmp_path / f"out_{name}"
    transcode(source, output, patch=square_patch, codec=codec)
    expected_base, expected = video_pts(source)
    got_base, got = video_pts(output)
    assert got_base == expected_base, f"time base: expected {expected_base}, got {got_base}"
    assert got == expected, f"pts: expected {expected}, got {got}"
    with open_video(output) as video:
        assert video.info.frame_count == len(expected)


def test_mp4_keeps_a_small_time_base(clip, tmp_path):
    # The mov muxer would pick 1/16000 for a 1/1000 stream; the writer pins the timescale.
    source = clip(
        "ms.mp4",
        time_base=Fraction(1, 1000),
        pts=VFR_PTS,
        container_options={"video_track_timescale": "1000"},
    )
    assert video_pts(source)[0] == Fraction(1, 1000)
    output = tmp_path / "out.mp4"
    transcode(source, output)
    assert video_pts(output) == (Fraction(1, 1000), VFR_PTS)


# -- remux ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "audio", "out_name"),
    [("a.mp4", "aac", "o.mp4"), ("a.mov", "pcm_s16le", "o.mov"), ("a.mkv", "aac", "o.mkv")],
)
def test_audio_packets_are_copied_bit_for_bit(clip, tmp_path, name, audio, out_name):
    source = clip(name, frames=24, audio=audio)
    output = tmp_path / out_name
    transcode(source, output, patch=square_patch)
    expected, got = packets(source, "audio"), packets(output, "audio")
    assert len(got) == len(expected), f"expected {len(expected)} audio packets, got {len(got)}"
    assert [p[2] for p in got] == [p[2] for p in expected], "audio payloads differ"
    assert [p[0] for p in got] == [p[0] for p in expected], "audio pts differ"


def test_subtitles_are_copied(clip, tmp_path):
    source = clip("subs.mkv", frames=24, subtitles=True)
    output = tmp_path / "o.mkv"
    transcode(source, output)
    assert packets(output, "subtitle") == packets(source, "subtitle")


def test_streams_a_container_cannot_hold_are_left_out_with_a_warning(clip, tmp_path):
    source = clip("subs.mkv", frames=6, subtitles=True)
    with pytest.warns(UserWarning, match=r"stream #1 \(subtitle, srt\) cannot be stored in a .mp4"):
        transcode(source, tmp_path / "o.mp4")
    with av.open(str(tmp_path / "o.mp4")) as container:
        assert [s.type for s in container.streams] == ["video"]


def test_timecode_is_kept_and_moves_with_the_frame_range(clip, tmp_path):
    source = clip("tc.mov", frames=30, rate=24, timecode="01:00:00:00")
    transcode(source, tmp_path / "whole.mov")
    transcode(source, tmp_path / "cut.mov", frame_range=(26, 30))
    for name, expected in [("whole.mov", "01:00:00:00"), ("cut.mov", "01:00:01:02")]:
        with av.open(str(tmp_path / name)) as container:
            assert container.streams.video[0].metadata.get("timecode") == expected, name
            tracks = [s for s in container.streams if s.type == "data"]
            assert len(tracks) == 1 and tracks[0].metadata["timecode"] == expected


def test_frame_range_cuts_all_streams_consistently(clip, tmp_path):
    source = clip("a.mp4", frames=48, rate=24, audio="aac")
    output = tmp_path / "cut.mp4"
    transcode(source, output, frame_range=(20, 30))
    in_base, in_pts = video_pts(source)
    out_base, out_pts = video_pts(output)
    assert out_base == in_base
    assert out_pts == [p - in_pts[20] for p in in_pts[20:30]]
    # Audio: the copied packets are exactly those overlapping frames 20-29, shifted by the
    # same time as the video, so sync holds to the sample.
    shift = Fraction(in_pts[20]) * in_base * 48000
    span_start, span_end = in_pts[20] * in_base * 48000, in_pts[30] * in_base * 48000
    expected = [
        (pts - shift, payload)
        for pts, _, payload in packets(source, "audio")
        if pts + 1024 > span_start and pts < span_end
    ]
    got = [(pts, payload) for pts, _, payload in packets(output, "audio")]
    assert got == expected, (
        f"expected audio pts {[e[0] for e in expected]}, got {[g[0] for g in got]}"
    )


# -- only masked pixels change ----------------------------------------------------------------


@pytest.mark.parametrize("pix_fmt", ["yuv420p", "yuv422p10le", "yuv444p12le", "gbrp10le", "bgr0"])
def test_ffv1_keeps_every_unmasked_sample(clip, tmp_path, pix_fmt):
    source = clip(f"src_{pix_fmt}.mkv", frames=6, codec="ffv1", pix_fmt=pix_fmt)
    output = tmp_path / "out.mkv"
    transcode(source, output, patch=square_patch, codec="ffv1")
    with open_video(source) as original, open_video(output) as result:
        assert result.info.pix_fmt == pix_fmt
        for before, after in zip(original.frames(), result.frames(), strict=True):
            old, new = planes(before.source), planes(after.source)
            luma_old, luma_new = old[0][..., 0], new[0][..., 0]
            outside = np.ones(luma_old.shape, bool)
            outside[6:22, 10:26] = False  # the patch box (already on chroma boundaries)
            for plane_old, plane_new in zip(old, new, strict=True):
                scale_y = luma_old.shape[0] // plane_old.shape[0]
                scale_x = luma_old.shape[1] // plane_old.shape[1]
                mask = outside[::scale_y, ::scale_x]
                assert np.array_equal(plane_old[mask], plane_new[mask]), (
                    f"frame {before.index}: samples outside the patch changed"
                )
            assert not np.array_equal(luma_old[8:20, 12:24], luma_new[8:20, 12:24])


def test_frames_without_patches_are_bit_identical_with_ffv1(clip, tmp_path):
    source = clip("src.mkv", frames=5, codec="ffv1", pix_fmt="yuv420p10le")
    output = tmp_path / "out.mkv"
    transcode(source, output, codec="ffv1")
    with open_video(source) as original, open_video(output) as result:
        for before, after in zip(original.frames(), result.frames(), strict=True):
            for old, new in zip(planes(before.source), planes(after.source), strict=True):
                assert np.array_equal(old, new)


# -- tags, rotation, codecs -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("codec", "out_name"), [("libx264", "o.mp4"), ("ffv1", "o.mkv"), ("prores", "o.mov")]
)
@pytest.mark.filterwarnings("ignore:.*keeps time in units")  # mp4 -> mkv rounds to ms
def test_colour_tags_rotation_and_pixel_aspect_are_kept(clip, tmp_path, codec, out_name):
    source = clip(
        "tagged.mp4", frames=4, color=BT709_TV, rotation=90, sample_aspect_ratio=Fraction(4, 3)
    )
    output = tmp_path / out_name
    transcode(source, output, patch=square_patch, codec=codec)
    with open_video(output) as video:
        assert video.info.color == ColorTags("bt709", "bt709", "bt709", "tv")
        assert video.info.rotation == 90
        if codec != "ffv1":  # FFV1 takes the aspect from each frame, which PyAV cannot set
            assert video.info.sample_aspect_ratio == Fraction(4, 3)


@pytest.mark.parametrize(
    ("source_fmt", "codec", "encoded_fmt", "decoded_fmt"),
    [
        ("yuv420p", "prores", "yuv422p10le", "yuv422p10le"),
        # FFmpeg's ProRes decoder gives 4444 as 12 bit.
        ("yuv420p", "prores4444", "yuv444p10le", "yuv444p12le"),
        ("yuv422p10le", "libx264", "yuv422p10le", "yuv422p10le"),
        ("yuv444p", "libx264", "yuv444p", "yuv444p"),
        ("gbrp10le", "libx264", "yuv444p10le", "yuv444p10le"),
        ("bgr0", "libx264", "yuv444p", "yuv444p"),
    ],
)
def test_codec_pixel_formats(clip, tmp_path, source_fmt, codec, encoded_fmt, decoded_fmt):
    from moebius_video.io.codecs import encoder_pix_fmt, resolve_codec

    assert encoder_pix_fmt(resolve_codec(codec), source_fmt) == encoded_fmt
    source = clip("src.mkv", frames=4, codec="ffv1", pix_fmt=source_fmt)
    output = tmp_path / ("o.mov" if codec.startswith("prores") else "o.mp4")
    transcode(source, output, patch=square_patch, codec=codec)
    with open_video(output) as video:
        assert (video.info.pix_fmt, video.info.frame_count) == (decoded_fmt, 4)
    if codec.startswith("prores"):
        with av.open(str(output)) as container:
            tag = container.streams.video[0].codec_context.codec_tag
        assert tag == ("apch" if codec == "prores" else "ap4h"), f"ProRes fourcc {tag}"


def test_x264_crf_changes_the_size(clip, tmp_path):
    source = clip("src.mp4", frames=8)
    transcode(source, tmp_path / "fine.mp4", crf=10)
    transcode(source, tmp_path / "coarse.mp4", crf=40)
    fine, coarse = (tmp_path / "fine.mp4").stat().st_size, (tmp_path / "coarse.mp4").stat().st_size
    assert fine > 1.3 * coarse, f"crf 10: {fine} bytes, crf 40: {coarse} bytes"


# -- bad outputs ------------------------------------------------------------------------------


def only_files(folder):
    return sorted(p.name for p in folder.iterdir())


def test_existing_output_needs_overwrite(clip, tmp_path):
    source = clip("src.mp4", frames=4)
    output = tmp_path / "out.mp4"
    output.write_bytes(b"precious")
    with open_video(source) as video:
        with pytest.raises(UsageError, match="out.mp4: exists; pass overwrite=True"):
            VideoWriter(output, video.info)
    assert output.read_bytes() == b"precious"
    transcode(source, output, overwrite=True)
    with open_video(output) as video:
        assert video.info.frame_count == 4


def test_output_that_is_a_directory(clip, tmp_path):
    source = clip("src.mp4", frames=4)
    (tmp_path / "out.mp4").mkdir()
    with open_video(source) as video:
        with pytest.raises(UsageError, match="out.mp4: is a folder"):
            VideoWriter(tmp_path / "out.mp4", video.info)
    assert only_files(tmp_path) == ["out.mp4", "src.mp4"]


def test_output_equal_to_input(clip, tmp_path):
    source = clip("src.mp4", frames=4)
    with open_video(source) as video:
        with pytest.raises(UsageError, match="would overwrite the input"):
            VideoWriter(tmp_path / "." / "src.mp4", video.info, overwrite=True)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"codec": "h265"}, "unknown codec 'h265'; choose one of: libx264, ffv1"),
        ({"crf": 60}, "crf must be an integer from 0 to 51"),
        ({"frame_range": (2, 9)}, r"frame range 2-8 is outside the clip \(frames 0-3\)"),
        ({"codec": "png"}, "png writes an image sequence"),
        ({"codec": "prores"}, "prores cannot be stored in a .mp4 file"),
    ],
)
def test_bad_writer_options(clip, tmp_path, options, message):
    source = clip("src.mp4", frames=4)
    with open_video(source) as video:
        with pytest.raises(UsageError, match=message):
            VideoWriter(tmp_path / "out.mp4", video.info, **options)
    assert only_files(tmp_path) == ["src.mp4"]


def test_missing_output_folder(clip, tmp_path):
    source = clip("src.mp4", frames=4)
    with open_video(source) as video:
        with pytest.raises(UsageError, match="folder .*nowhere does not exist"):
            VideoWriter(tmp_path / "nowhere" / "out.mp4", video.info)


def test_odd_sized_420_video_cannot_go_to_x264(clip, tmp_path):
    source = clip("odd.mkv", frames=3, codec="ffv1", size=(63, 47))
    with open_video(source) as video:
        with pytest.raises(MediaError, match=r"63x47 yuv420p cannot be encoded with libx264"):
            VideoWriter(tmp_path / "out.mp4", video.info)
    transcode(source, tmp_path / "out.mkv", patch=lambda f: square_patch(f, 40, 30), codec="ffv1")
    with open_video(tmp_path / "out.mkv") as video:
        assert (video.info.width, video.info.height, video.info.frame_count) == (63, 47, 3)


def test_failure_while_writing_leaves_nothing(clip, tmp_path):
    source = clip("src.mp4", frames=8, audio="aac")
    output = tmp_path / "out.mp4"
    with pytest.raises(RuntimeError, match="boom"):
        with open_video(source) as video, VideoWriter(output, video.info, remux_from=source) as w:
            for frame in video.frames():
                w.write(composite(frame, []))
                if frame.index == 5:
                    raise RuntimeError("boom")
    assert only_files(tmp_path) == ["src.mp4"]


def test_too_few_frames_is_an_error_and_leaves_nothing(clip, tmp_path):
    source = clip("src.mp4", frames=8)
    output = tmp_path / "out.mp4"
    with pytest.raises(RuntimeError, match="5 frames written, frame_range 0-8 needs 8"):
        with open_video(source) as video, VideoWriter(output, video.info) as writer:
            for frame in video.frames(0, 5):
                writer.write(composite(frame, []))
    assert only_files(tmp_path) == ["src.mp4"]


def test_truncated_input_stops_the_writer_cleanly(clip, tmp_path):
    # A truncated raw stream (no declared length) opens as a shorter clip; promising the
    # full length to the writer and feeding what decodes fails at close, no output left.
    source = clip("src.h264", frames=12, codec_options={"g": "1"})
    with pytest.warns(UserWarning, match="cannot be detected"), open_video(source) as video:
        info = video.info
    data = source.read_bytes()
    source.write_bytes(data[: len(data) // 2])
    output = tmp_path / "out.mkv"
    with pytest.raises(RuntimeError, match="frames written"):
        with (
            pytest.warns(UserWarning, match="cannot be detected"),
            open_video(source) as video,
            VideoWriter(output, info, codec="ffv1") as writer,
        ):
            for frame in video.frames():
                writer.write(composite(frame, []))
    assert not output.exists() and not any(p.name.startswith(".out") for p in tmp_path.iterdir())


def test_a_coarser_container_clock_is_announced(clip, tmp_path):
    # 29.97 fps in 1/30000 cannot be stored exactly in Matroska's milliseconds.
    source = clip("ntsc.mp4", frames=4, rate=Fraction(30000, 1001))
    with pytest.warns(UserWarning, match=r"keeps time in units of 1/1000; timestamps in units"):
        transcode(source, tmp_path / "o.mkv")
    assert video_pts(tmp_path / "o.mkv")[1] == [0, 33, 67, 100]
