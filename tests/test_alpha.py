"""Alpha through the real CLI: kept where the output can hold it, warned about (or refused
with --strict) where it cannot. Before issue 16, ProRes 4444 with alpha to `-c:v png`
wrote RGB PNGs, and libx264 dropped alpha without a word.
"""

from __future__ import annotations

import contextlib
import io
import json
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from moebius_video import cli
from moebius_video.commands import hook
from moebius_video.io import open_video
from moebius_video.masks import load_mask_track

WIDTH, HEIGHT, COUNT = 64, 48, 6


def alpha10(index: int) -> np.ndarray:
    """A matte with every level of a ramp, different on each frame."""
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH]
    return ((xx * 16 + yy * 3 + 37 * index) % 1024).astype(np.uint16)


@pytest.fixture(scope="module")
def prores4444(tmp_path_factory) -> Path:
    """ProRes 4444 (prores_ks, profile 4) with a varying 10-bit alpha."""
    path = tmp_path_factory.mktemp("alpha") / "key.mov"
    rng = np.random.default_rng(0)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("prores_ks", rate=24)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuva444p10le"
        stream.codec_context.options = {"profile": "4"}
        for index in range(COUNT):
            yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float64)
            rgb = np.stack([xx / WIDTH, yy / HEIGHT, 0.5 + 0.3 * np.sin(xx / 4 + index)], -1)
            rgb = np.clip(rgb + rng.normal(0, 0.02, rgb.shape), 0, 1) * 65535
            rgba = np.concatenate([rgb, (alpha10(index) * 64)[:, :, None]], axis=2)
            frame = av.VideoFrame.from_ndarray(rgba.astype(np.uint16), format="rgba64le")
            frame = frame.reformat(format="yuva444p10le", dst_colorspace=1, dst_color_range=1)
            frame.pts = index
            frame.time_base = Fraction(1, 24)
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    # The alpha as stored: FFmpeg's ProRes decoder gives 12-bit samples (10 bit << 2).
    with av.open(str(path)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            assert frame.format.name == "yuva444p12le"
            stored = np.frombuffer(frame.planes[3], np.uint16).reshape(HEIGHT, -1)[:, :WIDTH]
            assert np.array_equal(stored >> 2, alpha10(index)), "ProRes did not keep the alpha"
    return path


@pytest.fixture(scope="module")
def track(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("track") / "t.json"
    document = {
        "schema": "moebius.masktrack/1",
        "width": WIDTH,
        "height": HEIGHT,
        "tracks": [
            {
                "id": "rig",
                "shape": "polygon",
                "range": [0, COUNT - 1],
                "keyframes": [{"frame": 0, "points": [[20, 12], [36, 12], [36, 30], [20, 30]]}],
            }
        ],
    }
    path.write_text(json.dumps(document))
    return path


def decoded_rgb(path: Path) -> list[np.ndarray]:
    with open_video(path) as video:
        return [frame.rgb for frame in video.frames()]


def outside(track: Path, index: int) -> np.ndarray:
    masks = load_mask_track(str(track), width=WIDTH, height=HEIGHT, frame_count=COUNT)
    return masks.alpha(index) == 0


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_prores4444_alpha_to_png_is_kept_in_rgba64(tmp_path, prores4444, track, suffix):
    out = tmp_path / f"o.%04d{suffix}"
    args = [str(prores4444), "--mask-track", str(track), "-o", str(out), "--model", "opencv"]
    assert cli.main(args + ["--strict"]) == 0
    source = decoded_rgb(prores4444)
    for index in range(COUNT):
        png = cv2.imread(str(tmp_path / f"o.{index:04d}{suffix}"), cv2.IMREAD_UNCHANGED)
        assert png.dtype == np.uint16 and png.shape == (HEIGHT, WIDTH, 4), png.shape
        rgb, alpha = png[:, :, 2::-1], png[:, :, 3]
        # Every alpha sample, masked or not, is the source's (10 bit scaled to 16).
        assert np.array_equal(alpha >> 6, alpha10(index)), f"frame {index}: alpha changed"
        keep = outside(track, index)
        assert np.array_equal(rgb[keep], source[index][keep]), f"frame {index}: RGB changed"
        assert not np.array_equal(rgb, source[index]), f"frame {index}: nothing filled"


def test_prores4444_alpha_to_exr_is_an_a_channel(tmp_path, prores4444, track):
    openexr = pytest.importorskip("OpenEXR")
    out = tmp_path / "o.%04d.exr"
    args = [str(prores4444), "--mask-track", str(track), "-o", str(out), "--model", "opencv"]
    assert cli.main(args) == 0
    source = decoded_rgb(prores4444)
    for index in range(COUNT):
        file = openexr.File(str(tmp_path / f"o.{index:04d}.exr"), separate_channels=True)
        channels = {name: c.pixels for name, c in file.channels().items()}
        assert sorted(channels) == ["A", "B", "G", "R"]
        assert all(c.dtype == np.float32 for c in channels.values())
        assert np.array_equal(np.rint(channels["A"] * 1023), alpha10(index))
        rgb = np.stack([channels[c] for c in "RGB"], axis=-1)
        keep = outside(track, index)
        expected = source[index].astype(np.float32) / 65535  # code values, as for any EXR
        assert np.array_equal(rgb[keep], expected[keep]), f"frame {index}: RGB changed"


def test_an_output_without_alpha_warns_once_or_fails_with_strict(
    tmp_path, prores4444, track, capfd
):
    out = tmp_path / "o.mp4"
    args = [str(prores4444), "--mask-track", str(track), "-o", str(out), "--model", "opencv"]
    assert cli.main(args + ["--temporal", "off"]) == 0
    err = capfd.readouterr().err
    assert err.count("alpha channel is dropped") == 1, err
    assert "yuva444p12le" in err and "prores4444" in err
    assert out.exists()

    strict = tmp_path / "strict.mov"
    args = [str(prores4444), "--mask-track", str(track), "-o", str(strict), "-c:v", "prores"]
    assert cli.main(args + ["--strict"]) == 2
    err = capfd.readouterr().err
    assert "-c:v prores: " in err and "refused with --strict" in err, err
    assert not strict.exists() and not list(tmp_path.glob(".strict*"))


def write_rgba_pngs(folder: Path, deep: bool) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    top = 65535 if deep else 255
    for index in range(COUNT):
        bgra = rng.integers(0, top + 1, (HEIGHT, WIDTH, 4)).astype(np.uint16 if deep else np.uint8)
        bgra[:, :, 3] = (alpha10(index).astype(np.int64) * top // 1023).astype(bgra.dtype)
        cv2.imwrite(str(folder / f"key.{index:04d}.png"), bgra)
    return folder / "key.%04d.png"


@pytest.mark.parametrize("deep", [False, True], ids=["rgba", "rgba64"])
def test_an_rgba_png_sequence_keeps_its_alpha(tmp_path, track, deep):
    pattern = write_rgba_pngs(tmp_path / "in", deep)
    out = tmp_path / "out" / "o.%04d.png"
    args = [str(pattern), "--mask-track", str(track), "-o", str(out), "--model", "opencv"]
    assert cli.main(args) == 0
    for index in range(COUNT):
        before = cv2.imread(str(tmp_path / "in" / f"key.{index:04d}.png"), cv2.IMREAD_UNCHANGED)
        after = cv2.imread(str(tmp_path / "out" / f"o.{index:04d}.png"), cv2.IMREAD_UNCHANGED)
        assert after.dtype == before.dtype and after.shape == before.shape
        assert np.array_equal(after[:, :, 3], before[:, :, 3]), f"frame {index}: alpha changed"
        keep = outside(track, index)
        assert np.array_equal(after[keep], before[keep]), f"frame {index}: RGB changed"
        assert not np.array_equal(after, before), f"frame {index}: nothing filled"


def test_a_sequence_that_loses_its_alpha_midway_is_refused(tmp_path, track, capfd):
    pattern = write_rgba_pngs(tmp_path / "in", deep=False)
    third = tmp_path / "in" / "key.0002.png"
    cv2.imwrite(str(third), cv2.imread(str(third), cv2.IMREAD_UNCHANGED)[:, :, :3])
    args = [str(pattern), "--mask-track", str(track), "-o", str(tmp_path / "o.%04d.png")]
    assert cli.main(args + ["--model", "opencv"]) == 3
    err = capfd.readouterr().err
    assert "key.0002.png: has no alpha channel" in err and "key.0000.png" in err, err


@pytest.mark.parametrize("codec, suffix", [("ffv1", ".mkv"), ("prores4444", ".mov")])
def test_a_movie_with_alpha_keeps_it_unchanged(tmp_path, prores4444, track, codec, suffix):
    out = tmp_path / f"o{suffix}"
    args = [str(prores4444), "--mask-track", str(track), "-o", str(out), "-c:v", codec]
    assert cli.main(args + ["--model", "opencv", "--strict"]) == 0
    with av.open(str(out)) as container:
        frames = list(container.decode(video=0))
    assert len(frames) == COUNT
    for index, frame in enumerate(frames):
        assert frame.format.name == "yuva444p12le", frame.format.name
        stored = np.frombuffer(frame.planes[3], np.uint16).reshape(HEIGHT, -1)[:, :WIDTH]
        assert np.array_equal(stored >> 2, alpha10(index)), f"frame {index}: alpha changed"


def test_the_hook_refuses_to_drop_alpha_with_strict(tmp_path, prores4444, track):
    request = tmp_path / "request.json"
    request.write_text(
        json.dumps(
            {
                "version": 1,
                "input": str(prores4444),
                "mask_track": str(track),
                "output": str(tmp_path / "o.mp4"),
                "model": "opencv",
                "options": {"strict": True},
            }
        )
    )
    events = io.StringIO()
    roots = [a for f in (tmp_path, prores4444.parent, track.parent) for a in ("--root", str(f))]
    with contextlib.redirect_stdout(events):
        code = hook.main([*roots, str(request)])
    last = json.loads(events.getvalue().splitlines()[-1])
    assert code == 2 and last["event"] == "error" and last["code"] == "usage", last
    assert "alpha channel" in last["message"] and "strict" in last["message"], last
    assert not (tmp_path / "o.mp4").exists() and not list(tmp_path.glob(".o.tmp*"))


@pytest.mark.parametrize("codec, suffix", [("ffv1", ".mkv"), ("prores4444", ".mov")])
def test_an_rgba_png_sequence_to_a_movie_that_holds_alpha_keeps_it(tmp_path, track, codec, suffix):
    pattern = write_rgba_pngs(tmp_path / "in", deep=True)
    out = tmp_path / f"o{suffix}"
    args = [str(pattern), "--mask-track", str(track), "-o", str(out), "-c:v", codec]
    assert cli.main(args + ["--model", "opencv", "--strict"]) == 0  # nothing to refuse
    with av.open(str(out)) as container:
        frames = [f.to_ndarray(format="rgba64le") for f in container.decode(video=0)]
    assert len(frames) == COUNT
    for index, frame in enumerate(frames):
        before = cv2.imread(str(tmp_path / "in" / f"key.{index:04d}.png"), cv2.IMREAD_UNCHANGED)
        alpha = before[:, :, 3].astype(np.int64)
        if codec == "ffv1":  # lossless: the alpha and the RGB outside the mask as read
            assert np.array_equal(frame[:, :, 3], alpha), f"frame {index}: alpha changed"
            keep = outside(track, index)
            assert np.array_equal(frame[:, :, 2::-1][keep], before[:, :, :3][keep])
        else:  # ProRes stores alpha at 10 bits: a 16-bit alpha within one 10-bit step
            assert np.abs(frame[:, :, 3].astype(np.int64) - alpha).max() <= 66, index


def test_an_rgba_sequence_to_h264_warns_that_the_alpha_is_dropped(tmp_path, track, capfd):
    pattern = write_rgba_pngs(tmp_path / "in", deep=False)
    out = tmp_path / "o.mp4"
    args = [str(pattern), "--mask-track", str(track), "-o", str(out), "--model", "opencv"]
    assert cli.main(args) == 0
    err = capfd.readouterr().err
    assert err.count("the alpha channel is dropped") == 1, err
    assert "libx264 cannot hold; keep it with -c:v prores4444, ffv1" in err
    assert cli.main([*args[:4], str(tmp_path / "p.mp4"), *args[5:], "--strict"]) == 2
    assert not (tmp_path / "p.mp4").exists()
