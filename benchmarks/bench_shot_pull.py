"""How much a shot-wide pull aligned by camera motion could gain (an experiment, issue 14).

Not the product: for every masked pixel of frame t, take the nearest frame u of the shot
(any distance) whose camera motion t -> u is global (`flow.camera_motion`, estimated from
the dirty frames outside the masks, as the product could) and where the pixel's scene
point lands unmasked; copy it from there (bilinear). Telea paints what no frame shows.
No local flow, no blending, no fusion of candidates: it measures what the alignment alone
brings, beside today's core as measured by `bench_quality.py` (its `--json` rows, e.g.
`benchmarks/baseline/quality-w40.json`). `--oracle` uses the exact camera matrices of the
single-layer camera paths instead of the estimate.

PSNR and the gain over the best baseline are computed as in `bench_quality.py` (mask
dilated by 2 px, FSR compared on the same 8 frames); E_warp is not measured here.

    python benchmarks/bench_shot_pull.py [--baseline JSON] [--oracle] [--only NAME ...]
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
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_quality import CASES, Scores, blend, scored_regions  # noqa: E402
from quality_cases import Case, build_case  # noqa: E402

from moebius_video.flow.camera_motion import estimate_camera_motion  # noqa: E402

BASELINE = Path(__file__).resolve().parent / "baseline" / "quality-w40.json"


class ExactMotion:
    """The camera path's own matrices, with the interface of `CameraMotion` used here."""

    def __init__(self, matrices: list[np.ndarray]):
        self.matrices = [np.vstack([m, [0, 0, 1]]) for m in matrices]

    def is_global(self, t: int, u: int) -> bool:
        return True

    def transform(self, t: int, u: int) -> np.ndarray:
        return self.matrices[u] @ np.linalg.inv(self.matrices[t])


def pull(case: Case, motion) -> tuple[list[np.ndarray], float]:
    """The pulled frames, and the fraction of masked pixels some other frame showed."""
    frames = len(case.dirty)
    h, w = case.dirty[0].shape[:2]
    # a source pixel is usable when its bilinear neighbourhood is unmasked
    blocked = [
        cv2.dilate((a > 0).astype(np.uint8), np.ones((3, 3), np.uint8)) > 0 for a in case.alpha
    ]
    out, shown = [], []
    for t in range(frames):
        hole = case.alpha[t] > 0
        if not hole.any():
            out.append(case.dirty[t])
            continue
        ys, xs = np.nonzero(hole)
        points = np.stack([xs, ys, np.ones_like(xs)], 1).astype(np.float64)
        values = np.zeros((len(xs), 3))
        found = np.zeros(len(xs), bool)
        for u in sorted(range(frames), key=lambda u: abs(u - t))[1:]:
            if found.all():
                break
            matrix = motion.transform(t, u) if motion.is_global(t, u) else None
            if matrix is None:
                continue
            todo = np.nonzero(~found)[0]
            q = points[todo] @ matrix.T
            q = q[:, :2] / q[:, 2:3]
            ok = (q[:, 0] >= 0) & (q[:, 0] <= w - 1) & (q[:, 1] >= 0) & (q[:, 1] <= h - 1)
            xi, yi = np.rint(q[ok, 0]).astype(int), np.rint(q[ok, 1]).astype(int)
            ok[ok] = ~blocked[u][yi, xi]
            if not ok.any():
                continue
            at = q[ok].astype(np.float32)
            sampled = cv2.remap(case.dirty[u], at[:, 0:1], at[:, 1:2], cv2.INTER_LINEAR)
            values[todo[ok]] = sampled[:, 0]
            found[todo[ok]] = True
        painted = case.dirty[t].copy()
        painted[ys[found], xs[found]] = np.clip(np.rint(values[found]), 0, 255).astype(np.uint8)
        rest = np.zeros((h, w), np.uint8)
        rest[ys[~found], xs[~found]] = 1
        if rest.any():
            painted = cv2.inpaint(painted, rest, 5, cv2.INPAINT_TELEA)
        out.append(blend(painted, case.dirty[t], case.alpha[t]))
        shown.append(found.mean())
    return out, float(np.mean(shown)) if shown else 0.0


def psnr_of(case: Case, out: list[np.ndarray]) -> tuple[float, float]:
    """PSNR over every masked frame, and over the FSR frames (as bench_quality picks them)."""
    regions, masked, fsr_frames = scored_regions(case)
    every, some = Scores(), Scores()
    for t in masked:
        every.add_frame(out[t], case.clean[t], regions[t])
        if t in fsr_frames:
            some.add_frame(out[t], case.clean[t], regions[t])
    return every.psnr, some.psnr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", type=Path, default=BASELINE, help="bench_quality --json")
    parser.add_argument("--oracle", action="store_true", help="exact camera matrices")
    parser.add_argument("--only", action="append", help="case name (repeatable)")
    args = parser.parse_args()
    core = {r["case"]: r for r in json.loads(args.baseline.read_text())["rows"]}
    print(
        f"{'case':27s} {'revealed':8s} {'p90':>4s} {'shown':>5s} {'PSNR':>6s} {'core':>6s} "
        f"{'gain':>6s} {'core':>6s} {'motion s':>8s}"
    )
    rows = []
    for spec in CASES:
        if (args.only and spec.name not in args.only) or spec.name not in core:
            continue
        case = build_case(spec)
        began = time.perf_counter()
        if args.oracle:
            if case.layers is None or len(case.layers) > 1:
                continue  # footage and parallax have no single exact matrix per frame
            motion = ExactMotion(case.layers[0].matrices)
        else:
            masks = [(a > 0).astype(np.uint8) for a in case.alpha]
            motion = estimate_camera_motion(case.dirty, masks)
        seconds = time.perf_counter() - began
        out, shown = pull(case, motion)
        psnr, psnr_fsr_frames = psnr_of(case, out)
        base = core[spec.name]
        gain = min(psnr - base["psnr_telea"], psnr_fsr_frames - base["psnr_fsr_frames"])
        rows.append({**base, "pull_psnr": psnr, "pull_gain": gain, "shown": shown})
        p90 = "-" if base["reveal_p90"] is None else f"{base['reveal_p90']:.0f}"
        print(
            f"{spec.name:27s} {str(base['revealed']):8s} {p90:>4s} {shown:5.2f} {psnr:6.2f} "
            f"{base['psnr']:6.2f} {gain:+6.2f} {base['gain_best']:+6.2f} {seconds:8.1f}",
            flush=True,
        )
    print(
        f"\n{'group':15s} {'cases':>5s} {'pull mean':>9s} {'worst':>6s} {'core mean':>9s} "
        f"{'worst':>6s}"
    )
    for name, group in (
        ("all", rows),
        ("revealed", [r for r in rows if r["revealed"]]),
        ("never revealed", [r for r in rows if not r["revealed"]]),
    ):
        if group:
            pulled = [r["pull_gain"] for r in group]
            today = [r["gain_best"] for r in group]
            print(
                f"{name:15s} {len(group):5d} {statistics.fmean(pulled):+9.2f} {min(pulled):+6.2f} "
                f"{statistics.fmean(today):+9.2f} {min(today):+6.2f}"
            )


if __name__ == "__main__":
    main()
