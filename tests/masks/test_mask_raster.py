"""Raster sources, through real files: PNG sequences and folders, single PNGs, COCO RLE (checked
against strings written by pycocotools), and matte videos encoded with PyAV."""

from __future__ import annotations

import os

import numpy as np
import pytest
from masktest_helpers import rle_counts, rle_string, write_matte_video, write_png

from moebius_video.errors import MaskTrackError
from moebius_video.masks import load_mask_track
from moebius_video.masks.raster import decode_rle_string, rle_counts_to_mask

W, H = 32, 24


def frame_mask(k: int, width: int = W, height: int = H) -> np.ndarray:
    """A different, easily recognised mask per frame: a bar that moves right, plus a dot."""
    mask = np.zeros((height, width), dtype=bool)
    mask[4:20, 2 + k : 6 + k] = True
    mask[k % height, width - 3] = True
    return mask


def raster_doc(source: dict, **track) -> dict:
    return {
        "schema": "moebius.masktrack/1",
        "width": W,
        "height": H,
        "tracks": [{"id": "roto", "shape": "raster", "source": source, **track}],
    }


def known_mask(height: int, width: int) -> np.ndarray:
    """The mask the pycocotools strings below were made from."""
    y, x = np.mgrid[0:height, 0:width]
    blob = (x - 0.6 * width) ** 2 / (0.3 * width) ** 2 + (y - 0.45 * height) ** 2 / (
        0.35 * height
    ) ** 2 < 1
    stripes = ((x * 7 + y * 3) % 11 < 3) & (x < width // 3)
    return blob | stripes


# pycocotools 2.0.11: mask.encode(np.asfortranarray(known_mask(24, 32).astype(np.uint8)))
PYCOCOTOOLS_24x32 = (
    "013000O01000O010O01000O01030M0O01000O010O01000O01000O010O01000O010O01000O01000O010O01000O"
    "010O01000O01000O010O01000O010O01000O01000O07484M2N2N101N10001O000000O2O001N1O2N3MQ2"
)
# ... and for a 1000 x 1200 mask with two rectangles (long runs, multi-character counts).
PYCOCOTOOLS_RECTANGLES = "T]S6Pi0X6" + "0" * 997 + "b^W<bXOlXiC" + "0" * 197


def test_rle_decoder_matches_pycocotools_strings():
    counts = decode_rle_string(PYCOCOTOOLS_24x32)
    np.testing.assert_array_equal(rle_counts_to_mask(counts, 24, 32), known_mask(24, 32))
    rectangles = np.zeros((1000, 1200), dtype=bool)
    rectangles[100:900, 200:700] = True
    rectangles[950:, 1100:] = True
    counts = decode_rle_string(PYCOCOTOOLS_RECTANGLES)
    np.testing.assert_array_equal(rle_counts_to_mask(counts, 1000, 1200), rectangles)
    # pycocotools: all ones 3x4 -> "0<", all zeros -> "<".
    np.testing.assert_array_equal(decode_rle_string("0<"), [0, 12])
    np.testing.assert_array_equal(decode_rle_string("<"), [12])


def test_rle_test_encoder_agrees_with_pycocotools():
    # The test helper's encoder reproduces the reference string, so the tests below that use it
    # exercise the format as SAM and pycocotools write it.
    assert rle_string(rle_counts(known_mask(24, 32))) == PYCOCOTOOLS_24x32


def test_coco_rle_track_string_and_list_forms():
    masks = {1001: frame_mask(0), 1003: frame_mask(5)}
    frames = {
        "1001": {"size": [H, W], "counts": rle_string(rle_counts(masks[1001]))},
        "1003": {"size": [H, W], "counts": rle_counts(masks[1003])},  # uncompressed form
    }
    data = raster_doc({"format": "coco_rle", "frames": frames})
    data["frame_base"] = 1001
    track = load_mask_track(data, W, H, 5)
    np.testing.assert_array_equal(track.alpha(0), masks[1001])
    assert track.alpha(1).max() == 0.0  # not listed: empty
    np.testing.assert_array_equal(track.alpha(2), masks[1003])
    assert track.alpha(3).max() == 0.0  # after the last listed frame (default range)
    assert track.box(0) == (2, 0, 30, 20)


def test_rle_decoder_fuzz_gives_a_mask_or_a_clean_error():
    # Seeded mutations of valid counts, in both forms: a mask of the canvas or a
    # MaskTrackError, never another exception (the old decoder crashed on summed overflows).
    rng = np.random.default_rng(20261204)
    good = rle_counts(frame_mask(3))
    alphabet = [chr(c) for c in range(40, 120)]
    outcomes = {"mask": 0, "error": 0}
    for case in range(1500):
        counts = list(good)
        how = case % 5
        if how == 0:  # one count replaced by a hostile integer
            counts[rng.integers(len(counts))] = int(
                rng.choice([-1, 0, 2**31, 2**62, 2**63 - 1, -(2**63), W * H, W * H + 1])
            )
        elif how == 1:  # counts dropped or duplicated
            k = int(rng.integers(len(counts)))
            counts = counts[:k] + counts[k + 1 :] if rng.random() < 0.5 else counts + counts[k:]
        elif how == 2:  # two counts that sum past int64
            counts = [2**62, 2**62, 2**62, W * H]
        text = rle_string([max(0, min(c, 2**59)) for c in counts])
        if how == 3:  # characters changed in the string form
            chars = list(text)
            for _ in range(int(rng.integers(1, 4))):
                chars[int(rng.integers(len(chars)))] = str(rng.choice(alphabet))
            text = "".join(chars)
        elif how == 4:  # cut short, or run on
            text = text[: int(rng.integers(len(text)))] + "o" * int(rng.integers(0, 14))
        for form in (counts, text):
            frames = {"0": {"size": [H, W], "counts": form}}
            document = raster_doc({"format": "coco_rle", "frames": frames})
            try:
                mask = load_mask_track(document, W, H, 1).alpha(0)
            except MaskTrackError as exc:
                assert "counts" in str(exc), exc
                outcomes["error"] += 1
            else:
                assert mask.shape == (H, W)
                outcomes["mask"] += 1
    assert outcomes["mask"] > 100 and outcomes["error"] > 1000, outcomes


def test_coco_rle_several_objects_per_frame_are_united():
    a, b = frame_mask(0), frame_mask(9)
    frames = {"0": [{"size": [H, W], "counts": rle_string(rle_counts(m))} for m in (a, b)]}
    track = load_mask_track(raster_doc({"format": "coco_rle", "frames": frames}), W, H, 1)
    np.testing.assert_array_equal(track.alpha(0), a | b)


def test_png_pattern_numbers_are_frame_numbers(tmp_path):
    for k in range(6):
        write_png(
            tmp_path / "roto" / f"roto.{1001 + k:04d}.png", frame_mask(k).astype(np.uint8) * 255
        )
    write_png(tmp_path / "roto" / "roto.1002.png.bak.png", np.zeros((H, W), np.uint8))  # no match
    (tmp_path / "shot.json").write_text(
        '{"schema": "moebius.masktrack/1", "width": 32, "height": 24, "frame_base": 1001,'
        ' "tracks": [{"id": "roto", "shape": "raster",'
        ' "source": {"format": "png", "path": "roto/roto.%04d.png"}}]}'
    )
    track = load_mask_track(tmp_path / "shot.json", W, H, 6)
    for index in (0, 3, 5, 2):
        np.testing.assert_array_equal(track.alpha(index), frame_mask(index), err_msg=f"{index}")


def test_png_folder_is_read_in_natural_order_from_the_range_start(tmp_path):
    folder = tmp_path / "masks"
    for k in range(11):  # mask_0 .. mask_10: natural order puts mask_2 before mask_10
        write_png(folder / f"mask_{k}.png", frame_mask(k).astype(np.uint8) * 255)
    (folder / ".DS_Store").write_bytes(b"junk")
    (folder / "notes.txt").write_text("ignored")
    data = raster_doc({"format": "png", "path": "masks"}, range=[10, 20])
    track = load_mask_track(data, W, H, 25, base_dir=tmp_path)
    assert track.alpha(9).max() == 0.0
    for k in (0, 2, 10):
        np.testing.assert_array_equal(track.alpha(10 + k), frame_mask(k), err_msg=f"file {k}")


def test_single_png_is_the_same_mask_on_every_frame_and_alpha_channels(tmp_path):
    mask = frame_mask(3)
    rgba = np.zeros((H, W, 4), np.uint8)
    rgba[..., :3] = 255  # white everywhere: only the alpha channel says what to remove
    rgba[..., 3] = mask * 255
    write_png(tmp_path / "static.png", rgba)
    track = load_mask_track(raster_doc({"format": "png", "path": "static.png"}), W, H, 4,
                            base_dir=tmp_path)  # fmt: skip
    for index in range(4):
        np.testing.assert_array_equal(track.alpha(index), mask)
    # Opaque RGBA: the colour says it. 16-bit grey: any non-zero value.
    rgba[..., 3] = 255
    rgba[..., :3] = (mask * 40)[..., None]
    write_png(tmp_path / "opaque.png", rgba)
    grey16 = (frame_mask(7) * 3).astype(np.uint16)  # 3/65535: non-zero is non-zero
    write_png(tmp_path / "grey16.png", grey16)
    for name, expected in (("opaque.png", mask), ("grey16.png", frame_mask(7))):
        data = raster_doc({"format": "png", "path": name})
        np.testing.assert_array_equal(
            load_mask_track(data, W, H, 2, base_dir=tmp_path).alpha(1), expected
        )


@pytest.mark.parametrize(
    ("codec", "pix_fmt", "suffix"),
    [("ffv1", "gray", ".mkv"), ("libx264", "yuv420p", ".mp4")],
)
def test_matte_video_any_order(tmp_path, codec, pix_fmt, suffix):
    masks = [frame_mask(k) for k in range(20)]
    write_matte_video(tmp_path / f"matte{suffix}", masks, codec=codec, pix_fmt=pix_fmt)
    data = raster_doc({"format": "video", "path": f"matte{suffix}"})
    with load_mask_track(data, W, H, 20, base_dir=tmp_path) as track:
        # Forward, a jump back (seek), a jump ahead past the cache, sequential again.
        for index in [0, 1, 2, 3, 17, 18, 4, 5, 19, 11, 10, 9, 12]:
            np.testing.assert_array_equal(
                track.alpha(index), masks[index], err_msg=f"{codec}: frame {index}"
            )


def test_matte_video_luma_threshold_is_half(tmp_path):
    import av

    levels = [0, 100, 126, 129, 160, 255]  # grey levels, one frame each
    path = tmp_path / "levels.mkv"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("ffv1", rate=25)
        stream.width, stream.height, stream.pix_fmt = W, H, "gray"
        for level in levels:
            frame = av.VideoFrame.from_ndarray(np.full((H, W), level, np.uint8), format="gray")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    with load_mask_track(path, W, H, len(levels)) as track:
        got = [bool(track.alpha(i).max()) for i in range(len(levels))]
    assert got == [level / 255 > 0.5 for level in levels]


def test_raster_expand_feather_and_scale_to_video(tmp_path):
    big = np.zeros((2 * H, 2 * W), dtype=bool)
    big[10:30, 20:40] = True  # 20 x 20 on a 64 x 48 canvas -> 10 x 10 on the video
    write_png(tmp_path / "big.png", big.astype(np.uint8) * 255)
    data = raster_doc({"format": "png", "path": "big.png"}, expand=4)
    data.update(width=2 * W, height=2 * H, scale_to_video=True)
    alpha = load_mask_track(data, W, H, 1, base_dir=tmp_path).alpha(0)
    # Video px: the square is [10, 20) x [5, 15), expand 4 canvas px = 2 video px.
    assert alpha[5:15, 8:22].min() == 1.0
    assert alpha[10, 7] == 0.0 and alpha[10, 22] == 0.0 and alpha[2, 15] == 0.0
    data["tracks"][0].update(expand=0, feather=8)  # 4 video px of ramp
    alpha = load_mask_track(data, W, H, 1, base_dir=tmp_path).alpha(0)
    np.testing.assert_allclose(alpha[10, 20:25], [0.875, 0.625, 0.375, 0.125, 0.0])


def test_direct_inputs_without_json(tmp_path):
    masks = [frame_mask(k) for k in range(5)]
    for k, mask in enumerate(masks):
        write_png(tmp_path / "seq" / f"shot.{1001 + k:04d}.png", mask.astype(np.uint8) * 255)
        write_png(tmp_path / "folder" / f"{k:03d}.png", mask.astype(np.uint8) * 255)
    write_png(tmp_path / "one.png", masks[2].astype(np.uint8) * 255)
    write_matte_video(tmp_path / "matte.mkv", masks)

    pattern = load_mask_track(str(tmp_path / "seq" / "shot.%04d.png"), W, H, 5)
    assert pattern.frame_base == 0  # the first file (shot.1001.png) is frame index 0
    folder = load_mask_track(tmp_path / "folder", W, H, 5)
    matte = load_mask_track(tmp_path / "matte.mkv", W, H, 5)
    single = load_mask_track(tmp_path / "one.png", W, H, 5)
    for index in (0, 4, 1):
        for track in (pattern, folder, matte):
            np.testing.assert_array_equal(track.alpha(index), masks[index], err_msg=repr(track))
        np.testing.assert_array_equal(single.alpha(index), masks[2])
    matte.close()


def test_symlinked_masks_are_followed(tmp_path):
    write_png(tmp_path / "real.png", frame_mask(1).astype(np.uint8) * 255)
    os.symlink(tmp_path / "real.png", tmp_path / "link.png")
    data = raster_doc({"format": "png", "path": "link.png"})
    np.testing.assert_array_equal(
        load_mask_track(data, W, H, 1, base_dir=tmp_path).alpha(0), frame_mask(1)
    )


def test_absolute_and_parent_paths_allowed_unless_confined(tmp_path):
    shot = tmp_path / "shots" / "sh010"
    shot.mkdir(parents=True)
    write_png(tmp_path / "shared" / "garbage_matte.png", frame_mask(2).astype(np.uint8) * 255)
    for path in (str(tmp_path / "shared" / "garbage_matte.png"), "../../shared/garbage_matte.png"):
        data = raster_doc({"format": "png", "path": path})
        track = load_mask_track(data, W, H, 1, base_dir=shot)
        np.testing.assert_array_equal(track.alpha(0), frame_mask(2))
        with pytest.raises(MaskTrackError, match=r"tracks\[0\]\.source\.path"):
            load_mask_track(data, W, H, 1, base_dir=shot, confine_to=shot)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_fifo_is_refused_without_blocking(tmp_path):
    os.mkfifo(tmp_path / "pipe.png")
    data = raster_doc({"format": "png", "path": "pipe.png"})
    with pytest.raises(MaskTrackError, match=r"tracks\[0\]\.source\.path: .*not a regular file"):
        load_mask_track(data, W, H, 1, base_dir=tmp_path)
    os.mkfifo(tmp_path / "pipe.json")
    with pytest.raises(MaskTrackError, match="not a regular file"):
        load_mask_track(tmp_path / "pipe.json", W, H, 1)


def test_a_single_png_scaled_to_the_video_is_resampled_once(tmp_path):
    mask = np.zeros((H * 8, W * 8), np.uint8)
    mask[40:120, 30:200] = 255
    write_png(tmp_path / "big.png", mask)
    doc = raster_doc({"format": "png", "path": "big.png"})
    doc["width"], doc["height"], doc["scale_to_video"] = W * 8, H * 8, True
    with load_mask_track(doc, W, H, 50, base_dir=tmp_path) as track:
        (source_track,) = track._tracks  # the one raster track
        reads = []
        original = source_track.source.mask
        source_track.source.mask = lambda frame: reads.append(frame) or original(frame)
        alphas = [track.alpha(t) for t in range(50)]
    assert len(reads) == 1, f"the static PNG was read and resampled {len(reads)} times"
    assert all(np.array_equal(a, alphas[0]) for a in alphas) and alphas[0].max() == 1.0
