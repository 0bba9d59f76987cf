"""Speed and memory of the temporal core on a 720p clip with a wire (a script, not a test).

Speed: the same clip, the same codec settings (libx264, crf 16), measured side by side
in one run, alternating, best of --repeat:

    plain     decode -> encode (the floor for any pipeline)
    masks     decode -> mask track -> composite -> encode, the fill being the source's own
              pixels: what any masked fill costs here before it fills anything
    temporal  decode -> mask track -> temporal core -> composite -> encode

Target (issue 3): temporal <= 1.5 x plain.

Memory: peak RSS of a child process running the temporal core over N synthetic 720p
frames (a panning texture under a drifting wire) for two clip lengths; it must not grow
with the length.

    python benchmarks/bench_temporal_speed.py [--clip sample_clips/bbb_wire.mp4]
        [--track sample_clips/bbb_wire.json] [--repeat 2] [--memory 300,1200]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from moebius_video.io import VideoWriter, composite, open_video  # noqa: E402
from moebius_video.masks import load_mask_track  # noqa: E402
from moebius_video.patches import banded_patches  # noqa: E402
from moebius_video.temporal import OpenCVFiller, TemporalOptions, iter_patches  # noqa: E402


def plain(clip: Path, output: Path) -> tuple[float, float]:
    began, cpu = time.perf_counter(), time.process_time()
    with open_video(clip) as video, VideoWriter(output, video.info, crf=16, overwrite=True) as out:
        for frame in video.frames():
            out.write(composite(frame, []))
    return time.perf_counter() - began, time.process_time() - cpu


def masks_only(clip: Path, track_path: Path, output: Path) -> tuple[float, float]:
    began, cpu = time.perf_counter(), time.process_time()
    with open_video(clip) as video, VideoWriter(output, video.info, crf=16, overwrite=True) as out:
        info = video.info
        track = load_mask_track(
            track_path, width=info.width, height=info.height, frame_count=info.frame_count
        )
        for frame in video.frames():
            # As the pipeline does: the alpha and RGB around the mask only, cut to its
            # tight box; the frame is never converted to RGB as a whole.
            crop = track.alpha_crop(frame.index)
            box = None if crop is None else crop.tight_box()
            patches = []
            if box is not None:
                rgb, part = frame.rgb_crop(box), crop.region(box)
                patches = banded_patches(frame.index, box[0], box[1], rgb, part)
            out.write(composite(frame, patches))
    return time.perf_counter() - began, time.process_time() - cpu


def temporal(
    clip: Path, track_path: Path, output: Path, options: TemporalOptions
) -> tuple[float, float]:
    began, cpu = time.perf_counter(), time.process_time()
    with open_video(clip) as video, VideoWriter(output, video.info, crf=16, overwrite=True) as out:
        info = video.info
        track = load_mask_track(
            track_path, width=info.width, height=info.height, frame_count=info.frame_count
        )
        waiting = {}

        def frames():
            for frame in video.frames():
                waiting[frame.index] = frame
                yield frame

        for index, patches in iter_patches(frames(), track, OpenCVFiller(), options):
            out.write(composite(waiting.pop(index), patches))
    return time.perf_counter() - began, time.process_time() - cpu


# --- memory: run in a child so that its peak RSS is its own ----------------------------


def memory_child(count: int, quality: str) -> None:
    """Run the temporal core over `count` synthetic 720p frames; print peak RSS in MiB."""
    import cv2

    height, width = 720, 1280
    rng = np.random.default_rng(0)
    texture = cv2.GaussianBlur(
        rng.integers(0, 256, (height, width + 512, 3)).astype(np.float32), (0, 0), 3
    )
    texture = cv2.normalize(texture, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)

    class Wire:
        frame_count = count

        def alpha(self, index):
            alpha = np.zeros((height, width), np.float32)
            x = 600 + 40 * np.sin(index / 20)
            cv2.line(alpha, (int(x), 0), (int(x) + 120, height - 1), 1.0, 7, cv2.LINE_AA)
            return alpha

        def box(self, index, margin=0):
            from moebius_video.patches import mask_box

            return mask_box(self.alpha(index), margin)

    def frames():
        for index in range(count):
            # Back and forth, 3 px a frame: a pan that never jumps (a jump reads as a cut).
            step = (3 * index) % 1022
            shift = step if step <= 511 else 1022 - step
            rgb = np.ascontiguousarray(texture[:, shift : shift + width])
            yield SimpleNamespace(index=index, rgb=rgb)

    options = TemporalOptions(flow_quality=quality)
    produced = sum(1 for _ in iter_patches(frames(), Wire(), OpenCVFiller(), options))
    assert produced == count
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def peak_memory(count: int, quality: str) -> float:
    command = [sys.executable, __file__, "--memory-child", str(count), "--flow-quality", quality]
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    return float(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clip", type=Path, default=ROOT / "sample_clips" / "bbb_wire.mp4")
    parser.add_argument("--track", type=Path, default=ROOT / "sample_clips" / "bbb_wire.json")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--flow-quality", default="balanced")
    parser.add_argument("--memory", default="300,1200", help="clip lengths, or '' to skip")
    parser.add_argument("--memory-child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if args.memory_child:
        memory_child(args.memory_child, args.flow_quality)
        return

    options = TemporalOptions(flow_quality=args.flow_quality)
    with open_video(args.clip) as video:
        info = video.info
    print(f"clip: {args.clip.name} {info.width}x{info.height}, {info.frame_count} frames")
    times = {"plain": [], "masks": [], "temporal": []}
    with tempfile.TemporaryDirectory() as folder:
        for _ in range(args.repeat):
            times["plain"].append(plain(args.clip, Path(folder) / "plain.mp4"))
            times["masks"].append(masks_only(args.clip, args.track, Path(folder) / "masks.mp4"))
            times["temporal"].append(
                temporal(args.clip, args.track, Path(folder) / "temporal.mp4", options)
            )
    # Best of the repeats; CPU time (all threads) as well, since the machine is shared.
    wall = {name: min(t[0] for t in values) for name, values in times.items()}
    cpu = {name: min(t[1] for t in values) for name, values in times.items()}
    ratio = wall["temporal"] / wall["plain"]
    frames = info.frame_count
    labels = (
        ("plain", "plain decode+encode"),
        ("masks", "masks, no fill"),
        ("temporal", "temporal pipeline"),
    )
    for name, label in labels:
        print(
            f"{label:20s} wall {wall[name]:6.2f} s ({frames / wall[name]:5.1f} fps)  "
            f"cpu {cpu[name]:6.2f} s"
        )
    print(
        f"ratio: wall {ratio:.2f}, cpu {cpu['temporal'] / cpu['plain']:.2f} (target wall <= 1.5)"
        f"  {'PASS' if ratio <= 1.5 else 'FAIL'}"
    )
    floor = wall["masks"] / wall["plain"]
    print(f"masks without a fill: wall {floor:.2f}, cpu {cpu['masks'] / cpu['plain']:.2f}")
    result = {
        "frames": frames,
        "wall_s": wall,
        "cpu_s": cpu,
        "ratio": ratio,
        "masks_ratio": floor,
    }
    if args.memory:
        for count in (int(c) for c in args.memory.split(",")):
            peak = peak_memory(count, args.flow_quality)
            result[f"peak_rss_mib_{count}_frames"] = peak
            print(f"peak RSS, {count} synthetic 720p frames: {peak:.0f} MiB")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
