"""composite(): fills blend into the source pixel format; alpha == 0 keeps samples exactly."""

from __future__ import annotations

import av
import cv2
import numpy as np
import pytest
from iotest_helpers import picture, planes

from moebius_video.io import DecodedFrame, composite
from moebius_video.io.pixels import (
    SWS_CROP_FLAGS,
    Conversion,
    CropReformatters,
    from_rgb,
    plane_layouts,
    rgb_format,
    to_rgb,
)
from moebius_video.patches import FramePatch, banded_patches, mask_box

FORMATS = [
    "yuv420p",
    "yuv422p",
    "yuv444p",
    "yuvj420p",
    "yuv420p10le",
    "yuv422p10le",
    "yuva444p10le",
    "nv12",
    "p010le",
    "gbrp",
    "gbrp10le",
    "rgb24",
    "bgr0",
    "rgb48le",
    "gray",
]


def decoded_frame(pix_fmt: str, width: int = 66, height: int = 50, index: int = 3):
    """A frame as the decoder would give it: source samples plus their RGB conversion."""
    deep = max(c.bits for c in av.VideoFormat(pix_fmt).components) > 8
    rgb = picture(index, width, height, deep)
    source = from_rgb(rgb, pix_fmt, Conversion.for_stream(pix_fmt, _tags()))
    source.colorspace, source.color_range = 1, 2 if pix_fmt.startswith("yuvj") else 1
    source.pts = 1234
    rgb_out = to_rgb(source, Conversion.for_frame(source), rgb_format(16 if deep else 8))
    return DecodedFrame(index=index, pts=1234, rgb=rgb_out, source=source)


def _tags():
    from moebius_video.io import ColorTags

    return ColorTags("bt709", "bt709", "bt709", "tv")


def feathered_patch(frame: DecodedFrame, x0: int, y0: int, w: int, h: int) -> FramePatch:
    alpha = np.zeros((h, w), np.float32)
    alpha[2:-2, 2:-2] = 1.0
    alpha[1, 1:-1] = 0.5
    alpha[-2, 1:-1] = 0.25
    colour = np.array([250, 20, 200]) * (257 if frame.rgb.dtype == np.uint16 else 1)
    rgb = np.broadcast_to(colour.astype(frame.rgb.dtype), (h, w, 3)).copy()
    return FramePatch(frame.index, x0, y0, rgb, alpha)


def block_alpha(alpha_full: np.ndarray, x_shift: int, y_shift: int, rows: int, cols: int):
    """Reference resampling: a plane sample's alpha is the max over its luma block."""
    out = np.zeros((rows, cols), np.float32)
    for r in range(rows):
        for c in range(cols):
            block = alpha_full[r << y_shift : (r + 1) << y_shift, c << x_shift : (c + 1) << x_shift]
            out[r, c] = block.max() if block.size else 0
    return out


@pytest.mark.parametrize("pix_fmt", FORMATS)
def test_only_samples_under_the_mask_change(pix_fmt):
    frame = decoded_frame(pix_fmt)
    # An odd corner: the box does not start on a chroma sample.
    patch = feathered_patch(frame, x0=5, y0=7, w=31, h=25)
    out = composite(frame, [patch])
    assert out.format.name == pix_fmt and out is not frame.source
    assert (out.pts, out.colorspace, out.color_range) == (
        1234,
        frame.source.colorspace,
        frame.source.color_range,
    )
    alpha_full = np.zeros((frame.source.height, frame.source.width), np.float32)
    alpha_full[7:32, 5:36] = patch.alpha
    layouts = plane_layouts(pix_fmt, out.width, out.height)
    before, after = planes(frame.source), planes(out)
    changed_somewhere = False
    for layout, src, dst in zip(layouts, before, after, strict=True):
        rows, cols = src.shape[:2]
        alpha = block_alpha(alpha_full, layout.x_shift, layout.y_shift, rows, cols)
        untouched = alpha == 0
        assert np.array_equal(src[untouched], dst[untouched]), (
            f"{pix_fmt} plane {layout.index}: samples with alpha 0 changed"
        )
        for position in layout.keep:  # alpha channels and padding bytes
            assert np.array_equal(src[..., position], dst[..., position])
        changed_somewhere |= bool(np.any(src[~untouched] != dst[~untouched]))
    assert changed_somewhere, f"{pix_fmt}: the fill did not reach the frame"
    # Where alpha is 1 the output shows the fill colour (through the same conversion back),
    # a few pixels in from the edge, where upsampled chroma mixes in the neighbours.
    back = to_rgb(
        out, Conversion.for_frame(out), rgb_format(8 if frame.rgb.dtype == np.uint8 else 16)
    )
    inner = back[14:26, 12:29].reshape(-1, 3).astype(float)
    target = patch.rgb[0, 0].astype(float)
    if pix_fmt == "gray":
        target = np.full(3, target.mean())  # gray keeps luma only
        tolerance = 0.45 * np.iinfo(frame.rgb.dtype).max
    else:
        tolerance = 0.03 * np.iinfo(frame.rgb.dtype).max
    error = np.abs(inner - target).max()
    assert error <= tolerance, f"{pix_fmt}: fill colour off by {error} (tolerance {tolerance})"


