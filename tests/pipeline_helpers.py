"""Small generated clips and mask tracks shared by the pipeline, CLI and bad-input tests."""

from __future__ import annotations

import fcntl
import os
from fractions import Fraction

import av
import numpy as np

from moebius_video.masks import load_mask_track

WIDTH, HEIGHT, FRAMES = 96, 64, 12
TIME_BASE = Fraction(1, 12800)
BT709 = 1


def background(index: int) -> np.ndarray:
    """A textured scene panning right by one pixel per frame (so the hole has structure)."""
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    xx = xx + index
    rgb = np.stack(
        [
            128 + 90 * np.sin(xx / 7.0) * np.cos(yy / 9.0),
            128 + 80 * np.cos((xx + yy) / 11.0),
            100 + 60 * np.sin(yy / 5.0 + xx / 13.0),
        ],
        axis=-1,
    )
    return np.clip(rgb, 0, 255).astype(np.uint8)


def wire_track(first: int = 2, last: int = 9, frame_base: int = 0) -> dict:
    """A sagging wire on frames first..last (0-based), nothing on the others."""
    return {
        "schema": "moebius.masktrack/1",
        "width": WIDTH,
        "height": HEIGHT,
        "frame_base": frame_base,
        "tracks": [
            {
                "id": "wire",
                "shape": "polyline",
                "width": 2,
                "expand": 1,
                "feather": 1,
                "range": [first + frame_base, last + frame_base],
                "keyframes": [
                    {"frame": first + frame_base, "points": [[30, 0], [36, 30], [40, 64]]},
                    {"frame": last + frame_base, "points": [[50, 0], [56, 30], [60, 64]]},
                ],
            }
        ],
    }


def make_clip(
    path, frames: int = FRAMES, audio: bool = True, track: dict | None = None, scene=background
) -> str:
    """H.264 yuv420p, BT.709 tags, 25 fps in a 1/12800 time base, AAC audio; the wire of
    `track` painted dark where its mask is, so a fill has something to remove.
    scene: index -> the clean RGB frame."""
    mask = load_mask_track(track, WIDTH, HEIGHT, frames) if track is not None else None
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=25)
        video.width, video.height, video.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        video.time_base = TIME_BASE
        video.codec_context.time_base = TIME_BASE
        cc = video.codec_context
        cc.color_primaries, cc.color_trc, cc.colorspace, cc.color_range = BT709, BT709, BT709, 1
        video.options = {"crf": "12", "preset": "ultrafast", "threads": "1"}
        sound = out.add_stream("aac", rate=48000) if audio else None
        if sound is not None:
            sound.layout = "mono"
        for i in range(frames):
            rgb = scene(i).astype(np.float32)
            if mask is not None:
                alpha = mask.alpha(i)[..., None]
                rgb = rgb * (1 - alpha) + 20 * alpha
            frame = av.VideoFrame.from_ndarray(rgb.round().astype(np.uint8), format="rgb24")
            frame = frame.reformat(format="yuv420p", dst_colorspace="ITU709", dst_color_range=1)
            frame.pts, frame.time_base = i * 512, TIME_BASE
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        if sound is not None:
            t = np.arange(48000 * frames // 25) / 48000.0
            samples = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None, :]
            for start in range(0, samples.shape[1], 1024):
                chunk = av.AudioFrame.from_ndarray(
                    np.ascontiguousarray(samples[:, start : start + 1024]),
                    format="fltp",
                    layout="mono",
                )
                chunk.sample_rate, chunk.pts = 48000, start
                out.mux(sound.encode(chunk))
            out.mux(sound.encode(None))
    return str(path)


def planes(frame: av.VideoFrame) -> list[np.ndarray]:
    """The samples of every plane, without line padding."""
    out = []
    for plane in frame.planes:
        rows = np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)
        out.append(rows[:, : plane.width])
    return out


def decoded(path) -> list[av.VideoFrame]:
    with av.open(str(path)) as container:
        return list(container.decode(video=0))


def audio_packets(path) -> list[bytes]:
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        return [bytes(p) for p in container.demux(stream) if p.size]


def outside_mask(alpha: np.ndarray, plane: np.ndarray) -> np.ndarray:
    """Samples of a (possibly subsampled) plane that no pixel with alpha > 0 touches."""
    sy, sx = alpha.shape[0] // plane.shape[0], alpha.shape[1] // plane.shape[1]
    touched = (alpha > 0).reshape(plane.shape[0], sy, plane.shape[1], sx).any(axis=(1, 3))
    return ~touched


def narrow_pipe() -> tuple[int, int]:
    """(read fd, write fd) of a pipe that holds one page (4 KiB): a child writing progress
    lines into it stalls until the test reads them, so it cannot run to the end while the
    test is not looking (on a loaded machine a short run would finish before the test
    could interrupt it)."""
    read_fd, write_fd = os.pipe()
    size = fcntl.fcntl(write_fd, fcntl.F_SETPIPE_SZ, 4096)
    assert size == 4096, f"pipe size {size}"
    return read_fd, write_fd
