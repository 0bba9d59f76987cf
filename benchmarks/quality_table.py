"""Markdown tables for benchmarks/README.md from `bench_quality.py --json` files.

    python benchmarks/quality_table.py results/quality-w40.json [results/quality-w24.json ...]

The first file gives the per-case table and the per-family summary; every file gives one
row of the window-grid table (so that a change which only helps one grid shows as noise).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_quality import groups, summary  # noqa: E402

from moebius_video.temporal import TemporalOptions  # noqa: E402

DEFAULT_WINDOW = TemporalOptions().window


def fmt(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def case_table(rows: list[dict]) -> list[str]:
    out = [
        "| case | family | source, path | size x frames | revealed (fraction) "
        "| reveal median / p90 | PSNR ours | Telea | FSR* | gain vs Telea | vs FSR* "
        "| SSIM ours | E_warp ratio ours | Telea |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        source = r["source"] + ", " + r["path"]
        revealed = f"{'yes' if r['revealed'] else 'no'} ({r['reveal_fraction']:.2f})"
        reveal = f"{fmt(r['reveal_median'], '.0f')} / {fmt(r['reveal_p90'], '.0f')}"
        out.append(
            f"| {r['case']} | {r['family']} | {source} | {r['size']} x {r['frames']} | {revealed} "
            f"| {reveal} | {r['psnr']:.2f} | {r['psnr_telea']:.2f} | {r['psnr_fsr_frames']:.2f} "
            f"| {r['gain_telea']:+.2f} | {r['gain_fsr']:+.2f} | {r['ssim']:.3f} "
            f"| {r['e_warp_ratio']:.2f} | {r['e_warp_ratio_telea']:.2f} |"
        )
    return out


def family_table(rows: list[dict]) -> list[str]:
    out = [
        "| group | cases | mean gain | median | worst | worst case | E_warp ratio > 1.5 "
        "| max ratio |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, group in groups(rows).items():
        s = summary(group)
        out.append(
            f"| {name} | {s['cases']} | {s['mean_gain']:+.2f} | {s['median_gain']:+.2f} "
            f"| {s['worst_gain']:+.2f} | {s['worst_case']} | {s['flicker_fraction']:.2f} "
            f"| {s['max_e_warp_ratio']:.2f} |"
        )
    return out


def grid_table(runs: list[dict]) -> list[str]:
    out = [
        "| window | cases | mean gain | median | worst (case) | revealed mean / worst "
        "| never revealed mean / worst | real footage mean / worst | E_warp ratio > 1.5 "
        "| max ratio |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for run in runs:
        rows = run["rows"]
        s = summary(rows)
        parts = []
        for key in ("revealed", "never revealed", "real footage"):
            group = groups(rows).get(key)
            if group:
                g = summary(group)
                parts.append(f"{g['mean_gain']:+.2f} / {g['worst_gain']:+.2f}")
            else:
                parts.append("-")
        window = run["window"] or f"{DEFAULT_WINDOW} (default)"
        out.append(
            f"| {window} | {s['cases']} | {s['mean_gain']:+.2f} "
            f"| {s['median_gain']:+.2f} | {s['worst_gain']:+.2f} ({s['worst_case']}) "
            f"| {parts[0]} | {parts[1]} | {parts[2]} | {s['flicker_fraction']:.2f} "
            f"| {s['max_e_warp_ratio']:.2f} |"
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path, help="bench_quality.py --json files")
    args = parser.parse_args()
    runs = [json.loads(p.read_text()) for p in args.runs]
    print("\n".join(case_table(runs[0]["rows"])), end="\n\n")
    print("\n".join(family_table(runs[0]["rows"])), end="\n\n")
    print("\n".join(grid_table(runs)))


if __name__ == "__main__":
    main()