def test_partial_alpha_blends_between_source_and_fill():
    frame = decoded_frame("yuv444p")
    alpha = np.full((10, 10), 0.5, np.float32)
    fill = np.zeros((10, 10, 3), np.uint8)
    out = composite(frame, [FramePatch(frame.index, 20, 20, fill, alpha)])
    src_y, out_y = planes(frame.source)[0][20:30, 20:30, 0], planes(out)[0][20:30, 20:30, 0]
    black_y = 16  # limited-range luma of RGB black
    expected = np.rint(src_y + 0.5 * (black_y - src_y.astype(np.float32)))
    assert np.abs(out_y.astype(int) - expected).max() <= 1, "luma is not the 50% blend"


def test_odd_sized_frame_with_a_patch_on_the_edge():
    frame = decoded_frame("yuv420p", width=63, height=47)
    patch = feathered_patch(frame, x0=50, y0=36, w=13, h=11)  # touches right and bottom
    out = composite(frame, [patch])
    before, after = planes(frame.source), planes(out)
    assert np.array_equal(before[0][:36], after[0][:36])
    assert np.array_equal(before[1][:18], after[1][:18])  # chroma rows above the patch
    assert not np.array_equal(before[0], after[0])


def test_no_patches_returns_the_source_frame():
    frame = decoded_frame("yuv420p")
    assert composite(frame, []) is frame.source
    empty = FramePatch(
        frame.index, 0, 0, np.zeros((4, 4, 3), np.uint8), np.zeros((4, 4), np.float32)
    )
    out = composite(frame, [empty])
    for src, dst in zip(planes(frame.source), planes(out), strict=True):
        assert np.array_equal(src, dst)


def test_overlapping_patches_apply_in_order():
    frame = decoded_frame("yuv444p")
    ones = np.ones((8, 8), np.float32)
    red = FramePatch(frame.index, 10, 10, np.full((8, 8, 3), (255, 0, 0), np.uint8), ones)
    blue = FramePatch(frame.index, 14, 10, np.full((8, 8, 3), (0, 0, 255), np.uint8), ones)
    out = composite(frame, [red, blue])
    back = to_rgb(out, Conversion.for_frame(out), "rgb24")
    assert back[12, 11, 0] > 240 and back[12, 15, 2] > 240  # red left, blue on top right


def test_image_sequence_frames_blend_in_rgb():
    rgb = picture(0, 40, 30)
    frame = DecodedFrame(index=0, pts=0, rgb=rgb, source=None)
    alpha = np.zeros((10, 10), np.float32)
    alpha[3:7, 3:7] = 1
    alpha[2, 2] = 0.5
    fill = np.full((10, 10, 3), 7, np.uint8)
    out = composite(frame, [FramePatch(0, 5, 5, fill, alpha)])
    assert isinstance(out, np.ndarray) and out is not rgb
    mask = np.zeros((30, 40), bool)
    mask[5:15, 5:15] = alpha > 0
    assert np.array_equal(out[~mask], rgb[~mask])
    assert np.all(out[8:12, 8:12] == 7)
    assert np.array_equal(out[7, 7], np.rint(rgb[7, 7] + 0.5 * (7 - rgb[7, 7].astype(np.float32))))


def test_bad_patches_are_refused():
    frame = decoded_frame("yuv420p")
    ok_alpha = np.ones((4, 4), np.float32)
    with pytest.raises(ValueError, match="outside"):
        composite(frame, [FramePatch(frame.index, 64, 0, np.zeros((4, 4, 3), np.uint8), ok_alpha)])
    with pytest.raises(ValueError, match="frame 9"):
        composite(frame, [FramePatch(9, 0, 0, np.zeros((4, 4, 3), np.uint8), ok_alpha)])
    with pytest.raises(ValueError, match="uint16"):
        composite(frame, [FramePatch(frame.index, 0, 0, np.zeros((4, 4, 3), np.uint16), ok_alpha)])


