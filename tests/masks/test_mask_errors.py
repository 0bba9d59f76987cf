"""Every bad input gets a MaskTrackError naming the file and the JSON path (one test per case)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
from masktest_helpers import rle_counts, rle_string, write_matte_video, write_png

from moebius_video.errors import EXIT_BAD_INPUT, MaskTrackError
from moebius_video.masks import load_mask_track

W, H, FRAMES = 32, 24, 10

VALID = {
    "schema": "moebius.masktrack/1",
    "width": W,
    "height": H,
    "tracks": [
        {
            "id": "wire",
            "shape": "polyline",
            "width": 2,
            "keyframes": [
                {"frame": 0, "points": [[1, 1], [20, 20]]},
                {"frame": 9, "points": [[3, 1], [22, 20]]},
            ],
        },
        {
            "id": "blob",
            "shape": "ellipse",
            "keyframes": [{"frame": 2, "center": [10, 10], "axes": [4, 3], "angle": 10}],
        },
    ],
}


def edited(edit) -> dict:
    data = copy.deepcopy(VALID)
    edit(data)
    return data


def set_path(data, path, value):
    *parents, last = path
    for key in parents:
        data = data[key]
    data[last] = value


def track0(**changes):
    return lambda d: d["tracks"][0].update(changes)


def raster(source: dict, **extra):
    return lambda d: d["tracks"].__setitem__(
        0, {"id": "roto", "shape": "raster", "source": source, **extra}
    )


def load_error(tmp_path: Path, data=None, text: str | None = None, **kwargs) -> tuple[str, str]:
    path = tmp_path / "wires.json"
    path.write_text(text if text is not None else json.dumps(data))
    with pytest.raises(MaskTrackError) as info:
        load_mask_track(path, kwargs.pop("width", W), kwargs.pop("height", H), FRAMES, **kwargs)
    assert info.value.exit_code == EXIT_BAD_INPUT
    message = str(info.value)
    assert message.startswith(f"{path}: "), message  # names the file first
    return message, str(path)


def check(message: str, label: str, json_path: str, *fragments: str) -> None:
    expected = f"{label}: {json_path}: "
    assert expected in message, f"expected {expected!r} in: {message}"
    for fragment in fragments:
        assert fragment in message, f"expected {fragment!r} in: {message}"


STRUCTURE_CASES = {
    "wrong schema": (
        lambda d: d.update(schema="moebius.mask/1"),
        "schema",
        'expected "moebius.masktrack/1"',
    ),
    "future schema version": (
        lambda d: d.update(schema="moebius.masktrack/2"),
        "schema",
        "version 1 only",
    ),
    "missing tracks": (lambda d: d.pop("tracks"), "tracks", "required key is missing"),
    "width is a boolean": (
        lambda d: d.update(width=True),
        "width",
        "expected an integer, got true",
    ),
    "width is a float": (lambda d: d.update(width=32.0), "width", "expected an integer, got 32.0"),
    "height zero": (lambda d: d.update(height=0), "height", "from 1 to 32768, got 0"),
    "canvas too large": (lambda d: d.update(width=40000), "width", "got 40000"),
    "frame_base a string": (lambda d: d.update(frame_base="1001"), "frame_base", 'got "1001"'),
    "scale_to_video not bool": (
        lambda d: d.update(scale_to_video=1),
        "scale_to_video",
        "expected true or false, got 1",
    ),
    "unknown top-level key": (
        lambda d: d.update(frame_bsae=1001),
        "frame_bsae",
        'did you mean "frame_base"?',
    ),
    "metadata not an object": (lambda d: d.update(metadata=[1]), "metadata", "expected an object"),
    "tracks not an array": (lambda d: d.update(tracks={}), "tracks", "expected an array"),
    "track not an object": (lambda d: d["tracks"].append(3), "tracks[2]", "expected an object"),
    "missing id": (lambda d: d["tracks"][0].pop("id"), "tracks[0].id", "required key is missing"),
    "empty id": (track0(id=""), "tracks[0].id", "non-empty string"),
    "duplicate id": (
        lambda d: d["tracks"][1].update(id="wire"),
        "tracks[1].id",
        "already the id of tracks[0]",
    ),
    "unknown shape": (
        track0(shape="circle"),
        "tracks[0].shape",
        "polyline, polygon, ellipse, raster",
    ),
    "missing shape": (lambda d: d["tracks"][1].pop("shape"), "tracks[1].shape", "missing"),
    "unknown track key": (track0(expnad=2), "tracks[0].expnad", 'did you mean "expand"?'),
    "width on an ellipse": (
        lambda d: d["tracks"][1].update(width=3),
        "tracks[1].width",
        "not used by ellipse tracks",
    ),
    "smooth_path on an ellipse": (
        lambda d: d["tracks"][1].update(smooth_path=True),
        "tracks[1].smooth_path",
        "only by polyline, polygon",
    ),
    "too few points": (
        lambda d: set_path(d, ["tracks", 0, "keyframes", 1, "points"], [[1, 2]]),
        "tracks[0].keyframes[1].points",
        "expected at least 2 points for a polyline, got 1",
    ),
    "polygon with two points": (
        lambda d: d["tracks"][0].update(shape="polygon", width=None) or d["tracks"][0].pop("width"),
        "tracks[0].keyframes[0].points",
        "expected at least 3 points for a polygon, got 2",
    ),
    "mismatched point counts": (
        lambda d: set_path(d, ["tracks", 0, "keyframes", 1, "points"], [[1, 1], [5, 5], [9, 9]]),
        "tracks[0].keyframes[1].points",
        "expected 2 points like keyframes[0]",
        "got 3",
    ),
    "unsorted keyframes": (
        lambda d: set_path(d, ["tracks", 0, "keyframes", 1, "frame"], -4),
        "tracks[0].keyframes[1].frame",
        "unsorted",
        "got -4 after 0",
    ),
    "duplicate keyframe frames": (
        lambda d: set_path(d, ["tracks", 0, "keyframes", 1, "frame"], 0),
        "tracks[0].keyframes[1].frame",
        "duplicate",
    ),
    "no keyframes": (track0(keyframes=[]), "tracks[0].keyframes", "at least 1 keyframe, got 0"),
    "keyframe frame a bool": (
        lambda d: set_path(d, ["tracks", 0, "keyframes", 0, "frame"], False),
        "tracks[0].keyframes[0].frame",
        "expected an integer, got false",
    ),
    "polyline without width": (
        lambda d: d["tracks"][0].pop("width"),
        "tracks[0].width",
        "needs a stroke width",
    ),
    "stroke width zero": (track0(width=0), "tracks[0].width", "> 0"),
    "negative expand": (
        track0(expand=-1),
        "tracks[0].expand",
        "expected a number >= 0 (px), got -1",
    ),
    "negative keyframe feather": (
        lambda d: set_path(d, ["tracks", 0, "keyframes", 0, "feather"], -0.5),
        "tracks[0].keyframes[0].feather",
        ">= 0",
    ),
    "range inverted": (track0(range=[8, 2]), "tracks[0].range", "range inverted"),
    "range of floats": (track0(range=[0, 4.5]), "tracks[0].range[1]", "expected an integer"),
    "range with one frame": (track0(range=[3]), "tracks[0].range", "[first, last]"),
    "unknown interpolation": (
        track0(interpolation="cubic"),
        "tracks[0].interpolation",
        "linear, hold, smooth",
    ),
    "point with three numbers": (
        lambda d: set_path(d, ["tracks", 0, "keyframes", 0, "points", 1], [1, 2, 3]),
        "tracks[0].keyframes[0].points[1]",
        "expected a point [x, y]",
    ),
    "coordinate a string": (
        lambda d: set_path(d, ["tracks", 0, "keyframes", 0, "points", 1], ["1", 2]),
        "tracks[0].keyframes[0].points[1][0]",
        "expected a number",
    ),
    "coordinate absurd": (
        lambda d: set_path(d, ["tracks", 0, "keyframes", 0, "points", 1], [1e12, 2]),
        "tracks[0].keyframes[0].points[1][0]",
        "finite number within",
    ),
    "ellipse axis zero": (
        lambda d: set_path(d, ["tracks", 1, "keyframes", 0, "axes"], [4, 0]),
        "tracks[1].keyframes[0].axes[1]",
        "> 0",
    ),
    "ellipse axes count": (
        lambda d: set_path(d, ["tracks", 1, "keyframes", 0, "axes"], [4]),
        "tracks[1].keyframes[0].axes",
        "[rx, ry]",
    ),
    "ellipse without center": (
        lambda d: d["tracks"][1]["keyframes"][0].pop("center"),
        "tracks[1].keyframes[0].center",
        "required key is missing",
    ),
    "unknown keyframe key": (
        lambda d: set_path(d, ["tracks", 1, "keyframes", 0, "angel"], 3),
        "tracks[1].keyframes[0].angel",
        'did you mean "angle"?',
    ),
    "too many points": (
        lambda d: set_path(
            d, ["tracks", 0, "keyframes"], [{"frame": 0, "points": [[0, 0]] * 10_001}]
        ),
        "tracks[0].keyframes[0].points",
        "at most 10000 points",
    ),
    "raster without source": (
        lambda d: d["tracks"].__setitem__(0, {"id": "r", "shape": "raster"}),
        "tracks[0].source",
        "required key is missing",
    ),
    "raster with keyframes": (
        raster({"format": "png", "path": "m.png"}, keyframes=[]),
        "tracks[0].keyframes",
        "not used by raster tracks",
    ),
    "unknown raster format": (
        raster({"format": "exr", "path": "m.exr"}),
        "tracks[0].source.format",
        "png, coco_rle, video",
    ),
    "coco frame key not a number": (
        raster({"format": "coco_rle", "frames": {"first": {"size": [H, W], "counts": "0"}}}),
        'tracks[0].source.frames["first"]',
        "frame number",
    ),
    "coco negative list count": (
        raster({"format": "coco_rle", "frames": {"0": {"size": [H, W], "counts": [5, -1]}}}),
        'tracks[0].source.frames["0"].counts[1]',
        "run length >= 0",
    ),
    "coco counts wrong type": (
        raster({"format": "coco_rle", "frames": {"0": {"size": [H, W], "counts": 12}}}),
        'tracks[0].source.frames["0"].counts',
        "RLE string or a list",
    ),
}


@pytest.mark.parametrize("case", STRUCTURE_CASES)
def test_structure_errors_name_the_json_path(tmp_path, case):
    edit, json_path, *fragments = STRUCTURE_CASES[case]
    message, label = load_error(tmp_path, edited(edit))
    check(message, label, json_path, *fragments)


def test_valid_document_loads(tmp_path):
    # The base of every case above is itself valid, so each case fails for its own reason.
    path = tmp_path / "wires.json"
    path.write_text(json.dumps(VALID))
    assert load_mask_track(path, W, H, FRAMES).alpha(2).max() == 1.0


def test_json_syntax_error_gives_line_and_column(tmp_path):
    text = '{\n  "schema": "moebius.masktrack/1",\n  "width": 32\n  "height": 24\n}'
    message, label = load_error(tmp_path, text=text)
    assert "line 4 column 3: invalid JSON" in message, message


def test_nan_is_refused(tmp_path):
    text = json.dumps(VALID).replace('"width": 2,', '"width": NaN,')
    message, _ = load_error(tmp_path, text=text)
    assert "NaN is not a JSON number" in message, message


def test_duplicate_key_is_refused(tmp_path):
    text = json.dumps(VALID).replace('"width": 32,', '"width": 32, "width": 64,')
    message, _ = load_error(tmp_path, text=text)
    assert "duplicate key 'width'" in message, message


def test_top_level_not_an_object(tmp_path):
    message, label = load_error(tmp_path, text="[1, 2]")
    check(message, label, "top level", "expected an object, got [1, 2]")


def test_not_utf8(tmp_path):
    path = tmp_path / "wires.json"
    path.write_bytes(b'{"schema": "\xff\xfe"}')
    with pytest.raises(MaskTrackError, match="not UTF-8"):
        load_mask_track(path, W, H, FRAMES)


def test_missing_mask_track_file(tmp_path):
    with pytest.raises(MaskTrackError, match=r"wires\.json: cannot read the mask track: .*no such"):
        load_mask_track(tmp_path / "wires.json", W, H, FRAMES)
    with pytest.raises(MaskTrackError, match="mask track not found"):
        load_mask_track(tmp_path / "matte.mov", W, H, FRAMES)


def test_canvas_size_mismatch_without_scale_to_video(tmp_path):
    message, label = load_error(tmp_path, VALID, width=64, height=48)
    check(message, label, "width, height", "canvas is 32x24 but the video is 64x48",
          '"scale_to_video": true')  # fmt: skip


def test_range_entirely_outside_the_clip(tmp_path):
    message, label = load_error(tmp_path, edited(track0(range=[50, 60])))
    check(message, label, "tracks[0].range", "covers frames 50-60, entirely outside the clip",
          "frames 0-9")  # fmt: skip


def test_keyframes_entirely_outside_the_clip_name_frame_base(tmp_path):
    # The classic: frames numbered from 1001 but no frame_base.
    def shift(d):
        for track in d["tracks"]:
            for kf in track["keyframes"]:
                kf["frame"] += 1001

    message, label = load_error(tmp_path, edited(shift))
    check(message, label, "tracks[0].keyframes", "frames 1001-1010", "frame_base 0")


# ---------------------------------------------------------------------------------------------
# Raster files


def test_unreadable_raster_path(tmp_path):
    message, label = load_error(tmp_path, edited(raster({"format": "png", "path": "roto/m.png"})))
    check(message, label, "tracks[0].source.path", "no such file")


def test_raster_path_is_a_directory_without_pngs(tmp_path):
    (tmp_path / "empty").mkdir()
    message, label = load_error(tmp_path, edited(raster({"format": "png", "path": "empty"})))
    check(message, label, "tracks[0].source.path", "no .png files")


def test_png_of_the_wrong_size(tmp_path):
    write_png(tmp_path / "m.png", np.zeros((H + 1, W), np.uint8))
    message, label = load_error(tmp_path, edited(raster({"format": "png", "path": "m.png"})))
    check(message, label, "tracks[0].source.path", "is 32x25, expected the canvas size 32x24")


def test_file_that_is_not_a_png(tmp_path):
    (tmp_path / "m.png").write_text("not an image")
    message, label = load_error(tmp_path, edited(raster({"format": "png", "path": "m.png"})))
    check(message, label, "tracks[0].source.path", "not a PNG file")


def test_png_sequence_with_a_missing_frame(tmp_path):
    for k in (0, 1, 2, 4, 5, 6, 7, 8, 9):
        write_png(tmp_path / "roto" / f"m.{k:03d}.png", np.zeros((H, W), np.uint8))
    message, label = load_error(
        tmp_path, edited(raster({"format": "png", "path": "roto/m.%03d.png"}))
    )
    check(message, label, "tracks[0].source", "no mask for frame 3")


def test_png_pattern_with_two_numbers(tmp_path):
    message, label = load_error(
        tmp_path, edited(raster({"format": "png", "path": "roto/m.%03d.%d.png"}))
    )
    check(message, label, "tracks[0].source.path", "one frame number like %04d, #### or %d")


def test_coco_size_mismatch(tmp_path):
    counts = rle_string(rle_counts(np.zeros((H * 2, W * 2), bool)))
    source = {"format": "coco_rle", "frames": {"3": {"size": [2 * H, 2 * W], "counts": counts}}}
    message, label = load_error(tmp_path, edited(raster(source)))
    check(message, label, 'tracks[0].source.frames["3"].size', "expected [24, 32]", "got [48, 64]")


def test_coco_counts_that_do_not_cover_the_mask(tmp_path):
    source = {"format": "coco_rle", "frames": {"3": {"size": [H, W], "counts": [10, 5]}}}
    message, label = load_error(tmp_path, edited(raster(source)))
    check(message, label, 'tracks[0].source.frames["3"].counts', "runs cover 15 pixels",
          "768")  # fmt: skip


def test_coco_runs_that_wrap_around_int64_are_refused(tmp_path):
    # 64 runs of 2**58 sum to 2**64, which int64 wraps to 0: with the last run the total
    # reads as exactly H x W, and np.repeat used to be handed runs of 2**58 (SIGSEGV).
    counts = [0] + [2**58] * 64 + [H * W]
    source = {"format": "coco_rle", "frames": {"3": {"size": [H, W], "counts": rle_string(counts)}}}
    message, label = load_error(tmp_path, edited(raster(source)))
    check(message, label, 'tracks[0].source.frames["3"].counts', "more than the 24 x 32")
    source["frames"]["3"]["counts"] = [0] + [2**62] * 4 + [H * W]
    message, label = load_error(tmp_path, edited(raster(source)))
    check(message, label, 'tracks[0].source.frames["3"].counts[1]', "more than the 24 x 32")
    source["frames"]["3"]["counts"] = [0, 2**64]
    message, label = load_error(tmp_path, edited(raster(source)))
    check(message, label, 'tracks[0].source.frames["3"].counts[1]', "more than the 24 x 32")


def test_huge_numbers_and_deep_nesting_are_refused(tmp_path):
    # Python refuses ints past 4300 digits with a bare ValueError, and json recursion past
    # ~1000 levels with RecursionError: both must be located bad-input errors.
    text = json.dumps(VALID).replace('"width": 32,', '"width": ' + "9" * 5000 + ",")
    message, _ = load_error(tmp_path, text=text)
    assert "a number of 5000 digits" in message, message
    text = json.dumps(VALID)[:-1] + ', "deep": ' + "[" * 5000 + "]" * 5000 + "}"
    message, _ = load_error(tmp_path, text=text)
    assert "nested too deep" in message, message
    text = json.dumps(VALID)[:-1] + ', "deep": ' + "[" * 100 + "]" * 100 + "}"
    message, _ = load_error(tmp_path, text=text)
    assert "nested too deep" in message, message


def test_coco_string_with_bad_characters(tmp_path):
    source = {"format": "coco_rle", "frames": {"3": {"size": [H, W], "counts": "0<~~"}}}
    message, label = load_error(tmp_path, edited(raster(source)))
    check(message, label, 'tracks[0].source.frames["3"].counts', "not a COCO RLE string")


def test_coco_string_truncated(tmp_path):
    source = {"format": "coco_rle", "frames": {"3": {"size": [H, W], "counts": "0<P"}}}
    message, label = load_error(tmp_path, edited(raster(source)))
    check(message, label, 'tracks[0].source.frames["3"].counts', "truncated")


def test_matte_that_is_not_a_video(tmp_path):
    (tmp_path / "matte.mov").write_bytes(b"\x00" * 1000)
    message, label = load_error(tmp_path, edited(raster({"format": "video", "path": "matte.mov"})))
    check(message, label, "tracks[0].source.path", "cannot open as a video")


def test_matte_video_of_the_wrong_size(tmp_path):
    write_matte_video(tmp_path / "matte.mkv", [np.zeros((H * 2, W * 2), bool)] * 3)
    message, label = load_error(tmp_path, edited(raster({"format": "video", "path": "matte.mkv"})))
    check(message, label, "tracks[0].source.path", "is 64x48, expected the canvas size 32x24")


def test_matte_video_shorter_than_its_range(tmp_path):
    write_matte_video(tmp_path / "matte.mkv", [np.zeros((H, W), bool)] * 4)
    source = {"format": "video", "path": "matte.mkv"}
    message, label = load_error(tmp_path, edited(raster(source, range=[2, 8])))
    check(message, label, "tracks[0].source", "no mask for frame 6", "2-8")


# ---------------------------------------------------------------------------------------------
# Rasters given directly (no JSON): the message names the file


def test_direct_png_folder_with_the_wrong_count(tmp_path):
    for k in range(FRAMES - 1):
        write_png(tmp_path / "masks" / f"{k:03d}.png", np.zeros((H, W), np.uint8))
    with pytest.raises(MaskTrackError, match=r"masks: 9 masks for a clip of 10 frames"):
        load_mask_track(tmp_path / "masks", W, H, FRAMES)


def test_direct_png_of_the_wrong_size(tmp_path):
    write_png(tmp_path / "m.png", np.zeros((H, W), np.uint8))
    with pytest.raises(MaskTrackError, match=r"m\.png is 32x24, expected the video size 64x48"):
        load_mask_track(tmp_path / "m.png", 64, 48, FRAMES)


def test_matte_that_is_a_still_image(tmp_path):
    write_png(tmp_path / "matte.png", np.zeros((H, W), np.uint8))
    message, label = load_error(tmp_path, edited(raster({"format": "video", "path": "matte.png"})))
    check(message, label, "tracks[0].source.path", "is a still image, not a matte video")


def test_matte_video_that_is_truncated(tmp_path):
    # faststart puts the index first, so the cut file still opens; its frames stop early
    import av

    masks = [np.zeros((H, W), bool)] * FRAMES
    write_matte_video(tmp_path / "full.mp4", masks, codec="libx264", pix_fmt="yuv420p")
    with (
        av.open(str(tmp_path / "full.mp4")) as src,
        av.open(str(tmp_path / "matte.mp4"), "w", options={"movflags": "+faststart"}) as dst,
    ):
        stream = dst.add_stream_from_template(src.streams.video[0])
        for packet in src.demux(src.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                dst.mux(packet)
    data = (tmp_path / "matte.mp4").read_bytes()
    (tmp_path / "matte.mp4").write_bytes(data[: int(len(data) * 0.6)])
    message, label = load_error(tmp_path, edited(raster({"format": "video", "path": "matte.mp4"})))
    check(message, label, "tracks[0].source.path", "truncated")


def test_direct_png_folder_with_a_number_missing_in_the_middle(tmp_path):
    for k in [*range(1, 5), *range(6, FRAMES + 1)]:  # roto.0005.png is missing
        write_png(tmp_path / "masks" / f"roto.{k:04d}.png", np.zeros((H, W), np.uint8))
    with pytest.raises(MaskTrackError, match=r"masks: frame 4 is missing"):
        load_mask_track(tmp_path / "masks", W, H, FRAMES)
