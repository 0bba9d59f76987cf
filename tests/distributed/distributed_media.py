"""Tiny real media for the distributed tests: a textured clip that pans, and a moving wire.

The clip is encoded with PyAV (libx264, a key frame every 8 frames, so workers really
seek) and the wire's background is revealed by the pan, which gives the temporal core
real work. Everything is small: 96 x 64 pixels, 30 frames.
"""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np

WIDTH, HEIGHT, FRAMES, FRAME_BASE = 96, 64, 30, 1001


def _texture(width: int, height: int, seed: int = 7) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, size=(height // 4 + 1, width // 4 + 1, 3), dtype=np.uint8)
    big = np.repeat(np.repeat(base, 4, axis=0), 4, axis=1)[:height, :width]
    ramp = np.linspace(0, 60, width, dtype=np.float32)[None, :, None]
    return np.clip(big.astype(np.float32) * 0.7 + ramp, 0, 255).astype(np.uint8)


def write_clip(
    path: Path,
    frames: int = FRAMES,
    width: int = WIDTH,
    height: int = HEIGHT,
    cut: int | None = None,
) -> Path:
    """A clip that pans right 2 px per frame over a blocky texture; from frame `cut` (an
    index) on, over another texture: an edited clip with a shot cut before that frame."""
    texture = _texture(width + 2 * frames, height)
    if cut is not None:
        other = 255 - _texture(width + 2 * frames, height, seed=11)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.gop_size = 8
        stream.options = {"crf": "18", "preset": "ultrafast", "bframes": "0"}
        for i in range(frames):
            shot = other if cut is not None and i >= cut else texture
            rgb = np.ascontiguousarray(shot[:, 2 * i : 2 * i + width])
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = i
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def wire_track(frames: int = FRAMES, width: int = WIDTH, height: int = HEIGHT) -> dict:
    """A slanted wire that drifts left across the clip; numbered from FRAME_BASE."""
    last = FRAME_BASE + frames - 1
    return {
        "schema": "moebius.masktrack/1",
        "width": width,
        "height": height,
        "frame_base": FRAME_BASE,
        "tracks": [
            {
                "id": "wire",
                "shape": "polyline",
                "width": 3,
                "expand": 1,
                "feather": 1,
                "keyframes": [
                    {"frame": FRAME_BASE, "points": [[60, -2], [52, height + 2]]},
                    {"frame": last, "points": [[40, -2], [30, height + 2]]},
                ],
            }
        ],
    }


def read_frames(pattern: str, numbers) -> list[bytes]:
    return [Path(pattern % n).read_bytes() for n in numbers]


def per_frame_job(shot: dict, filler):
    """A ClipJob over the `shot` fixture's clip with the temporal core off (the filler is
    called on every masked frame), in segments of 10 frames."""
    from moebius_video.distributed import ClipJob

    return ClipJob(
        source=str(shot["clip"]),
        mask_track=str(shot["track"]),
        temporal=None,
        segment_length=10,
        context=0,
        filler=filler,
    )