def test_banded_patches_composite_like_one_patch():
    """A diagonal line cut into bands of rows: fewer pixels, the same luma, and chroma
    within two levels (the colour conversion of a crop rounds differently at its edges).
    As the fillers do, the fill keeps the frame's own pixels where alpha is 0."""
    frame = decoded_frame("yuv420p", width=96, height=128)
    height, width = frame.rgb.shape[:2]
    alpha = np.zeros((height, width), np.float32)
    cv2.line(alpha, (2, 0), (width - 3, height - 1), 1.0, 3, cv2.LINE_AA)
    x0, y0, x1, y1 = mask_box(alpha)
    fill = frame.rgb[y0:y1, x0:x1].copy()
    fill[alpha[y0:y1, x0:x1] > 0] = (200, 30, 60)
    whole = FramePatch(frame.index, x0, y0, fill, alpha[y0:y1, x0:x1])
    bands = banded_patches(frame.index, x0, y0, fill, alpha[y0:y1, x0:x1], rows=32)
    assert len(bands) == -(-height // 32)
    assert sum(p.alpha.size for p in bands) < 0.6 * whole.alpha.size
    covered = np.zeros_like(alpha)
    for p in bands:
        bx0, by0, bx1, by1 = p.box
        rows = np.flatnonzero(p.alpha.any(axis=1)) + by0
        assert rows[0] // 32 == rows[-1] // 32, f"band {p.box} changes rows of two bands"
        covered[by0:by1, bx0:bx1] += p.alpha
    assert np.array_equal(covered, alpha), "the bands must hold every alpha value once"
    one, many = planes(composite(frame, [whole])), planes(composite(frame, bands))
    assert np.array_equal(one[0], many[0]), "luma differs"
    for plane in (1, 2):
        difference = np.abs(one[plane].astype(int) - many[plane])
        assert difference.max() <= 2, f"chroma plane {plane}: up to {difference.max()} levels apart"


# --- swscale set-ups kept per crop size ------------------------------------------------


def test_crop_reformatters_keep_one_per_size_most_recent_first():
    cache = CropReformatters(capacity=2)
    a = cache.for_size(40, 136)
    assert cache.for_size(40, 136) is a
    b = cache.for_size(48, 136)
    assert b is not a
    assert cache.for_size(40, 136) is a  # 40 x 136 is now the most recent
    cache.for_size(50, 84)  # a third size: 48 x 136, the least recent, goes
    assert cache.for_size(40, 136) is a
    assert cache.for_size(48, 136) is not b


@pytest.mark.parametrize("pix_fmt", ["yuv420p", "yuv422p10le", "nv12", "yuv444p"])
def test_a_kept_reformatter_converts_like_a_fresh_one(pix_fmt):
    # One reformatter fed crops of changing sizes and both bit depths gives the same
    # samples as a new set-up for each crop.
    conversion = Conversion.for_stream(pix_fmt, _tags())
    kept = CropReformatters(capacity=1).for_size(0, 0)
    for index, (width, height) in enumerate([(42, 132), (48, 136), (42, 132), (6, 4), (420, 320)]):
        for deep in (False, True):
            rgb = picture(index, width, height, deep)
            fresh = from_rgb(rgb, pix_fmt, conversion)
            reused = from_rgb(rgb, pix_fmt, conversion, kept)
            for got, want in zip(planes(reused), planes(fresh), strict=True):
                np.testing.assert_array_equal(got, want, err_msg=f"{width}x{height} {deep}")
            # Small crops are converted in one thread: the same samples as in four.
            threaded = av.VideoFrame.from_ndarray(
                rgb, format="rgb48le" if deep else "rgb24"
            ).reformat(
                format=pix_fmt,
                src_color_range=2,
                dst_colorspace=conversion.sws_matrix,
                dst_color_range=conversion.color_range,
                interpolation=SWS_CROP_FLAGS,
                threads=4,
            )
            for got, want in zip(planes(fresh), planes(threaded), strict=True):
                np.testing.assert_array_equal(got, want, err_msg=f"{width}x{height} {deep}")


def test_composite_of_a_decoded_frame_converts_only_around_the_patches(tmp_path):
    # The same patches on a frame whose RGB was converted whole, and on one never
    # converted (composite reads the RGB around each patch only): the same samples.
    from iotest_helpers import write_clip

    from moebius_video.io import open_video

    path = write_clip(tmp_path / "clip.mkv", frames=2, size=(320, 240), codec="ffv1")
    with open_video(path) as video:
        for frame in video.frames():
            patches = [
                feathered_patch(
                    DecodedFrame(frame.index, frame.pts, rgb=np.zeros((240, 320, 3), np.uint8)),
                    *box,
                )
                for box in ((21, 33, 17, 24), (90, 7, 30, 11))
            ]
            lazy = composite(frame, patches)
            assert frame._rgb is None, "composite converted the whole frame"
            whole = DecodedFrame(frame.index, frame.pts, source=frame.source)
            whole.rgb  # noqa: B018 (converted first: composite slices it)
            for got, want in zip(planes(lazy), planes(composite(whole, patches)), strict=True):
                np.testing.assert_array_equal(got, want)
            assert not np.array_equal(planes(lazy)[0], planes(frame.source)[0])


@pytest.mark.parametrize("x_shift, y_shift", [(1, 1), (1, 0), (0, 1), (2, 2), (2, 0)])
def test_pooled_alpha_is_the_max_over_each_block(x_shift, y_shift):
    from moebius_video.io.composite import _pool_max

    rng = np.random.default_rng(x_shift * 3 + y_shift)
    for height, width in [(8, 12), (7, 5), (1, 1), (13, 3)]:
        alpha = (rng.random((height, width)) * (rng.random((height, width)) > 0.6)).astype(
            np.float32
        )
        rows, cols = -(-height >> y_shift), -(-width >> x_shift)
        want = block_alpha(alpha, x_shift, y_shift, rows, cols)
        got = _pool_max(alpha, x_shift, y_shift)
        np.testing.assert_array_equal(got, want, err_msg=f"{height}x{width}")
