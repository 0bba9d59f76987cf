"""Decoded RGB against the ffmpeg CLI run with explicit matrix and range, per kind of source.

The README's "Colour" table as tests. Each case is a real encode (PyAV, two frames) of YUV
planes written directly (no RGB conversion made them), read with `open_video`, and compared
with what `ffmpeg` gives when it is told the matrix and range the README promises for that
kind of source (`scale=in_color_matrix=...:in_range=...`, with the README's other scale
options). The other matrix (and the other range) must miss by far, so each case can tell them
apart. The content is smooth and saturated: the matrices differ by 30+ levels on it, while
chroma interpolation, which differs a little between FFmpeg versions, moves it by under 2.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import pytest

from moebius_video.io import open_video

FFMPEG = shutil.which("ffmpeg")
pytestmark = pytest.mark.skipif(
    FFMPEG is None,
    reason="the reference is the ffmpeg CLI, which is not installed "
    "(apt-get install ffmpeg; .ci/run installs it)",
)
# The scale options of the README's plate command: H.264/MPEG-2 ("left") chroma siting and
# full-chroma interpolation, the closest the ffmpeg CLI came to our decode on the sample clips.
SCALE_OPTIONS = (
    "in_h_chr_pos=0:in_v_chr_pos=128:flags=bicubic+accurate_rnd+full_chroma_int+full_chroma_inp"
)
FRAMES = 2
TOLERANCE_MAX, TOLERANCE_MEAN = 2.0, 0.5  # 8-bit levels
WRONG_AT_LEAST = 10.0  # the wrong matrix or range misses somewhere by this much


@dataclass(frozen=True)
class Source:
    id: str
    size: tuple[int, int]
    pix_fmt: str
    matrix: int | None  # AVColorSpace written into the stream (None: untagged)
    range: int | None  # AVColorRange (1 tv, 2 pc; None: untagged)
    expect_matrix: str  # what we decode with, as ffmpeg's in_color_matrix names it
    expect_range: str  # ffmpeg's in_range: tv (limited) or pc (full)
    codec: str = "libx264"


SOURCES = [
    # Tagged: the tag wins, whatever the size.
    Source("bt709-tagged-sd-size", (320, 240), "yuv420p", 1, 1, "bt709", "tv"),
    Source("bt601-tagged-hd-size", (1280, 720), "yuv420p", 6, 1, "bt601", "tv"),
    Source("bt470bg-tagged", (720, 576), "yuv420p", 5, 1, "bt601", "tv"),
    # Untagged: HD (1280 wide or more, or taller than 576) is BT.709, smaller is BT.601.
    Source("untagged-sd-576", (720, 576), "yuv420p", None, None, "bt601", "tv"),
    Source("untagged-hd-720", (1280, 720), "yuv420p", None, None, "bt709", "tv"),
    Source("untagged-hd-scope-1280x536", (1280, 536), "yuv420p", None, None, "bt709", "tv"),
    # Full range: tagged, or the JPEG-style yuvj formats (full range by definition).
    Source("bt709-full-range", (320, 240), "yuv420p", 1, 2, "bt709", "pc"),
    Source("yuvj-untagged-matrix", (320, 240), "yuvj420p", None, None, "bt601", "pc"),
    # Deeper than 8 bits decodes to 16-bit RGB.
    Source("bt709-10bit", (320, 240), "yuv420p10le", 1, 1, "bt709", "tv", codec="ffv1"),
]


def yuv_planes(pix_fmt: str, width: int, height: int) -> list[np.ndarray]:
    """Smooth planes: luma ramps, Cb across and Cr down, both swinging +-80 (8-bit units)."""
    fmt = av.VideoFormat(pix_fmt, width, height)
    scale = 1 << (fmt.components[0].bits - 8)
    dtype = np.uint16 if scale > 1 else np.uint8
    planes = []
    for index, component in enumerate(fmt.components):
        yy, xx = np.mgrid[0 : component.height, 0 : component.width].astype(np.float64)
        xx, yy = xx / component.width, yy / component.height
        if index == 0:
            value = 30 + 114 * xx + 76 * yy
        elif index == 1:
            value = 128 + 80 * np.cos(np.pi * xx)
        else:
            value = 128 - 80 * np.cos(np.pi * yy)
        planes.append(np.round(value * scale).astype(dtype))
    return planes


def encode(path: Path, source: Source) -> Path:
    width, height = source.size
    planes = yuv_planes(source.pix_fmt, width, height)
    with av.open(str(path), "w") as container:
        stream = container.add_stream(source.codec, rate=25)
        stream.width, stream.height, stream.pix_fmt = width, height, source.pix_fmt
        if source.codec == "libx264":
            stream.options = {"qp": "0"}  # lossless: both decoders see the planes written
        if source.matrix is not None:
            stream.codec_context.colorspace = source.matrix
        if source.range is not None:
            stream.codec_context.color_range = source.range
        for index in range(FRAMES):
            frame = av.VideoFrame(width, height, source.pix_fmt)
            for plane, samples in zip(frame.planes, planes, strict=True):
                rows = np.frombuffer(plane, samples.dtype)
                rows = rows.reshape(plane.height, plane.line_size // samples.itemsize)
                rows[:, : samples.shape[1]] = samples
            frame.pts = index
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def ffmpeg_rgb(path: Path, size: tuple[int, int], matrix: str, range_: str, deep: bool):
    """The ffmpeg CLI's RGB of the first FRAMES frames, told the matrix and range."""
    width, height = size
    rgb_fmt = "rgb48le" if deep else "rgb24"
    scale = f"scale=in_color_matrix={matrix}:in_range={range_}:{SCALE_OPTIONS}"
    command = [FFMPEG, "-v", "error", "-i", str(path), "-frames:v", str(FRAMES)]
    command += ["-vf", f"{scale},format={rgb_fmt}", "-f", "rawvideo", "-"]
    raw = subprocess.run(command, capture_output=True, check=True, timeout=60).stdout
    samples = np.frombuffer(raw, np.uint16 if deep else np.uint8)
    return samples.reshape(FRAMES, height, width, 3).astype(np.float64)


