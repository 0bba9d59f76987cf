"""Cost of the camera-motion pass per 720p frame, against a plain decode (a script, not a test).

Decodes `sample_clips/bbb_wire.mp4` (1280 x 720, 75 frames) with PyAV to RGB arrays, once
alone and once feeding every frame (and a mask over the wire's area) to
`flow.camera_motion.CameraMotionEstimator`, alternating, `--rounds` times; reports medians:
decode ms per frame, camera motion ms per frame (the difference), and the ratio of the two
walls and of the CPU times (all threads). `--scale 3` upscales each decoded frame first
(3840 x 2160), to show that the pass works at a bounded size (the upscale is timed in both
runs).

    python benchmarks/bench_camera_motion.py [--rounds 5] [--threads 1] [--scale 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import av
import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from moebius_video.flow.camera_motion import CameraMotionEstimator  # noqa: E402

CLIP = ROOT / "sample_clips" / "bbb_wire.mp4"


def frames(scale: int):
    with av.open(str(CLIP)) as container:
        for frame in container.decode(video=0):
            rgb = frame.to_ndarray(format="rgb24")
            if scale != 1:
                rgb = cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
            yield rgb


def wire_mask(shape: tuple[int, int], scale: int) -> np.ndarray:
    # a band where the clip's wire runs (its exact track does not change the cost)
    mask = np.zeros(shape, np.uint8)
    cv2.line(mask, (300 * scale, 0), (420 * scale, 720 * scale), 255, 12 * scale)
    return mask


def decode_only(scale: int) -> tuple[float, float, int]:
    start, cpu = time.perf_counter(), time.process_time()
    count = sum(1 for _ in frames(scale))
    return time.perf_counter() - start, time.process_time() - cpu, count


def decode_and_motion(scale: int) -> tuple[float, float, int, float]:
    start, cpu = time.perf_counter(), time.process_time()
    estimator = CameraMotionEstimator()
    mask = None
    for rgb in frames(scale):
        if mask is None:
            mask = wire_mask(rgb.shape[:2], scale)
        estimator.add(rgb, mask)
    motion = estimator.result()
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    confident = float(np.mean([p.is_global for p in motion.pairs]))
    return wall, cpu, motion.count, confident


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=0, help="cv2.setNumThreads (0: default)")
    parser.add_argument("--scale", type=int, default=1, help="upscale the decoded frames")
    args = parser.parse_args()
    if args.threads:
        cv2.setNumThreads(args.threads)
    decode_walls, motion_walls, decode_cpus, motion_cpus = [], [], [], []
    decode_only(args.scale)  # warm the file cache and the decoder
    for _ in range(args.rounds):
        wall, cpu, count = decode_only(args.scale)
        decode_walls.append(wall)
        decode_cpus.append(cpu)
        wall, cpu, count_m, confident = decode_and_motion(args.scale)
        motion_walls.append(wall)
        motion_cpus.append(cpu)
        assert count == count_m
    decode, both = statistics.median(decode_walls), statistics.median(motion_walls)
    # CPU time of all threads: steadier than wall time on a shared machine
    decode_cpu, both_cpu = statistics.median(decode_cpus), statistics.median(motion_cpus)
    size = f"{1280 * args.scale}x{720 * args.scale}"
    print(f"{CLIP.name} at {size}, {count} frames, median of {args.rounds} rounds")
    print(f"decode (PyAV to RGB):       {1000 * decode / count:7.2f} ms/frame")
    print(f"decode + camera motion:     {1000 * both / count:7.2f} ms/frame")
    print(f"camera motion alone:        {1000 * (both - decode) / count:7.2f} ms/frame")
    print(f"ratio to decode:            {both / decode:7.2f}x")
    print(f"CPU time, decode:           {1000 * decode_cpu / count:7.2f} ms/frame")
    print(f"CPU time, camera motion:    {1000 * (both_cpu - decode_cpu) / count:7.2f} ms/frame")
    print(f"CPU ratio to decode:        {both_cpu / decode_cpu:7.2f}x")
    print(f"pairs explained globally:   {100 * confident:6.1f} %")


if __name__ == "__main__":
    main()
