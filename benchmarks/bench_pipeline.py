"""The pipeline's cost against the floor: a plain decode + encode of the same clip.

    python benchmarks/bench_pipeline.py                 # 100 and 1000 frames, 720p wire
    python benchmarks/bench_pipeline.py --frames 100 --repeat 3

The clip is sample_clips/bbb_wire.mp4 (1280x720, a drawn wire, 75 frames) played
forwards and backwards until it is long enough, re-encoded once; its mask track has a
keyframe at every turn, so the mask follows the wire exactly. Each measurement runs
in its own process (side by side, in turn, in one run of this script), and reports
wall time and peak memory (ru_maxrss of that process):

- `decode+encode`: PyAV decodes the clip and libx264 encodes the decoded frames with
  the pipeline's settings (crf 16, the source time base and pts): the floor for any
  pipeline that re-encodes;
- `pipeline --temporal off`: inpaint_video, per-frame OpenCV fill on a crop;
- `pipeline --shot-pull off`: the temporal core looking only within its windows;
- `pipeline`: inpaint_video with the temporal core (flow, propagation, key-frame fills)
  and the shot-wide pull (a camera-motion pass over the clip, far references).

Both pipelines use `--model opencv` so the numbers are the pipeline's, not a model's
(with Moebius weights the fill of key frames dominates; see benchmarks for the model).
Memory must not grow with clip length: compare the 100- and 1000-frame rows.
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
SAMPLE = REPO / "sample_clips" / "bbb_wire.mp4"
SAMPLE_TRACK = REPO / "sample_clips" / "bbb_wire.json"
MODES = ("decode+encode", "pipeline --temporal off", "pipeline --shot-pull off", "pipeline")


# --- the clip ----------------------------------------------------------------------------------


def make_long_clip(frames: int, folder: Path) -> tuple[Path, Path]:
    """The sample played back and forth to `frames` frames, and its mask track."""
    import av

    clip, track_path = folder / f"bbb_wire_{frames}.mp4", folder / f"bbb_wire_{frames}.json"
    if clip.exists() and track_path.exists():
        return clip, track_path
    with av.open(str(SAMPLE)) as src:
        stream = src.streams.video[0]
        rate, time_base = stream.average_rate, stream.time_base
        source = [f.to_ndarray(format="yuv420p") for f in src.decode(stream)]
    period = len(source) - 1
    order = [
        i if (n // period) % 2 == 0 else period - i for n in range(frames) for i in [n % period]
    ]
    step = int(1 / (rate * time_base))  # pts per frame in the source time base
    with av.open(str(clip), "w") as out:
        video = out.add_stream("libx264", rate=rate)
        video.width, video.height, video.pix_fmt = 1280, 720, "yuv420p"
        video.time_base = video.codec_context.time_base = time_base
        cc = video.codec_context
        cc.color_primaries, cc.color_trc, cc.colorspace, cc.color_range = 1, 1, 1, 1
        video.options = {"crf": "18", "preset": "veryfast"}
        for n, i in enumerate(order):
            frame = av.VideoFrame.from_ndarray(source[i], format="yuv420p")
            frame.pts, frame.time_base = n * step, time_base
            out.mux(video.encode(frame))
        out.mux(video.encode(None))

    # Keyframes at every turn of the ping-pong: the wire moves A -> B -> A ...
    track = json.loads(SAMPLE_TRACK.read_text())
    first, last = track["tracks"][0]["keyframes"]
    track["tracks"][0]["keyframes"] = [
        {"frame": k * period, "points": (first if k % 2 == 0 else last)["points"]}
        for k in range((frames - 1) // period + 2)
    ]
    track_path.write_text(json.dumps(track))
    return clip, track_path


# --- one measurement (runs in a child process) ------------------------------------------------


def plain_transcode(clip: Path, output: Path) -> int:
    """Decode and re-encode with the pipeline's codec settings; nothing else."""
    import av

    frames = 0
    with av.open(str(clip)) as src, av.open(str(output), "w") as out:
        stream = src.streams.video[0]
        stream.thread_type = "AUTO"  # as io decodes
        video = out.add_stream("libx264", rate=stream.average_rate)
        video.width, video.height, video.pix_fmt = stream.width, stream.height, "yuv420p"
        video.time_base = video.codec_context.time_base = stream.time_base
        video.options = {"crf": "16"}
        for frame in src.decode(stream):
            frame.pict_type = av.video.frame.PictureType.NONE
            out.mux(video.encode(frame))
            frames += 1
        out.mux(video.encode(None))
    return frames


def child(mode: str, clip: Path, track: Path, output: Path) -> None:
    began = time.perf_counter()
    if mode == "decode+encode":
        frames = plain_transcode(clip, output)
    else:
        sys.path.insert(0, str(REPO))
        from moebius_video import InpaintOptions, inpaint_video

        options = InpaintOptions(
            model="opencv",
            temporal=mode != "pipeline --temporal off",
            shot_pull=False if mode == "pipeline --shot-pull off" else None,
            overwrite=True,
        )
        frames = inpaint_video(clip, track, output, options).frames
    print(json.dumps({"frames": frames, "seconds": time.perf_counter() - began}))


def measure(mode: str, clip: Path, track: Path, folder: Path) -> dict:
    """Run one mode in a fresh process; its wall time and its own peak RSS."""
    output = folder / f"out_{mode.replace(' ', '_').replace('+', '_')}.mp4"
    output.unlink(missing_ok=True)
    process = subprocess.Popen(
        [sys.executable, __file__, "--child", mode, str(clip), str(track), str(output)],
        stdout=subprocess.PIPE,
        text=True,
    )
    stdout = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"{mode} failed with exit code {process.returncode}")
    result = json.loads(stdout.strip().splitlines()[-1])
    result["peak_rss_mb"] = usage.ru_maxrss / 1024  # Linux reports KiB
    output.unlink(missing_ok=True)
    return result


# --- the run ---------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", default="100,1000", help="clip lengths, comma-separated")
    parser.add_argument("--repeat", type=int, default=1, help="runs per mode (the best is kept)")
    parser.add_argument("--modes", default=",".join(MODES), help="comma-separated subset")
    parser.add_argument("--workdir", type=Path, help="keep the generated clips here")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        mode, clip, track, output = args.child
        child(mode, Path(clip), Path(track), Path(output))
        return 0

    modes = [m.strip() for m in args.modes.split(",")]
    with tempfile.TemporaryDirectory() as scratch:
        folder = args.workdir or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        rows = []
        for frames in (int(n) for n in args.frames.split(",")):
            clip, track = make_long_clip(frames, folder)
            best: dict[str, dict] = {}
            for _ in range(args.repeat):
                for mode in modes:  # in turn, so load on the machine hits every mode alike
                    result = measure(mode, clip, track, folder)
                    if mode not in best or result["seconds"] < best[mode]["seconds"]:
                        best[mode] = result
            floor = best.get("decode+encode", {}).get("seconds")
            for mode in modes:
                r = best[mode]
                ratio = f"{r['seconds'] / floor:7.2f}x" if floor else "       -"
                rows.append(
                    f"| {frames:6d} | {mode:24} | {r['seconds']:7.1f} | "
                    f"{r['frames'] / r['seconds']:6.1f} | {ratio} | {r['peak_rss_mb']:7.0f} |"
                )
    print("1280x720 wire clip (bbb_wire looped), libx264 crf 16, best of", args.repeat)
    print("| frames | mode                     |  wall s |    fps | vs floor | peak RSS MB |")
    print("|-------:|--------------------------|--------:|-------:|---------:|------------:|")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
