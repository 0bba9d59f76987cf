"""Put filled pixels back into the decoded source frame, in the source's own pixel format.

This is where "only masked pixels change" is decided. Each patch's RGB crop is converted
to the source pixel format with the matrix and range used to decode it, then blended
plane by plane over the source samples:

    out = src + alpha * (fill - src), rounded

with alpha resampled to each plane: a subsampled chroma sample takes the largest alpha of
the luma samples it covers. Samples whose alpha is 0 are never written, so with a lossless
codec they come out bit-identical to the decoded input. Only the patch boxes (grown to
whole chroma samples) are converted and blended, never the whole frame.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import av
import numpy as np

from ..patches import FramePatch
from .info import DecodedFrame
from .pixels import (
    Conversion,
    CropReformatters,
    PlaneLayout,
    from_rgb,
    plane_array,
    plane_layouts,
)


class _PerThread(threading.local):
    """swscale set-ups for the patch crops converted on this thread (a reformatter must
    not be shared between threads; results do not depend on it)."""

    def __init__(self) -> None:
        self.reformatters = CropReformatters()


_per_thread = _PerThread()


def composite(frame: DecodedFrame, patches: Sequence[FramePatch]) -> av.VideoFrame | np.ndarray:
    """The output frame for `frame` with `patches` blended in.

    Movies: a new av.VideoFrame in the source pixel format, with the source's pts, time
    base and colour tags (the source frame itself when there is nothing to blend).
    Image sequences (frame.source is None): a new H x W x 3 RGB array.
    """
    for patch in patches:
        _check_patch(frame, patch)
    if frame.source is None:
        return _composite_rgb(frame.rgb, patches)
    if not patches:
        return frame.source
    source = frame.source
    layouts = plane_layouts(source.format.name, source.width, source.height)
    out = _copy_frame(source, layouts)
    conversion = Conversion.for_frame(source)
    for patch in patches:
        _blend_patch(out, frame, patch, layouts, conversion)
    return out


def _check_patch(frame: DecodedFrame, patch: FramePatch) -> None:
    height, width = frame.height, frame.width  # known without converting the frame to RGB
    x0, y0, x1, y1 = patch.box
    if patch.index != frame.index:
        raise ValueError(f"patch for frame {patch.index} given to frame {frame.index}")
    if not (0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height):
        raise ValueError(f"patch box {patch.box} is outside the {width}x{height} frame")
    if patch.rgb.shape != (y1 - y0, x1 - x0, 3) or patch.rgb.dtype != frame.rgb_dtype:
        raise ValueError(
            f"patch rgb is {patch.rgb.shape} {patch.rgb.dtype}, expected "
            f"{(y1 - y0, x1 - x0, 3)} {frame.rgb_dtype}"
        )


def _blend(src: np.ndarray, fill: np.ndarray, alpha: np.ndarray, max_value: int) -> np.ndarray:
    """src + alpha * (fill - src), rounded to the nearest sample value."""
    mixed = src.astype(np.float32) + alpha * (fill.astype(np.float32) - src)
    return np.clip(np.rint(mixed), 0, max_value).astype(src.dtype)


def _composite_rgb(rgb: np.ndarray, patches: Sequence[FramePatch]) -> np.ndarray:
    out = rgb.copy()
    max_value = np.iinfo(rgb.dtype).max
    for patch in patches:
        x0, y0, x1, y1 = patch.box
        region = out[y0:y1, x0:x1]
        touched = patch.alpha > 0
        blended = _blend(region, patch.rgb, patch.alpha[:, :, None], max_value)
        region[touched] = blended[touched]
    return out


def copy_video_frame(source: av.VideoFrame, pts: int | None = None) -> av.VideoFrame:
    """A new frame with `source`'s pixels, time base and colour tags; its pts, or `pts`."""
    out = _copy_frame(source, plane_layouts(source.format.name, source.width, source.height))
    if pts is not None:
        out.pts = pts
    return out


