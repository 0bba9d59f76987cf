"""The --save-debug preview: input with mask | where each pixel came from | result.

One H.264 video, three panels side by side, at full resolution by default
(`--save-debug-scale` shrinks them), so a thin wire can be judged. When the masks stay
in a small part of the frame, the panels show only that region (the masks' bounding box
over the clip, plus a margin). The middle panel shows the input dimmed, with masked
pixels coloured by their source:

    green   real background propagated from another frame
    cyan    real background pulled from a far frame of the shot, by camera motion,
            under 25 frames away; sky blue: 25-99 frames away; deep blue: 100 or more
    red     painted by the filler on a key frame
    orange  a key frame's painting carried along the flow
    magenta painted by the filler on a non-key frame (no key frame reachable)

A frame that starts a new shot (a cut found in the footage or given with --shot-cuts)
has a yellow bar across the top of all three panels with "CUT" written on it, so a
wrong cut, or a missed one, shows where the fill changes.
"""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from ..io.temp_files import movie_temp, remove_stale_temps
from ..patches import FramePatch
from .keyframes import (
    CARRIED,
    FALLBACK,
    GENERATED,
    PROPAGATED,
    PULLED,
    PULLED_FAR,
    PULLED_MID,
)

# The three panels side by side stay within what H.264 players decode (8K UHD wide).
PREVIEW_MAX_WIDTH = 7680
# Pixels of context around the masks' region in the preview.
REGION_MARGIN = 48
# The preview shows the masks' region alone when it covers at most this much of the frame.
REGION_MAX_AREA = 0.5
SOURCE_COLOURS = {
    PROPAGATED: (0, 200, 0),
    GENERATED: (255, 40, 40),
    CARRIED: (255, 160, 0),
    FALLBACK: (255, 0, 255),
    PULLED: (0, 220, 255),
    PULLED_MID: (60, 130, 255),
    PULLED_FAR: (30, 40, 200),
}
MASK_COLOUR = np.array([255, 0, 0], np.float32)
CUT_COLOUR = (255, 220, 0)  # the bar on a frame that starts a new shot
CUT_TEXT_COLOUR = (0, 0, 0)


def _to_uint8(image: np.ndarray) -> np.ndarray:
    return image if image.dtype == np.uint8 else (image >> 8).astype(np.uint8)


def apply_patches(frame: np.ndarray, patches: list[FramePatch]) -> np.ndarray:
    """The frame with the patches alpha-composited in (same dtype as the frame)."""
    out = frame.copy()
    for patch in patches:
        x0, y0, x1, y1 = patch.box
        a = patch.alpha[..., None]
        region = out[y0:y1, x0:x1].astype(np.float32)
        mixed = a * patch.rgb.astype(np.float32) + (1 - a) * region
        out[y0:y1, x0:x1] = np.clip(np.rint(mixed), 0, np.iinfo(out.dtype).max)
    return out


