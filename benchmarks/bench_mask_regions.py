"""Masks far apart: three small masks in three corners against the largest one alone
(issue 17, "cost follows the masks"), side by side in one run.

A clip (the 720p sample's clean footage, resized to `--size`, `--frames` long) gets three
artefacts: a wire near the top-left corner, a ball crossing near the top right and a
logo in the bottom-right corner. Each mode runs in a fresh process, which reports its
wall time, CPU time (user + system) and peak RSS (`ru_maxrss`):

- `decode+encode`: PyAV decodes, libx264 (crf 16) encodes; the floor for any pipeline;
- `wire`: the CLI with the wire's track alone (the largest of the three);
- `three`: the CLI with all three tracks.

    python benchmarks/bench_mask_regions.py                        # 1080p, 36 frames
    python benchmarks/bench_mask_regions.py --size 3840x2160 --frames 24

The goal: three small masks cost no more than 1.5x the largest one alone. Numbers and what
bounds them: benchmarks/README.md, "Masks far apart".
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SOURCE = REPO / "sample_clips" / "bbb_clean.mp4"
MODES = ("decode+encode", "wire", "three")


def tracks(width: int, height: int, frames: int) -> dict[str, dict]:
    """The wire alone, and the wire, a ball and a logo (sizes relative to the frame)."""
    s = width / 1920
    last = frames - 1
    wire = {
        "id": "wire",
        "shape": "polyline",
        "width": 4 * s,
        "expand": 2,
        "feather": 1,
        "range": [0, last],
        "keyframes": [
            {"frame": 0, "points": [[60 * s, 0], [200 * s, 160 * s], [380 * s, 300 * s]]},
            {"frame": last, "points": [[90 * s, 0], [230 * s, 170 * s], [410 * s, 300 * s]]},
        ],
    }
    ball = {
        "id": "ball",
        "shape": "ellipse",
        "expand": 2,
        "feather": 1,
        "range": [0, last],
        "keyframes": [
            {"frame": 0, "center": [1500 * s, 150 * s], "axes": [22 * s, 22 * s], "angle": 0},
            {"frame": last, "center": [1800 * s, 190 * s], "axes": [22 * s, 22 * s], "angle": 0},
        ],
    }
    x0, y0, x1, y1 = 1700 * s, 960 * s, 1860 * s, 1040 * s
    logo = {
        "id": "logo",
        "shape": "polygon",
        "expand": 2,
        "feather": 1,
        "range": [0, last],
        "keyframes": [{"frame": 0, "points": [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]}],
    }
    head = {"schema": "moebius.masktrack/1", "width": width, "height": height}
    return {"wire": {**head, "tracks": [wire]}, "three": {**head, "tracks": [wire, ball, logo]}}


def make_clip(path: Path, width: int, height: int, frames: int) -> None:
    """The sample's clean frames (looped if the clip is longer), resized, lossless H.264."""
    import av
    import cv2

    with av.open(str(SOURCE)) as source:
        pictures = [f.to_ndarray(format="rgb24") for f in source.decode(video=0)]
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": "0", "preset": "veryfast"}
        for k in range(frames):
            picture = cv2.resize(pictures[k % len(pictures)], (width, height), cv2.INTER_CUBIC)
            out.mux(stream.encode(av.VideoFrame.from_ndarray(picture, format="rgb24")))
        out.mux(stream.encode(None))


def child(mode: str, clip: Path, folder: Path) -> None:
    """One measurement, in its own process."""
    output = folder / f"out-{mode.replace('+', '-')}.mp4"
    if mode == "decode+encode":
        sys.path.insert(0, str(Path(__file__).parent))
        from bench_pipeline import plain_transcode

        plain_transcode(clip, output)
        return
    sys.path.insert(0, str(REPO))
    from moebius_video import cli

    code = cli.main(
        [str(clip), "--mask-track", str(folder / f"{mode}.json"), "-o", str(output)]
        + ["--model", "opencv", "-y", "--progress", "plain"]
    )
    sys.exit(code)


def measure(mode: str, clip: Path, folder: Path) -> dict:
    began = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, __file__, "--child", mode, str(clip), str(folder)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    stderr = process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{mode} failed:\n{stderr[-2000:]}")
    return {
        "mode": mode,
        "wall_s": time.perf_counter() - began,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "peak_rss_mb": usage.ru_maxrss / 1024,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="1920x1080", help="WIDTHxHEIGHT (default 1920x1080)")
    parser.add_argument("--frames", type=int, default=36)
    parser.add_argument("--json", type=Path, help="also write the rows here")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        mode, clip, folder = args.child
        child(mode, Path(clip), Path(folder))
        return 0
    width, height = (int(v) for v in args.size.lower().split("x"))
    with tempfile.TemporaryDirectory(prefix="bench-regions-") as name:
        folder = Path(name)
        clip = folder / "clip.mp4"
        make_clip(clip, width, height, args.frames)
        for mode, document in tracks(width, height, args.frames).items():
            (folder / f"{mode}.json").write_text(json.dumps(document))
        rows = [measure(mode, clip, folder) for mode in MODES]
    wire = next(r for r in rows if r["mode"] == "wire")
    print(f"{args.size}, {args.frames} frames")
    print(f"{'mode':14} {'wall s':>8} {'CPU s':>8} {'peak RSS MB':>12} {'CPU / wire':>11}")
    for row in rows:
        row["cpu_vs_wire"] = row["cpu_s"] / wire["cpu_s"]
        print(
            f"{row['mode']:14} {row['wall_s']:8.1f} {row['cpu_s']:8.1f} "
            f"{row['peak_rss_mb']:12.0f} {row['cpu_vs_wire']:10.2f}x"
        )
    if args.json:
        args.json.write_text(json.dumps({"size": args.size, "frames": args.frames, "rows": rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
