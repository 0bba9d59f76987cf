"""Where a case's flicker and error come from: its warp error and its in-mask error split
by the source of each pixel.

Runs the CLI in this process on one `bench_quality.py` case (same options), keeps every
window's source maps (`FilledWindow.sources` of each region), and splits the output's
warp error (the E_warp of bench_quality, along the clean clip's flow) by the source of
the pixel in frame t and of the pixel it lands on in t + 1 (untouched: outside the mask
there), and by whether either frame is cross-faded between two windows ("blend"). A pair
of different sources is a pixel switching; "propagated -> propagated" far above the
clean clip's error is a fill sliding against the background. A second table gives the
PSNR of each source's pixels against the clean clip over the scored frames (bench_quality's
region), their share of the pixels and of the squared error.

    python benchmarks/flicker_sources.py bikes2-wire gravel-fast-boom --window 40
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import bench_quality as bq
import numpy as np
from quality_cases import build_case

from moebius_video.cli import main as cli_main
from moebius_video.temporal import engine
from moebius_video.temporal.grid import blend_weight, covering_windows, window_span
from moebius_video.temporal.keyframes import PULLED
from moebius_video.temporal.settings import TemporalOptions

NAMES = ["untouched", "propagated", "generated", "carried", "fallback", "pulled"]


def run_recording(case, window: int) -> tuple[list[np.ndarray], dict]:
    """The CLI's output frames, and every filled window by its first frame."""
    windows = {}
    fill = engine.fill_regions

    def recording(*args, **kwargs):
        result = fill(*args, **kwargs)
        if result is not None:
            windows[result.first_index] = result
        return result

    engine.fill_regions = recording
    try:
        with tempfile.TemporaryDirectory() as scratch:
            folder = Path(scratch)
            source, track, output = folder / "dirty.mkv", folder / "track.json", folder / "out.mkv"
            bq.write_lossless(case.dirty, source)
            track.write_text(json.dumps(case.track))
            argv = [str(source), "--mask-track", str(track), "-o", str(output), "-c:v", "ffv1"]
            argv += ["--model", "opencv", "-y", "--window", str(window), "--progress", "plain"]
            if cli_main(argv):
                raise SystemExit(f"{case.spec.name}: moebius-video failed")
            return bq.read_all(output), windows
    finally:
        engine.fill_regions = fill


def source_maps(case, windows: dict, window: int) -> tuple[list[np.ndarray], list[bool]]:
    """Per frame, the source map of the window weighing most in it (pulled codes merged),
    and whether two windows are cross-faded there."""
    options = TemporalOptions(window=window)
    count = len(case.clean)
    maps, blended = [], []
    for t in range(count):
        shares = []
        for w in covering_windows(t, options):
            filled = windows.get(window_span(w, options, 0, count)[0])
            weight = blend_weight(t, w, options)
            if filled is not None and weight > 0:
                shares.append((weight, filled))
        full = np.zeros(case.clean[0].shape[:2], np.uint8)
        if shares:
            filled = max(shares, key=lambda share: share[0])[1]
            for part in filled.parts:
                x0, y0, x1, y1 = part.box
                full[y0:y1, x0:x1] = np.minimum(part.sources[t - part.first_index], PULLED)
        maps.append(full)
        blended.append(len(shares) > 1)
    return maps, blended


def report(name: str, window: int) -> None:
    spec = next(c for c in bq.CASES if c.name == name)
    case = build_case(spec)
    flows = bq.clean_flows(case.clean)
    ours, windows = run_recording(case, window)
    regions, masked, _ = bq.scored_regions(case)
    maps, blended = source_maps(case, windows, window)
    errors: dict[tuple, list[float]] = {}
    total = [0.0, 0.0, 0]
    for t in range(len(case.clean) - 1):
        flow, valid = flows[t][0], flows[t][2]
        ys, xs = np.nonzero(regions[t] & valid)
        if not ys.size:
            continue
        ours_error = (ours[t].astype(np.float32) - bq.warp_back(ours[t + 1], flow))[ys, xs]
        clean = case.clean
        clean_error = (clean[t].astype(np.float32) - bq.warp_back(clean[t + 1], flow))[ys, xs]
        ours_error, clean_error = (ours_error**2).sum(1), (clean_error**2).sum(1)
        h, w = regions[t].shape
        lx = np.rint(xs + flow[ys, xs, 0]).astype(int).clip(0, w - 1)
        ly = np.rint(ys + flow[ys, xs, 1]).astype(int).clip(0, h - 1)
        here, there = maps[t][ys, xs], maps[t + 1][ly, lx]
        fade = "blend" if blended[t] or blended[t + 1] else ""
        for a, b in set(zip(here.tolist(), there.tolist(), strict=True)):
            chosen = (here == a) & (there == b)
            entry = errors.setdefault((NAMES[a], NAMES[b], fade), [0.0, 0.0, 0])
            entry[0] += float(ours_error[chosen].sum())
            entry[1] += float(clean_error[chosen].sum())
            entry[2] += int(chosen.sum())
        total[0] += float(ours_error.sum())
        total[1] += float(clean_error.sum())
        total[2] += ys.size
    scores = bq.Scores()
    for t in masked:
        scores.add_frame(ours[t], case.clean[t], regions[t])
    ratio = total[0] / max(total[1], bq.E_WARP_FLOOR * 3 * total[2])
    print(f"{name} window {window}: PSNR {scores.psnr:.2f}, E_warp ratio {ratio:.2f}")
    print(f"  {'t':>10s}    {'t + 1':10s} {'':5s} pixels  error share  mean ours  clean")
    for (a, b, fade), (error, clean_error, n) in sorted(errors.items(), key=lambda e: -e[1][0]):
        if error < 0.01 * total[0]:
            continue
        print(
            f"  {a:>10s} -> {b:10s} {fade:5s} {n / total[2]:6.3f}  {error / total[0]:11.3f}"
            f"  {error / n / 3:9.1f}  {clean_error / n / 3:5.1f}"
        )
    accuracy_by_source(case, ours, maps, regions, masked)


def accuracy_by_source(case, ours, maps, regions, masked) -> None:
    """Print each source's share of the scored pixels, its PSNR and its share of the error."""
    errors: dict[str, list[float]] = {}
    total_error, total = 0.0, 0
    for t in masked:
        ys, xs = np.nonzero(regions[t])
        error = ((ours[t][ys, xs].astype(np.float32) - case.clean[t][ys, xs]) ** 2).mean(1)
        codes = maps[t][ys, xs]
        for code in np.unique(codes):
            entry = errors.setdefault(NAMES[code], [0.0, 0])
            entry[0] += float(error[codes == code].sum())
            entry[1] += int((codes == code).sum())
        total_error += float(error.sum())
        total += ys.size
    print(f"  {'source':>10s}  pixels   PSNR  error share")
    for name, (error, n) in sorted(errors.items(), key=lambda e: -e[1][0]):
        psnr = 10 * np.log10(255.0**2 / max(error / n, 1e-10))
        share = error / max(total_error, 1e-10)
        print(f"  {name:>10s}  {n / total:6.3f} {psnr:6.2f}  {share:11.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("cases", nargs="+")
    parser.add_argument("--window", type=int, default=40)
    args = parser.parse_args()
    for name in args.cases:
        report(name, args.window)


if __name__ == "__main__":
    main()