class DebugPreview:
    """Writes the preview video; appears at `path` only when closed without error."""

    def __init__(
        self,
        path: str | os.PathLike,
        width: int,
        height: int,
        rate: Fraction,
        scale: float = 1.0,
        region: tuple[int, int, int, int] | None = None,
    ):
        """region: (x0, y0, x1, y1), the frame pixels the panels show (default the frame);
        scale: panel pixels per frame pixel, lowered if three panels would pass 8K."""
        self.path = Path(path)
        self.region = region or (0, 0, width, height)
        x0, y0, x1, y1 = self.region
        scale = min(scale, PREVIEW_MAX_WIDTH / (3 * (x1 - x0)))
        self.panel = (
            max(2, int((x1 - x0) * scale) // 2 * 2),
            max(2, int((y1 - y0) * scale) // 2 * 2),
        )
        remove_stale_temps(self.path, hidden=True)  # what killed runs left
        self._temp = movie_temp(self.path)
        self._container = av.open(str(self._temp), "w")
        self._stream = self._container.add_stream("libx264", rate=rate)
        self._stream.width = 3 * self.panel[0]
        self._stream.height = self.panel[1]
        self._stream.pix_fmt = "yuv420p"
        self._stream.options = {"crf": "20", "preset": "veryfast"}

    def write(
        self,
        frame: np.ndarray,
        alpha: np.ndarray,
        parts,
        patches: list[FramePatch],
        shot_start: bool = False,
    ) -> None:
        """One preview frame. parts: (weight, patches, (source map, box) per region) per
        window; shot_start: the frame starts a new shot (drawn with the cut bar)."""
        frame8 = _to_uint8(frame)
        masked = alpha > 0
        overlay = frame8.astype(np.float32)
        overlay[masked] = 0.5 * overlay[masked] + 0.5 * MASK_COLOUR
        sources = (frame8.astype(np.float32) * 0.4).astype(np.uint8)
        best = max((p for p in parts if p[2] is not None), key=lambda p: p[0], default=None)
        for source_map, (x0, y0, x1, y1) in best[2] if best is not None else ():
            region = sources[y0:y1, x0:x1]
            for code, colour in SOURCE_COLOURS.items():
                region[(source_map == code) & masked[y0:y1, x0:x1]] = colour
        result = _to_uint8(apply_patches(frame, patches))
        x0, y0, x1, y1 = self.region
        panels = []
        for image in (overlay.astype(np.uint8), sources, result):
            image = np.ascontiguousarray(image[y0:y1, x0:x1])
            if image.shape[1::-1] != self.panel:
                # Shrunk by area; enlarged (scale > 1) by nearest, so pixels stay pixels.
                grow = self.panel[0] > image.shape[1]
                method = cv2.INTER_NEAREST if grow else cv2.INTER_AREA
                image = cv2.resize(image, self.panel, interpolation=method)
            panels.append(image)
        image = np.hstack(panels)
        if shot_start:
            draw_cut_bar(image, self.panel[0])
        video_frame = av.VideoFrame.from_ndarray(image, format="rgb24")
        for packet in self._stream.encode(video_frame):
            self._container.mux(packet)

    def close(self) -> None:
        for packet in self._stream.encode():  # flush the encoder
            self._container.mux(packet)
        self._container.close()
        os.replace(self._temp, self.path)

    def abort(self) -> None:
        self._container.close()
        self._temp.unlink(missing_ok=True)


def cut_bar_height(panel_height: int) -> int:
    """Rows of the cut bar: a tenth of the panel, at least 8 (even, for 4:2:0 chroma)."""
    return max(8, panel_height // 10) // 2 * 2


def draw_cut_bar(image: np.ndarray, panel_width: int) -> None:
    """Mark a preview frame (the panels side by side, RGB) as the first of a new shot."""
    bar = cut_bar_height(image.shape[0])
    image[:bar] = CUT_COLOUR
    font = cv2.FONT_HERSHEY_SIMPLEX
    scale = cv2.getFontScaleFromHeight(font, max(bar - 4, 4), 1)
    for left in range(0, image.shape[1], panel_width):
        cv2.putText(image, "CUT", (left + 4, bar - 2), font, scale, CUT_TEXT_COLOUR, 1, cv2.LINE_AA)


def preview_region(
    boxes: list[tuple[int, int, int, int]], width: int, height: int
) -> tuple[int, int, int, int] | None:
    """The frame pixels the preview shows: the masks' bounding box over the clip plus
    REGION_MARGIN, when that covers at most REGION_MAX_AREA of the frame; None (the whole
    frame) otherwise. boxes: (x0, y0, x1, y1) of alpha > 0 per masked frame."""
    if not boxes:
        return None
    x0 = max(0, min(b[0] for b in boxes) - REGION_MARGIN) // 2 * 2
    y0 = max(0, min(b[1] for b in boxes) - REGION_MARGIN) // 2 * 2
    x1 = min(width, max(b[2] for b in boxes) + REGION_MARGIN)
    y1 = min(height, max(b[3] for b in boxes) + REGION_MARGIN)
    if (x1 - x0) * (y1 - y0) > REGION_MAX_AREA * width * height:
        return None
    # Even sizes (4:2:0), so at scale 1 the panels are the frame's pixels, not resampled.
    return (x0, y0, x0 + (x1 - x0) // 2 * 2, y0 + (y1 - y0) // 2 * 2)