def _copy_frame(source: av.VideoFrame, layouts: list[PlaneLayout]) -> av.VideoFrame:
    # Never write into the decoder's frame: its buffer may still be a reference picture.
    out = av.VideoFrame(source.width, source.height, source.format.name)
    for layout in layouts:
        plane_array(out, layout)[...] = plane_array(source, layout)
    out.pts = source.pts
    if source.time_base is not None:
        out.time_base = source.time_base
    out.duration = source.duration
    out.color_primaries = source.color_primaries
    out.color_trc = source.color_trc
    out.colorspace = source.colorspace
    out.color_range = source.color_range
    return out


def _pool_max(alpha: np.ndarray, x_shift: int, y_shift: int) -> np.ndarray:
    """Alpha at a plane's resolution: the max over each block of full-resolution samples."""
    if x_shift == 0 and y_shift == 0:
        return alpha
    bx, by = 1 << x_shift, 1 << y_shift
    height, width = alpha.shape
    if height % by or width % bx:
        padded = np.zeros((-(-height // by) * by, -(-width // bx) * bx), np.float32)
        padded[:height, :width] = alpha
        alpha = padded
    # The max of strided views, rows then columns: the same values as a max over each
    # block, several times faster than reducing a 4-d view for small patches.
    rows = alpha[0::by]
    for k in range(1, by):
        rows = np.maximum(rows, alpha[k::by])
    pooled = rows[:, 0::bx]
    for k in range(1, bx):
        pooled = np.maximum(pooled, rows[:, k::bx])
    return pooled


def _blend_patch(
    out: av.VideoFrame,
    frame: DecodedFrame,
    patch: FramePatch,
    layouts: list[PlaneLayout],
    conversion: Conversion,
) -> None:
    if not np.any(patch.alpha > 0):
        return
    width, height = out.width, out.height
    x0, y0, x1, y1 = patch.box
    # Grow the box to whole chroma samples so the crop's chroma grid matches the frame's.
    x_step = 1 << max(layout.x_shift for layout in layouts)
    y_step = 1 << max(layout.y_shift for layout in layouts)
    cx0, cy0 = x0 // x_step * x_step, y0 // y_step * y_step
    cx1 = min(-(-x1 // x_step) * x_step, width)
    cy1 = min(-(-y1 // y_step) * y_step, height)
    alpha = np.zeros((cy1 - cy0, cx1 - cx0), np.float32)
    alpha[y0 - cy0 : y1 - cy0, x0 - cx0 : x1 - cx0] = patch.alpha
    # Samples of the grown border keep the decoded picture (their luma alpha is 0); they
    # only feed the chroma of blocks the patch partly covers.
    crop = frame.rgb_crop((cx0, cy0, cx1, cy1)).copy()  # only the area around the patches
    crop[y0 - cy0 : y1 - cy0, x0 - cx0 : x1 - cx0] = patch.rgb
    reformatter = _per_thread.reformatters.for_size(cx1 - cx0, cy1 - cy0)
    fill = from_rgb(crop, out.format.name, conversion, reformatter)
    pooled = {}  # plane alpha by subsampling: chroma planes share theirs
    for layout in layouts:
        shifts = (layout.x_shift, layout.y_shift)
        if shifts not in pooled:
            pooled[shifts] = _pool_max(alpha, *shifts)
        plane_alpha = pooled[shifts]
        px0, py0 = cx0 >> layout.x_shift, cy0 >> layout.y_shift
        rows, cols = plane_alpha.shape
        region = plane_array(out, layout)[py0 : py0 + rows, px0 : px0 + cols]
        fill_samples = plane_array(fill, layout)
        bits = 8 * layout.dtype.itemsize
        blended = _blend(region, fill_samples, plane_alpha[:, :, None], (1 << bits) - 1)
        if layout.low_bits:
            # p010-style formats keep their bits at the top; clear the unused low bits.
            blended &= np.array(~((1 << layout.low_bits) - 1) & 0xFFFF, dtype=blended.dtype)
        for position in layout.keep:
            blended[:, :, position] = region[:, :, position]
        np.copyto(region, blended, where=(plane_alpha > 0)[:, :, None])
