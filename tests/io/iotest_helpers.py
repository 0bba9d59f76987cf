"""Small real clips for the io tests (real PyAV encodes) and ways to look inside them."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

BT709_TV = (1, 1, 1, 1)  # primaries, transfer, matrix, range (FFmpeg numbers)


def picture(index: int, width: int, height: int, deep: bool = False) -> np.ndarray:
    """A frame with gradients, a moving square and fine noise: every codec has work to do."""
    rng = np.random.default_rng(index)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    red = 40 + 150 * xx / width
    green = 30 + 160 * yy / height
    blue = 120 + 60 * np.sin((xx + 3 * index) / 5)
    rgb = np.stack([red, green, blue], axis=-1)
    x0 = (4 * index) % max(width - 12, 1)
    rgb[8:20, x0 : x0 + 12] = (230, 200, 20)
    rgb += rng.normal(0, 6, rgb.shape)
    rgb = np.clip(rgb, 0, 255)
    if deep:
        return np.round(rgb * 257).astype(np.uint16)
    return np.round(rgb).astype(np.uint8)


def write_clip(
    path: Path,
    *,
    frames: int = 12,
    size: tuple[int, int] = (64, 48),
    codec: str = "libx264",
    pix_fmt: str = "yuv420p",
    rate: Fraction | int = 24,
    time_base: Fraction | None = None,
    pts: list[int] | None = None,
    color: tuple[int, int, int, int] | None = None,
    rotation: int = 0,
    sample_aspect_ratio: Fraction | None = None,
    audio: str | None = None,
    subtitles: bool = False,
    timecode: str | None = None,
    codec_options: dict[str, str] | None = None,
    container_options: dict[str, str] | None = None,
) -> Path:
    """Encode a synthetic clip; returns its path. pts default to 0..frames-1 at 1/rate."""
    rate = Fraction(rate)
    time_base = time_base or 1 / rate
    pts = pts if pts is not None else list(range(frames))
    width, height = size
    deep = max(c.bits for c in av.VideoFormat(pix_fmt).components) > 8
    matrix, color_range = (color[2], color[3]) if color else (1, 1)
    sws_matrix = {1: 1, 5: 5, 6: 5}.get(matrix, 5)
    with av.open(str(path), mode="w", options=container_options or {}) as container:
        video = container.add_stream(codec, rate=rate)
        video.width, video.height, video.pix_fmt = width, height, pix_fmt
        video.time_base = time_base
        video.codec_context.time_base = time_base
        video.codec_context.options = codec_options or {}
        if color:
            context = video.codec_context
            context.color_primaries, context.color_trc, context.colorspace, context.color_range = (
                color
            )
        if rotation:
            video.set_display_rotation(rotation)
        if sample_aspect_ratio:
            video.codec_context.sample_aspect_ratio = sample_aspect_ratio
        if timecode:
            video.metadata["timecode"] = timecode
        sound = None
        if audio:
            sound = container.add_stream(audio, rate=48000)
            sound.layout = "mono"
        subtitle = None
        if subtitles:
            subtitle = container.add_mux_stream("subrip")
            subtitle.time_base = Fraction(1, 1000)
        for index, stamp in enumerate(pts):
            rgb = picture(index, width, height, deep)
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb48le" if deep else "rgb24")
            frame = frame.reformat(
                format=pix_fmt, dst_colorspace=sws_matrix, dst_color_range=color_range or 1
            )
            frame.pts, frame.time_base = stamp, time_base
            container.mux(video.encode(frame))
        container.mux(video.encode())
        if sound is not None:
            seconds = float((pts[-1] + 1) * time_base) + 0.2
            samples = int(seconds * 48000)
            wave = 0.3 * np.sin(2 * np.pi * 440 * np.arange(samples) / 48000)
            sample_format = "flt" if audio == "aac" else "s16"
            wave = wave.astype(np.float32) if audio == "aac" else (wave * 32767).astype(np.int16)
            for start in range(0, samples, 1024):
                chunk = wave[None, start : start + 1024]
                audio_frame = av.AudioFrame.from_ndarray(chunk, format=sample_format, layout="mono")
                audio_frame.sample_rate, audio_frame.pts = 48000, start
                container.mux(sound.encode(audio_frame))
            container.mux(sound.encode())
        if subtitle is not None:
            for number in range(3):
                packet = av.Packet(f"line {number}".encode())
                packet.pts = packet.dts = 100 + 150 * number
                packet.duration = 120
                packet.stream, packet.time_base = subtitle, Fraction(1, 1000)
                container.mux(packet)
    return path


def packets(path: Path, kind: str) -> list[tuple[int | None, int | None, bytes]]:
    """(pts, dts, payload) of every packet of the first stream of a kind, in file order."""
    with av.open(str(path)) as container:
        stream = next(s for s in container.streams if s.type == kind)
        return [(p.pts, p.dts, bytes(p)) for p in container.demux(stream) if p.size]


def video_pts(path: Path) -> tuple[Fraction, list[int]]:
    """Time base and sorted pts of the video stream, read straight from the packets."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stamps = sorted(p.pts for p in container.demux(stream) if p.size)
        return stream.time_base, stamps


def planes(frame: av.VideoFrame) -> list[np.ndarray]:
    """Visible samples of every plane, as arrays (for bit-exact comparisons)."""
    from moebius_video.io.pixels import plane_array, plane_layouts

    layouts = plane_layouts(frame.format.name, frame.width, frame.height)
    return [plane_array(frame, layout).copy() for layout in layouts]
