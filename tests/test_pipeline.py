"""inpaint_video end to end on small generated clips: real PyAV encodes and decodes.

What must hold whatever fills the hole: same frame count and pts, audio packets and
colour tags kept, every sample outside the mask bit-identical with a lossless codec,
frames without a mask passed through, a frame range cut exactly, progress events in
order, and options checked with messages that name the option.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import av
import numpy as np
import pytest
from pipeline_helpers import (
    FRAMES,
    HEIGHT,
    WIDTH,
    audio_packets,
    background,
    decoded,
    make_clip,
    outside_mask,
    planes,
    wire_track,
)

from moebius_video import InpaintOptions, inpaint_video
from moebius_video.commands.run import build_parser, options_from_args
from moebius_video.errors import UsageError
from moebius_video.fillers import OpenCVFiller
from moebius_video.masks import load_mask_track
from moebius_video.patches import mask_box
from moebius_video.temporal.per_frame import fill_frame


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clip")
    track = wire_track()
    return make_clip(folder / "wire.mp4", track=track), track


@pytest.mark.parametrize("temporal", [False, True], ids=["per-frame", "temporal"])
def test_only_masked_samples_change_with_ffv1(clip, tmp_path, temporal):
    source, track = clip
    output = tmp_path / "clean.mkv"
    result = inpaint_video(source, track, output, InpaintOptions(codec="ffv1", temporal=temporal))
    assert result.frames == FRAMES and result.masked_frames == 8, result

    src, out = decoded(source), decoded(output)
    assert len(out) == len(src), f"frame count: expected {len(src)}, got {len(out)}"
    # Matroska keeps time in ms and shifts all streams so none starts below 0 (the AAC
    # priming packet): frame times relative to the first frame must agree to the ms.
    times_in = [float((f.pts - src[0].pts) * f.time_base) for f in src]
    times_out = [float((f.pts - out[0].pts) * f.time_base) for f in out]
    assert times_out == pytest.approx(times_in, abs=1e-3), f"{times_in} vs {times_out}"
    assert out[0].format.name == "yuv420p"
    mask = load_mask_track(track, WIDTH, HEIGHT, FRAMES)
    for index, (a, b) in enumerate(zip(src, out, strict=True)):
        alpha = mask.alpha(index)
        for p, (plane_in, plane_out) in enumerate(zip(planes(a), planes(b), strict=True)):
            keep = outside_mask(alpha, plane_in)
            changed = int(np.count_nonzero(plane_in[keep] != plane_out[keep]))
            assert changed == 0, f"frame {index} plane {p}: {changed} samples outside the mask"
        if not alpha.any():
            assert all(np.array_equal(x, y) for x, y in zip(planes(a), planes(b), strict=True))

    # The dark wire is gone: inside the mask the output is much closer to the clean scene.
    for index in (2, 5, 9):
        inside = mask.alpha(index) >= 1
        clean = background(index).astype(np.float32)
        before = np.abs(src[index].to_ndarray(format="rgb24") - clean)[inside].mean()
        after = np.abs(out[index].to_ndarray(format="rgb24") - clean)[inside].mean()
        assert after < 0.5 * before, f"frame {index}: error in mask {before:.1f} -> {after:.1f}"


def test_audio_packets_and_colour_tags_are_kept(clip, tmp_path):
    source, track = clip
    output = tmp_path / "clean.mp4"
    inpaint_video(source, track, output, InpaintOptions(temporal=False))
    assert audio_packets(output) == audio_packets(source)
    with av.open(source) as a, av.open(str(output)) as b:
        tags = ("color_primaries", "color_trc", "colorspace", "color_range")
        got = {t: getattr(b.streams.video[0].codec_context, t) for t in tags}
        expected = {t: getattr(a.streams.video[0].codec_context, t) for t in tags}
        assert got == expected
        assert b.streams.video[0].frames == a.streams.video[0].frames == FRAMES
    assert [f.pts for f in decoded(output)] == [f.pts for f in decoded(source)]


def test_frame_range_uses_the_track_frame_base(tmp_path):
    track = wire_track(frame_base=1001)
    source = make_clip(tmp_path / "shot.mp4", audio=False, track=track)
    output = tmp_path / "chunk.mkv"
    result = inpaint_video(
        source, track, output, InpaintOptions(codec="ffv1", frames=(1004, 1008), temporal=False)
    )
    assert result.frame_range == (1004, 1008)
    assert result.frames == 5
    src, out = decoded(source), decoded(output)
    assert len(out) == 5
    # The chunk holds input frames 3..7, each with only its masked samples changed.
    mask = load_mask_track(track, WIDTH, HEIGHT, FRAMES)
    for offset, frame in enumerate(out):
        index = 3 + offset
        alpha = mask.alpha(index)
        luma_in, luma_out = planes(src[index])[0], planes(frame)[0]
        keep = outside_mask(alpha, luma_in)
        assert np.array_equal(luma_in[keep], luma_out[keep]), f"frame {index}"
        assert not np.array_equal(luma_in[~keep], luma_out[~keep]), f"frame {index} not filled"


def _cut_scene(index: int) -> np.ndarray:
    """Ten frames of a static shot, then another (the picture flipped, colours inverted)."""
    return background(0) if index < 10 else 255 - background(0)[::-1]


def test_nothing_crosses_a_shot_cut_found_or_given(tmp_path):
    square = [[40, 20], [60, 20], [60, 44], [40, 44]]
    track = {
        "schema": "moebius.masktrack/1",
        "width": WIDTH,
        "height": HEIGHT,
        "frame_base": 1001,
        "tracks": [
            {
                "id": "logo",
                "shape": "polygon",
                "range": [1001, 1020],
                "keyframes": [{"frame": 1001, "points": square}],
            }
        ],
    }
    source = make_clip(tmp_path / "cut.mp4", 20, audio=False, track=track, scene=_cut_scene)
    outputs, warnings = {}, {}
    for name, cuts in (("auto", "auto"), ("given", "1011"), ("none", "none")):
        ns = build_parser().parse_args(
            [source, "--mask-track", "t.json", "-o", "x.mkv", "--shot-cuts", cuts]
        )
        options = options_from_args(ns).replace(codec="ffv1")
        events = []
        inpaint_video(source, track, tmp_path / f"{name}.mkv", options, progress=events.append)
        outputs[name] = [f.to_ndarray(format="rgb24") for f in decoded(tmp_path / f"{name}.mkv")]
        warnings[name] = [e.message for e in events if e.kind == "warning"]
    assert all(np.array_equal(a, b) for a, b in zip(outputs["auto"], outputs["given"], strict=True))
    # As one shot, the frames next to the cut take the other shot's pixels or painting.
    changed = [
        not np.array_equal(a, b) for a, b in zip(outputs["none"], outputs["auto"], strict=True)
    ]
    assert any(changed[6:10]), "without the cut, the frames before it show the other shot"
    # A cut found is reported once, in the clip's frame numbers; a given one is not.
    assert [w for w in warnings["auto"] if "shot cut" in w] == [
        "shot cut found before frame 1011: nothing is carried across it (--shot-cuts gives"
        " the cuts by hand, --shot-cuts none turns this off)"
    ]
    assert not [w for w in warnings["given"] + warnings["none"] if "shot cut" in w]


def test_a_chunk_equals_the_same_frames_of_a_whole_clip_run(clip, tmp_path):
    # The temporal core reads context frames around a chunk, so a farm task rendering
    # frames 3-7 gets exactly what a one-process render gives for those frames.
    source, track = clip
    whole, chunk = tmp_path / "whole.mkv", tmp_path / "chunk.mkv"
    inpaint_video(source, track, whole, InpaintOptions(codec="ffv1", window=4, context=2))
    inpaint_video(
        source, track, chunk, InpaintOptions(codec="ffv1", window=4, context=2, frames=(3, 7))
    )
    whole_frames, chunk_frames = decoded(whole), decoded(chunk)
    assert len(chunk_frames) == 5
    for offset, frame in enumerate(chunk_frames):
        expected = planes(whole_frames[3 + offset])
        for p, (a, b) in enumerate(zip(expected, planes(frame), strict=True)):
            assert np.array_equal(a, b), f"frame {3 + offset} plane {p} differs from whole run"


def test_save_debug_writes_the_temporal_preview(clip, tmp_path):
    source, track = clip
    preview = tmp_path / "debug.mp4"
    inpaint_video(
        source, track, tmp_path / "o.mp4", InpaintOptions(model="opencv", save_debug=str(preview))
    )
    assert len(decoded(preview)) == FRAMES


@pytest.mark.parametrize("target", ["input", "track", "output", "existing"])
def test_save_debug_never_replaces_a_file_without_y(clip, tmp_path, target):
    source, track = clip
    track_file = tmp_path / "track.json"
    track_file.write_text(json.dumps(track))
    track = track_file
    output = tmp_path / "o.mp4"
    existing = tmp_path / "old_preview.mp4"
    existing.write_bytes(b"keep me")
    if target == "output":
        output.write_bytes(b"keep me")
    path = {"input": source, "track": track, "output": output, "existing": existing}[target]
    before = Path(path).read_bytes()
    options = InpaintOptions(model="opencv", save_debug=str(path), overwrite=target == "output")
    with pytest.raises(UsageError, match="--save-debug"):
        inpaint_video(source, track, output, options)
    assert Path(path).read_bytes() == before
    if target != "output":
        assert not output.exists()


def test_progress_events_in_order(clip, tmp_path):
    source, track = clip
    events = []
    result = inpaint_video(
        source,
        track,
        tmp_path / "out.mkv",
        InpaintOptions(codec="ffv1", temporal=False),
        progress=events.append,
    )
    # Warnings may come at any point (Matroska rounds this clip's timestamps to ms).
    kinds = [e.kind for e in events if e.kind != "warning"]
    assert kinds[0] == "started" and kinds[-1] == "done", kinds
    assert kinds.count("progress") == FRAMES
    progress = [e for e in events if e.kind == "progress"]
    assert [e.frame for e in progress] == list(range(1, FRAMES + 1))
    assert all(e.total == FRAMES for e in progress)
    assert progress[-1].percent == pytest.approx(100.0)
    done = events[-1]
    assert done.stats["output"] == str(tmp_path / "out.mkv")
    assert done.stats["frames"] == FRAMES
    assert done.message == result.summary()


def test_same_input_gives_same_bytes(clip, tmp_path):
    source, track = clip
    # FFV1: libx264 itself is not byte-repeatable on a loaded machine (see README).
    options = InpaintOptions(temporal=False, codec="ffv1")
    inpaint_video(source, track, tmp_path / "a.mkv", options)
    inpaint_video(source, track, tmp_path / "b.mkv", options)
    assert (tmp_path / "a.mkv").read_bytes() == (tmp_path / "b.mkv").read_bytes()


class ShapeRecordingFiller(OpenCVFiller):
    """The classical filler, noting the size of every image it is asked to fill."""

    def __init__(self):
        super().__init__()
        self.shapes = []

    def fill(self, image, hole):
        self.shapes.append(image.shape)
        return super().fill(image, hole)


def test_per_frame_fill_works_on_a_crop_around_the_mask():
    size = 256
    track = {
        "schema": "moebius.masktrack/1",
        "width": size,
        "height": size,
        "tracks": [
            {
                "id": "dot",
                "shape": "ellipse",
                "keyframes": [{"frame": 0, "center": [100, 120], "axes": [6, 4], "angle": 0}],
            }
        ],
    }
    mask = load_mask_track(track, size, size, 1)
    rgb = np.random.default_rng(0).integers(0, 255, (size, size, 3), dtype=np.uint8)
    filler = ShapeRecordingFiller()
    patches = fill_frame(0, rgb, mask, filler)

    (shape,) = filler.shapes
    assert shape[0] < 64 and shape[1] < 64, f"filler saw {shape}, expected a crop"
    (patch,) = patches
    x0, y0, x1, y1 = patch.box
    assert (x0, y0, x1, y1) == mask_box(mask.alpha(0)), "patch is the tight box of the mask"
    assert np.array_equal(patch.alpha, mask.alpha(0)[y0:y1, x0:x1])


def test_no_mask_on_a_frame_gives_no_patches():
    track = wire_track(first=2, last=3)
    mask = load_mask_track(track, WIDTH, HEIGHT, FRAMES)
    assert fill_frame(7, background(7), mask, OpenCVFiller()) == []


# --- options ------------------------------------------------------------------------------


def test_options_from_mapping_takes_cli_spellings():
    options = InpaintOptions.from_mapping(
        {
            "c:v": "ffv1",
            "--crf": "20",
            "keyframe-interval": 6,
            "flow_quality": "fast",
            "frames": "1001-1100",
            "y": True,
            "temporal": "off",
        }
    )
    assert options == InpaintOptions(
        codec="ffv1",
        crf=20,
        keyframe_interval=6,
        flow_quality="fast",
        frames=(1001, 1100),
        overwrite=True,
        temporal=False,
    )
    assert InpaintOptions.from_mapping({"frames": [5, 9]}).frames == (5, 9)
    assert InpaintOptions.from_mapping({"frames": 7}).frames == (7, 7)


@pytest.mark.parametrize(
    "mapping, message",
    [
        ({"crf_value": 3}, "shots[1]: unknown option 'crf_value'"),
        ({"crf": 99}, "shots[1]: --crf: expected an integer 0..51, got 99"),
        ({"crf": "high"}, "shots[1]: --crf: expected an integer, got 'high'"),
        ({"frames": "10..20"}, "shots[1]: --frames: expected FIRST-LAST"),
        ({"frames": "20-10"}, "first frame 20 is after last frame 10"),
        ({"device": "tpu"}, "--device: unknown device 'tpu'"),
        ({"precision": "fp8"}, "--precision: unknown precision 'fp8'"),
        ({"workers": 0}, "--workers: expected an integer >= 1, got 0"),
        ({"overwrite": "yes"}, "-y/--overwrite: expected true or false"),
        ({"crf": 3, "--crf": 4}, "option '--crf' is given twice"),
        ({"save-debug": "d.mp4", "temporal": "off"}, "--save-debug: the preview comes from"),
        ({"shot-cuts": "1012", "temporal": "off"}, "--shot-cuts: shot cuts split the temporal"),
        ({"shot-cuts": "none", "temporal": "off"}, "drop --temporal off or --shot-cuts"),
    ],
)
def test_options_from_mapping_rejects_with_the_option_named(mapping, message):
    with pytest.raises(UsageError) as caught:
        InpaintOptions.from_mapping(mapping, where="shots[1]")
    assert message in str(caught.value), f"expected {message!r} in {str(caught.value)!r}"


# --- the sample clips ------------------------------------------------------------------------

SAMPLES = Path(__file__).resolve().parents[1] / "sample_clips"


@pytest.mark.parametrize("name", ["carphone_wire", "bikes_object", "bbb_wire", "montage_logo"])
def test_sample_tracks_fit_their_clips_and_cover_the_drawn_artefact(name):
    sys.path.insert(0, str(SAMPLES))
    try:
        import make_samples
    finally:
        sys.path.remove(str(SAMPLES))
    from moebius_video.io import open_video

    spec = json.loads((SAMPLES / f"{name}.json").read_text())
    with open_video(SAMPLES / f"{name}.mp4") as video:
        info = video.info
    track = load_mask_track(SAMPLES / f"{name}.json", info.width, info.height, info.frame_count)
    shape = spec["tracks"][0]
    for index in range(0, info.frame_count, 7):
        keys = shape["keyframes"]
        if shape["shape"] == "polyline":
            points = make_samples.lerp_keyframes(keys, index, "points")
            drawn = make_samples.wire_coverage(info.height, info.width, points, shape["width"])
        else:
            drawn = make_samples.blob_coverage(
                info.height,
                info.width,
                make_samples.lerp_keyframes(keys, index, "center"),
                make_samples.lerp_keyframes(keys, index, "axes"),
                float(make_samples.lerp_keyframes(keys, index, "angle")),
            )
        uncovered = drawn[track.alpha(index) < 1]
        assert drawn.any() and not uncovered.any(), f"{name} frame {index}: artefact not covered"