def our_rgb(path: Path) -> np.ndarray:
    with open_video(path) as video:
        return np.stack([frame.rgb for frame in video.frames(0, FRAMES)]).astype(np.float64)


def levels(a: np.ndarray, b: np.ndarray, deep: bool) -> np.ndarray:
    """|a - b| in 8-bit levels."""
    return np.abs(a - b) / (257.0 if deep else 1.0)


@pytest.mark.parametrize("source", SOURCES, ids=lambda s: s.id)
def test_decode_matches_ffmpeg_told_the_matrix(source, tmp_path):
    path = encode(tmp_path / f"{source.id}.{'mkv' if source.codec == 'ffv1' else 'mp4'}", source)
    deep = av.VideoFormat(source.pix_fmt).components[0].bits > 8
    ours = our_rgb(path)
    assert ours.shape == (FRAMES, source.size[1], source.size[0], 3)

    expected = ffmpeg_rgb(path, source.size, source.expect_matrix, source.expect_range, deep)
    error = levels(ours, expected, deep)
    assert error.max() <= TOLERANCE_MAX and error.mean() <= TOLERANCE_MEAN, (
        f"{source.id}: expected ffmpeg's in_color_matrix={source.expect_matrix} "
        f"in_range={source.expect_range} within {TOLERANCE_MAX} levels (mean "
        f"{TOLERANCE_MEAN}), got max {error.max():.2f}, mean {error.mean():.3f}"
    )

    # The case tells the alternatives apart: the other matrix and the other range miss.
    other_matrix = "bt601" if source.expect_matrix == "bt709" else "bt709"
    other_range = "pc" if source.expect_range == "tv" else "tv"
    for matrix, range_ in (
        (other_matrix, source.expect_range),
        (source.expect_matrix, other_range),
    ):
        wrong = levels(ours, ffmpeg_rgb(path, source.size, matrix, range_, deep), deep)
        assert wrong.max() >= WRONG_AT_LEAST, (
            f"{source.id}: {matrix}/{range_} is within {wrong.max():.1f} levels too; "
            "the content cannot tell the matrices or ranges apart"
        )


def test_readme_plate_command_matches_on_real_footage(tmp_path):
    # The README's command for a BT.709 clip, as a compositor runs it, on a sample clip
    # (1280x720 H.264, tagged BT.709): sharp real edges, so the mean is what must be small.
    import cv2

    clip = Path(__file__).resolve().parents[2] / "sample_clips" / "bbb_wire.mp4"
    frames = 3
    plates = {}
    for matrix in ("bt709", "bt601"):
        scale = f"scale=in_color_matrix={matrix}:in_range=tv:{SCALE_OPTIONS}"
        pattern = tmp_path / f"{matrix}.%04d.png"
        command = [FFMPEG, "-v", "error", "-i", str(clip), "-frames:v", str(frames)]
        subprocess.run([*command, "-vf", scale, str(pattern)], check=True, timeout=120)
        plates[matrix] = np.stack(
            [
                cv2.imread(str(tmp_path / f"{matrix}.{n:04d}.png"))[..., ::-1]
                for n in range(1, frames + 1)
            ]
        ).astype(np.float64)
    with open_video(clip) as video:
        ours = np.stack([frame.rgb for frame in video.frames(0, frames)]).astype(np.float64)
    right = np.abs(plates["bt709"] - ours)
    wrong = np.abs(plates["bt601"] - ours)
    assert right.mean() <= 0.5, f"BT.709 plates: mean {right.mean():.3f} levels from ours"
    assert np.percentile(right, 99.9) <= 10, f"BT.709 plates: p99.9 {np.percentile(right, 99.9)}"
    assert wrong.mean() >= 4 * right.mean(), (
        f"BT.601 plates are as close as BT.709 ones (mean {wrong.mean():.3f} vs "
        f"{right.mean():.3f}): the clip cannot tell the matrices apart"
    )
