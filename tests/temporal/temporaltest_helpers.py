"""Small synthetic sequences for the temporal tests: textures that move under masks."""

from __future__ import annotations

from types import SimpleNamespace

import cv2
import numpy as np

from moebius_video.patches import mask_box


def texture(height: int, width: int, seed: int = 0, blur: float = 2.5) -> np.ndarray:
    """A smooth random RGB texture (uint8) with detail at every scale the flow can see."""
    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 256, (height, width, 3)).astype(np.float32)
    smooth = cv2.GaussianBlur(noise, (0, 0), blur)
    return cv2.normalize(smooth, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)


def panning(count: int, height: int, width: int, step: tuple[int, int] = (2, 0), seed: int = 0):
    """Clean frames of a camera panning over a texture by `step` (dx, dy) pixels per frame."""
    dx, dy = step
    big = texture(height + abs(dy) * count + 8, width + abs(dx) * count + 8, seed)
    frames = []
    for t in range(count):
        x = 4 + (dx * t if dx >= 0 else abs(dx) * (count - 1 - t))
        y = 4 + (dy * t if dy >= 0 else abs(dy) * (count - 1 - t))
        frames.append(np.ascontiguousarray(big[y : y + height, x : x + width]))
    return frames


class BoxTrack:
    """A mask track of one axis-aligned box per frame: box(t) -> (x0, y0, x1, y1)."""

    def __init__(self, boxes, height: int, width: int, feather: bool = False):
        self.boxes = boxes
        self.height, self.width = height, width
        self.frame_count = len(boxes)
        self.feather = feather

    def alpha(self, index: int) -> np.ndarray:
        alpha = np.zeros((self.height, self.width), np.float32)
        box = self.boxes[index]
        if box is not None:
            x0, y0, x1, y1 = box
            alpha[y0:y1, x0:x1] = 1.0
            if self.feather:  # a soft one-pixel ring, as a feathered track has
                ring = cv2.dilate(alpha, np.ones((3, 3), np.uint8)) - alpha
                alpha += 0.4 * ring
        return alpha

    def box(self, index: int, margin: int = 0):
        return mask_box(self.alpha(index), margin)


def painted(frames, track, colour=(255, 0, 255)):
    """The frames with the thing to remove drawn where alpha is 1 (a feathered mask's
    soft edge covers clean pixels, as a real mask around a real wire does)."""
    out = []
    for t, frame in enumerate(frames):
        dirty = frame.copy()
        dirty[track.alpha(t) >= 1.0] = colour
        out.append(dirty)
    return out


def decoded(frames, start: int = 0):
    """DecodedFrame-like objects (index, rgb) for iter_patches."""
    return (SimpleNamespace(index=start + t, rgb=f) for t, f in enumerate(frames))


def composite(frame: np.ndarray, patches) -> np.ndarray:
    """Alpha-blend patches into a copy of frame (the reference the io module implements)."""
    out = frame.astype(np.float32)
    for patch in patches:
        x0, y0, x1, y1 = patch.box
        a = patch.alpha[..., None]
        out[y0:y1, x0:x1] = a * patch.rgb + (1 - a) * out[y0:y1, x0:x1]
    return np.clip(np.rint(out), 0, np.iinfo(frame.dtype).max).astype(frame.dtype)


def masked_error(result: np.ndarray, clean: np.ndarray, alpha: np.ndarray) -> tuple[float, int]:
    """(mean, max) absolute error over the pixels where alpha > 0."""
    m = alpha > 0
    diff = np.abs(result[m].astype(np.int32) - clean[m].astype(np.int32))
    return float(diff.mean()), int(diff.max())


def fill_segment(frames, alphas, filler, options, first_index, estimator=None) -> list:
    """Fill one window of consecutive frames (RGB arrays, float32 alphas): the patches of
    every frame of it, in order (what the engine does with one window)."""
    from moebius_video.temporal.window import fill_window, window_patches

    assert len(frames) == len(alphas), f"{len(frames)} frames but {len(alphas)} alphas"
    window = fill_window(frames, alphas, filler, options, first_index, estimator=estimator)
    if window is None:
        return []
    return [patch for k in range(len(frames)) for patch in window_patches(window, k)]
