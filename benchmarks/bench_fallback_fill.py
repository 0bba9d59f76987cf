"""Which classical fill paints best what no frame shows: Telea or FSR (a script, not a test).

Issue 14, item 4: opencv-contrib's FSR (`cv2.xphoto.inpaint`, fast and best modes) against
OpenCV Telea, the product's no-weights fallback, per frame, on the same frames of the
same cases (`bench_quality.py`'s cases, its scored region and its FSR frames), with the
CPU time of each fill measured side by side. No temporal core is involved: this compares
the painter that key frames of never-revealed holes get.

    python benchmarks/bench_fallback_fill.py [--all] [--best] [--only NAME] [--json out.json]

By default it runs the never-revealed cases (reveal fraction < 0.5 in the baseline table
`benchmarks/baseline/quality-w40.json`); `--all` runs every case; `--best` adds FSR's
best mode (tens of seconds a frame).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_quality import CASES, Scores, blend, scored_regions, telea  # noqa: E402
from quality_cases import build_case  # noqa: E402

BASELINE = Path(__file__).resolve().parent / "baseline" / "quality-w40.json"
CONTEXT = 24  # px around the mask's box that FSR sees (as bench_quality's baseline)


def fsr(frame: np.ndarray, alpha: np.ndarray, mode: int) -> np.ndarray:
    ys, xs = np.nonzero(alpha > 0)
    if not len(xs):
        return frame
    h, w = alpha.shape
    x0, x1 = max(xs.min() - CONTEXT, 0), min(xs.max() + CONTEXT + 1, w)
    y0, y1 = max(ys.min() - CONTEXT, 0), min(ys.max() + CONTEXT + 1, h)
    crop = np.ascontiguousarray(frame[y0:y1, x0:x1])
    known = np.where(alpha[y0:y1, x0:x1] > 0, 0, 255).astype(np.uint8)
    painted = np.zeros_like(crop)
    cv2.xphoto.inpaint(crop, known, painted, mode)
    out = frame.copy()
    out[y0:y1, x0:x1] = blend(painted, crop, alpha[y0:y1, x0:x1])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--all", action="store_true", help="every case, not only never-revealed")
    parser.add_argument("--best", action="store_true", help="also FSR's best mode (slow)")
    parser.add_argument("--only", action="append", help="case name (repeatable)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if not hasattr(cv2, "xphoto"):
        raise SystemExit("bench_fallback_fill: needs opencv-contrib-python-headless")
    baseline = {r["case"]: r for r in json.loads(BASELINE.read_text())["rows"]}
    chosen = [
        c
        for c in CASES
        if (args.only and c.name in args.only)
        or (not args.only and (args.all or not baseline[c.name]["revealed"]))
    ]
    fills = {"telea": telea, "fsr_fast": lambda f, a: fsr(f, a, cv2.xphoto.INPAINT_FSR_FAST)}
    if args.best:
        fills["fsr_best"] = lambda f, a: fsr(f, a, cv2.xphoto.INPAINT_FSR_BEST)
    print(f"{'case':27s} {'size':>9s} " + " ".join(f"{n:>16s}" for n in fills))
    rows = []
    for spec in chosen:
        case = build_case(spec)
        regions, _, frames = scored_regions(case)
        scores = {n: Scores() for n in fills}
        cpu = dict.fromkeys(fills, 0.0)
        for t in frames:
            for name, fill in fills.items():
                began = time.process_time()
                out = fill(case.dirty[t], case.alpha[t])
                cpu[name] += time.process_time() - began
                scores[name].add_frame(out, case.clean[t], regions[t])
        row = {
            "case": spec.name,
            "size": f"{case.size[0]}x{case.size[1]}",
            "revealed": baseline[spec.name]["revealed"],
            "frames": len(frames),
        }
        for name in fills:
            row[f"psnr_{name}"] = round(scores[name].psnr, 2)
            row[f"ms_{name}"] = round(1000 * cpu[name] / len(frames), 1)
        rows.append(row)
        print(
            f"{spec.name:27s} {row['size']:>9s} "
            + " ".join(f"{row[f'psnr_{n}']:7.2f} {row[f'ms_{n}']:6.0f}ms" for n in fills)
        )
    summary = {}
    for name in fills:
        if name == "telea":
            continue
        gains = [r[f"psnr_{name}"] - r["psnr_telea"] for r in rows]
        ratio = statistics.median(r[f"ms_{name}"] / max(r["ms_telea"], 0.1) for r in rows)
        summary[name] = {
            "mean_gain_over_telea": round(statistics.mean(gains), 2),
            "worst_gain_over_telea": round(min(gains), 2),
            "wins": sum(g > 0 for g in gains),
            "cases": len(gains),
            "median_cpu_ratio_to_telea": round(ratio, 1),
        }
        s = summary[name]
        print(
            f"\n{name} - telea: mean {s['mean_gain_over_telea']:+.2f} dB, worst "
            f"{s['worst_gain_over_telea']:+.2f} dB, wins {s['wins']}/{s['cases']}, "
            f"CPU {s['median_cpu_ratio_to_telea']:.1f}x Telea's (median)"
        )
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "summary": summary}, indent=1))


if __name__ == "__main__":
    main()
