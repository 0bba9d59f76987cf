"""Mask tracks (`moebius.masktrack/1`): parse, validate and rasterise the pixels to remove.

    from moebius_video.masks import load_mask_track
    track = load_mask_track("wires.json", width=1920, height=1080, frame_count=240)
    alpha = track.alpha(0)         # float32 H x W in [0, 1]
    crop = track.alpha_crop(0)     # the same around the mask only: .alpha, .box; or None
    box = track.box(0, margin=16)  # (x0, y0, x1, y1) or None

Modules: `spec` (the format's frozen dataclasses and limits), `parse` (JSON -> spec, every
error with its JSON path), `files` (opening the untrusted files a track names),
`interpolate` (keyframes over time, smooth paths), `rasterize` (anti-aliased shapes),
`raster` (PNG, COCO RLE and matte-video sources), `track` (MaskTrack, load_mask_track).
"""

from __future__ import annotations

from .parse import parse_mask_track
from .rasterize import AlphaCrop
from .spec import SCHEMA_ID, MaskTrackSpec
from .track import MaskTrack, load_mask_track

__all__ = [
    "SCHEMA_ID",
    "AlphaCrop",
    "MaskTrack",
    "MaskTrackSpec",
    "load_mask_track",
    "parse_mask_track",
]
