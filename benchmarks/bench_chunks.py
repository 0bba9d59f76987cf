"""Farm chunks against one whole render, measured side by side in one run (issue 17).

A farm splits a shot into tasks of N frames (`--frames FIRST-LAST`, one process each,
as Deadline or OpenJD run them). Each task must equal the same frames of a whole render,
so it reads and fills every window its frames touch, with their context. This measures
what that costs: the whole render; the same frames as chunks of `--chunk` frames run one
after the other, each on its own; the farm workflow the templates run (`moebius-video
analyse` once, then the chunks with `--analysis`, which read the shot analysis and share
the windows they fill); and a one-frame task. Each is its own CLI process, with the wall
time and the CPU time (user + system of the process) of each; then it checks that both
kinds of chunks' frames are the whole render's, byte for byte.

    python benchmarks/bench_chunks.py                       # the 720p sample, 12-frame chunks
    python benchmarks/bench_chunks.py --chunk 24 --model opencv --json chunks.json

Numbers and what bounds them: benchmarks/README.md, "Farm chunks".
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "sample_clips" / "bbb_wire.mp4"
TRACK = REPO / "sample_clips" / "bbb_wire.json"


def frame_count(path: Path) -> int:
    with av.open(str(path)) as container:
        return container.streams.video[0].frames or sum(1 for _ in container.demux(video=0))


def timed(command: list[str]) -> tuple[float, float]:
    """(wall s, CPU s) of one child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    wall = time.perf_counter() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        sys.exit(f"failed ({done.returncode}): {' '.join(command)}\n{done.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--input", type=Path, default=SAMPLE)
    parser.add_argument("--mask-track", type=Path, default=TRACK)
    parser.add_argument("--chunk", type=int, default=12, help="frames per farm task")
    parser.add_argument("--model", default="opencv")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args(argv)

    frames = frame_count(args.input)
    base = [sys.executable, "-m", "moebius_video.cli", str(args.input)]
    base += ["--mask-track", str(args.mask_track), "--model", args.model, "--progress", "plain"]
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-chunks-") as folder:
        root = Path(folder)
        whole = root / "whole" / "f.%04d.png"
        wall, cpu = timed([*base, "-o", str(whole)])
        rows.append(
            {"mode": f"whole render, {frames} frames", "tasks": 1, "wall_s": wall, "cpu_s": cpu}
        )

        def chunked(out: Path, *extra: str) -> tuple[float, float, int]:
            wall = cpu = 0.0
            tasks = 0
            for first in range(0, frames, args.chunk):
                last = min(first + args.chunk, frames) - 1
                w, c = timed([*base, "-o", str(out), "--frames", f"{first}-{last}", *extra])
                wall, cpu, tasks = wall + w, cpu + c, tasks + 1
            return wall, cpu, tasks

        chunks = root / "chunks" / "f.%04d.png"
        wall, cpu, tasks = chunked(chunks)
        rows.append(
            {"mode": f"{args.chunk}-frame chunks", "tasks": tasks, "wall_s": wall, "cpu_s": cpu}
        )

        sidecar = root / "farm" / "shot.analysis.npz"
        analyse = [sys.executable, "-m", "moebius_video.cli", "analyse", str(args.input)]
        analyse += ["--mask-track", str(args.mask_track), "-o", str(sidecar)]
        a_wall, a_cpu = timed(analyse)
        farm = root / "farm" / "f.%04d.png"
        wall, cpu, tasks = chunked(farm, "--analysis", str(sidecar))
        rows.append(
            {"mode": "  analyse (farm step 1)", "tasks": 1, "wall_s": a_wall, "cpu_s": a_cpu}
        )
        rows.append(
            {
                "mode": f"  {args.chunk}-frame chunks --analysis",
                "tasks": tasks,
                "wall_s": wall,
                "cpu_s": cpu,
            }
        )
        rows.append(
            {
                "mode": "analyse + chunks (farm workflow)",
                "tasks": tasks + 1,
                "wall_s": a_wall + wall,
                "cpu_s": a_cpu + cpu,
            }
        )

        one = root / "one" / "f.%04d.png"
        wall, cpu = timed([*base, "-o", str(one), "--frames", "0-0"])
        rows.append(
            {"mode": "one-frame task (--frames 0-0)", "tasks": 1, "wall_s": wall, "cpu_s": cpu}
        )

        names = sorted(p.name for p in whole.parent.iterdir())
        same = all(
            (whole.parent / name).read_bytes() == (out.parent / name).read_bytes()
            for name in names
            for out in (chunks, farm)
        )
    reference = rows[0]
    print(f"{'mode':34} {'tasks':>5} {'wall s':>8} {'CPU s':>8} {'wall x':>7} {'CPU x':>7}")
    for row in rows:
        row["wall_ratio"] = row["wall_s"] / reference["wall_s"]
        row["cpu_ratio"] = row["cpu_s"] / reference["cpu_s"]
        print(
            f"{row['mode']:34} {row['tasks']:>5} {row['wall_s']:8.1f} {row['cpu_s']:8.1f} "
            f"{row['wall_ratio']:6.2f}x {row['cpu_ratio']:6.2f}x"
        )
    print(f"both chunk sets equal the whole render byte for byte: {same} ({len(names)} frames)")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "identical": same}, indent=2))
    return 0 if same else 1


if __name__ == "__main__":
    os.environ.setdefault("MOEBIUS_VIDEO_MODEL", "opencv")
    sys.exit(main())
