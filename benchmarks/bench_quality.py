"""Quality of the product on a broad set of cases with exact ground truth (a script, not a test).

Each case (see `quality_cases.py`) is clean footage, an artefact drawn from a real
`moebius.masktrack/1` track, and the track itself. The dirty clip is written losslessly
(FFV1, bgr0), the installed `moebius-video` CLI fills it exactly as a user would
(`--model opencv -c:v ffv1`), and the output is compared with the clean frames, beside two
per-frame baselines: OpenCV Telea and opencv-contrib's FSR (`cv2.xphoto.inpaint`).

Scores, inside the mask dilated by 2 px:
- PSNR (RGB, capped at PSNR_CAP) and SSIM (luma, 11x11 Gaussian window);
- E_warp ratio: flicker of the output (frame t against t+1 warped back with the clean
  clip's flow, over pixels the flow does not flag as occluded) over the clean clip's own,
  floored at E_WARP_FLOOR (a still clean clip has none).
FSR is slow (about a second a frame on a thin wire at 384x216), so it runs on
`FSR_FRAMES` evenly spaced frames of each case, and its gain is measured on those frames.

A case is *revealed* when at least half of its masked points have a reveal distance
inside the clip (measured, see `quality_cases.py`).

    python benchmarks/bench_quality.py [--quick] [--only NAME] [--family F] [--window N]
        [--json out.json] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from quality_cases import Case, CaseSpec, build_case, reveal_by_flow  # noqa: E402

from moebius_video.flow.complete import consistent  # noqa: E402

FSR_FRAMES = 8
# E_warp of a still clean clip is ~0; below one 8-bit level squared flicker is invisible, so
# the ratio's denominator is floored there (a still camera would otherwise give ratios of 1e6).
E_WARP_FLOOR = 1.0
# An exact copy of the background has infinite PSNR; 60 dB (MSE 0.0065) caps it so that one
# perfect case does not swamp a mean gain.
PSNR_CAP = 60.0
REVEALED_FRACTION = 0.5
FAR_REVEAL = 80  # frames: a reveal this far needs a window that looks past the default one
FAR_GROUP = 50  # frames: reveal p90 of the "far reveals" summary group


def _footage(name, family, clip, first, frames, artefact, seed, size=None):
    return CaseSpec(name, family, f"clip:{clip}", "footage", artefact, seed, frames, first, size)


def _photo(name, photo, path, artefact, seed, frames=72):
    family = {
        "wire-screen": "wire",
        "wire-swing": "wire",
        "wire-scene": "wire",
        "ball": "object",
        "card": "object",
    }.get(artefact, artefact)
    return CaseSpec(name, family, photo, path, artefact, seed, frames)


CASES = [
    # legacy: the seven scenarios of the old table, drawn from mask tracks
    _footage("bikes-wire", "legacy", "bikes", 187, 55, "wire-screen", 1),
    _footage("bikes-ball", "legacy", "bikes", 187, 55, "ball", 2),
    _footage("carphone-wire", "legacy", "carphone", 0, 120, "wire-swing", 3),
    _footage("carphone-logo", "legacy", "carphone", 0, 120, "logo", 4),
    _footage("bbb-wire", "legacy", "bbb", 0, 75, "wire-screen", 5),
    _footage("bbb-ball", "legacy", "bbb", 0, 75, "ball", 6),
    _footage("bbb-logo", "legacy", "bbb", 0, 75, "logo", 7),
    # more real footage: other cuts, other artefacts
    _footage("bikes2-boom", "boom", "bikes", 76, 60, "boom", 11),
    _footage("bikes2-card", "object", "bikes", 76, 60, "card", 12),
    _footage("bikes2-wire", "wire", "bikes", 76, 60, "wire-screen", 13),
    _footage("bbb2-swing", "wire", "bbb", 60, 72, "wire-swing", 14, (640, 360)),
    _footage("bbb2-boom", "boom", "bbb", 60, 72, "boom", 15, (640, 360)),
    _footage("bbb2-logo", "logo", "bbb", 60, 72, "logo", 16, (640, 360)),
    _footage("carphone-card", "object", "carphone", 0, 120, "card", 17),
    # camera paths over photographs
    _photo("astronaut-static-swing", "astronaut", "static", "wire-swing", 21, 96),
    _photo("chelsea-slow-wire", "chelsea", "slow-pan", "wire-screen", 22, 96),
    _photo("coffee-slow-wire", "coffee", "slow-pan", "wire-screen", 23, 96),
    _photo("rocket-fast-logo", "rocket", "fast-pan", "logo", 24),
    _photo("grass-handheld-wire", "grass", "handheld", "wire-screen", 25),
    _photo("gravel-handheld-logo", "gravel", "handheld", "logo", 26),
    _photo("china-zoom-boom", "china", "pan-zoom", "boom", 27),
    _photo("flower-slow-logo", "flower", "slow-pan", "logo", 28, 96),
    _photo("motorcycle-parallax-scene", "motorcycle", "parallax", "wire-scene", 29),
    _photo("china-parallax-wire", "china", "parallax", "wire-screen", 30),
    _photo("astronaut-slow-ball", "astronaut", "slow-pan", "ball", 31),
    _photo("coffee-static-card", "coffee", "static", "card", 32),
    _photo("gravel-fast-boom", "gravel", "fast-pan", "boom", 33),
    _photo("rocket-static-logo", "rocket", "static", "logo", 34),
    _photo("flower-handheld-card", "flower", "handheld", "card", 35),
    _photo("motorcycle-slow-swing", "motorcycle", "slow-pan", "wire-swing", 36, 96),
    _photo("chelsea-zoom-scene", "chelsea", "pan-zoom", "wire-scene", 37),
    _photo("grass-static-ball", "grass", "static", "ball", 38),
    # far reveals: 160 frames, crawling or slow cameras under wide or screen-fixed artefacts,
    # so that the background shows 50-120 frames away (seeds chosen for that distance)
    _footage("bbb3-wire", "wire", "bbb", 0, 132, "wire-screen", 18, (640, 360)),
    _photo("coffee-crawl-logo", "coffee", "crawl-pan", "logo", 42, 160),
    _photo("china-slow-logo", "china", "slow-pan", "logo", 43, 160),
    _photo("rocket-slow-boom", "rocket", "slow-pan", "boom", 44, 160),
    _photo("flower-crawl-wire", "flower", "crawl-pan", "wire-screen", 47, 160),
    _photo("motorcycle-crawl-wire", "motorcycle", "crawl-pan", "wire-screen", 48, 160),
    _photo("rocket-crawl-ball", "rocket", "crawl-pan", "ball", 50, 160),
    _photo("coffee-crawl-boom", "coffee", "crawl-pan", "boom", 52, 160),
]
QUICK = [
    "bikes-wire",
    "bbb-ball",
    "carphone-logo",
    "bikes2-boom",
    "flower-crawl-wire",
    "rocket-fast-logo",
    "motorcycle-parallax-scene",
    "flower-handheld-card",
]


# --- I/O through the product ----------------------------------------------------------------


def write_lossless(frames: list[np.ndarray], path: Path, fps: int = 25) -> None:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("ffv1", rate=fps)
        stream.width, stream.height = frames[0].shape[1], frames[0].shape[0]
        stream.pix_fmt = "bgr0"  # ffv1 refuses 8-bit gbrp in this FFmpeg
        stream.time_base = Fraction(1, fps)
        for index, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="bgr0")
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode())


def read_all(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


def cli() -> list[str]:
    found = shutil.which("moebius-video", path=str(Path(sys.executable).parent))
    return [found] if found else [sys.executable, "-m", "moebius_video.cli"]


def run_product(case: Case, folder: Path, window: int | None) -> tuple[list[np.ndarray], float]:
    source, track, output = folder / "dirty.mkv", folder / "track.json", folder / "out.mkv"
    write_lossless(case.dirty, source)
    track.write_text(json.dumps(case.track, indent=1))
    command = [
        *cli(),
        str(source),
        "--mask-track",
        str(track),
        "-o",
        str(output),
        "-c:v",
        "ffv1",
        "--model",
        "opencv",
        "-y",
        "--progress",
        "plain",
    ]
    if window:
        command += ["--window", str(window)]
    began = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - began
    if done.returncode:
        raise SystemExit(
            f"{case.spec.name}: moebius-video exited {done.returncode}:\n{done.stderr[-2000:]}"
        )
    out = read_all(output)
    if len(out) != len(case.clean):
        raise SystemExit(f"{case.spec.name}: {len(out)} frames out of {len(case.clean)}")
    return out, seconds


# --- baselines ------------------------------------------------------------------------------


def blend(painted: np.ndarray, frame: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    a = alpha[..., None]
    return np.clip(np.rint(a * painted + (1 - a) * frame), 0, 255).astype(np.uint8)


def telea(frame: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    hole = (alpha > 0).astype(np.uint8)
    if not hole.any():
        return frame
    return blend(cv2.inpaint(frame, hole, 5, cv2.INPAINT_TELEA), frame, alpha)


def fsr(frame: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """opencv-contrib's FSR (fast) on the mask's box plus 24 px of context."""
    ys, xs = np.nonzero(alpha > 0)
    if not len(xs):
        return frame
    h, w = alpha.shape
    x0, x1 = max(xs.min() - 24, 0), min(xs.max() + 25, w)
    y0, y1 = max(ys.min() - 24, 0), min(ys.max() + 25, h)
    crop = np.ascontiguousarray(frame[y0:y1, x0:x1])
    known = np.where(alpha[y0:y1, x0:x1] > 0, 0, 255).astype(np.uint8)
    painted = np.zeros_like(crop)
    cv2.xphoto.inpaint(crop, known, painted, cv2.xphoto.INPAINT_FSR_FAST)
    out = frame.copy()
    out[y0:y1, x0:x1] = blend(painted, crop, alpha[y0:y1, x0:x1])
    return out


# --- scores ---------------------------------------------------------------------------------


def luma(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)


def ssim_map(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """SSIM (Wang et al. 2004) per pixel, 11x11 Gaussian window sigma 1.5, 8-bit range."""
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2

    def blur(x):
        return cv2.GaussianBlur(x, (11, 11), 1.5)

    mu_a, mu_b = blur(a), blur(b)
    var_a, var_b = blur(a * a) - mu_a**2, blur(b * b) - mu_b**2
    cov = blur(a * b) - mu_a * mu_b
    return ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / (
        (mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2)
    )


def clean_flows(clean: list[np.ndarray]):
    """Per pair t, t+1 of the clean clip: forward, backward and their consistency masks."""
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    grey = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in clean]
    flows = []
    for t in range(len(clean) - 1):
        forward = dis.calc(grey[t], grey[t + 1], None)
        backward = dis.calc(grey[t + 1], grey[t], None)
        flows.append(
            (forward, backward, consistent(forward, backward), consistent(backward, forward))
        )
    return flows


def warp_back(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    h, w = flow.shape[:2]
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(
        image.astype(np.float32),
        gx + flow[..., 0],
        gy + flow[..., 1],
        cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )


class Scores:
    def __init__(self):
        self.sq, self.n, self.ssim, self.ssim_n, self.warp, self.warp_n = 0.0, 0, 0.0, 0, 0.0, 0

    def add_frame(self, out, clean, region) -> None:
        diff = out[region].astype(np.float64) - clean[region]
        self.sq += float((diff**2).sum())
        self.n += diff.size
        self.ssim += float(ssim_map(luma(out), luma(clean))[region].sum())
        self.ssim_n += int(region.sum())

    def add_pair(self, out_t, out_next, flow, valid, region) -> None:
        pixels = region & valid
        diff = out_t.astype(np.float32) - warp_back(out_next, flow)
        self.warp += float((diff[pixels] ** 2).sum())
        self.warp_n += int(pixels.sum()) * 3

    @property
    def psnr(self) -> float:
        mse = self.sq / max(self.n, 1)
        return min(10 * math.log10(255.0**2 / max(mse, 1e-12)), PSNR_CAP)

    @property
    def mean_ssim(self) -> float:
        return self.ssim / max(self.ssim_n, 1)

    @property
    def e_warp(self) -> float:
        return self.warp / max(self.warp_n, 1)


def scored_regions(case: Case) -> tuple[list[np.ndarray], list[int], list[int]]:
    """Per frame the scored region (the mask dilated by 2 px), the frames that have one,
    and the FSR_FRAMES evenly spaced among them where FSR runs."""
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
    regions = [cv2.dilate((a > 0).astype(np.uint8), kernel) > 0 for a in case.alpha]
    masked = [t for t in range(len(regions)) if regions[t].any()]
    fsr_frames = sorted({masked[round(i)] for i in np.linspace(0, len(masked) - 1, FSR_FRAMES)})
    return regions, masked, fsr_frames


def score_case(case: Case, ours: list[np.ndarray], flows) -> dict:
    frames = len(case.clean)
    regions, masked, fsr_frames = scored_regions(case)
    telea_out = [telea(d, a) for d, a in zip(case.dirty, case.alpha, strict=True)]
    scores = {k: Scores() for k in ("ours", "telea", "clean", "ours_sub", "fsr_sub", "telea_sub")}
    for t in masked:
        scores["ours"].add_frame(ours[t], case.clean[t], regions[t])
        scores["telea"].add_frame(telea_out[t], case.clean[t], regions[t])
    for t in fsr_frames:
        scores["ours_sub"].add_frame(ours[t], case.clean[t], regions[t])
        scores["telea_sub"].add_frame(telea_out[t], case.clean[t], regions[t])
        scores["fsr_sub"].add_frame(fsr(case.dirty[t], case.alpha[t]), case.clean[t], regions[t])
    for t in range(frames - 1):
        if not regions[t].any():
            continue
        flow, valid = flows[t][0], flows[t][2]
        for name, out in (("ours", ours), ("telea", telea_out), ("clean", case.clean)):
            scores[name].add_pair(out[t], out[t + 1], flow, valid, regions[t])
    s = scores
    gain_telea = s["ours"].psnr - s["telea"].psnr
    gain_fsr = s["ours_sub"].psnr - s["fsr_sub"].psnr
    reveal = case.reveal
    finite = reveal[np.isfinite(reveal)]
    fraction = float(len(finite) / max(len(reveal), 1))
    return {
        "case": case.spec.name,
        "family": case.spec.family,
        "source": case.spec.source,
        "path": case.spec.path,
        "artefact": case.spec.artefact,
        "size": f"{case.size[0]}x{case.size[1]}",
        "frames": frames,
        "reveal_fraction": round(fraction, 3),
        "reveal_median": float(np.median(finite)) if len(finite) else None,
        "reveal_p90": float(np.percentile(finite, 90)) if len(finite) else None,
        "revealed": fraction >= REVEALED_FRACTION,
        "psnr": round(s["ours"].psnr, 2),
        "psnr_telea": round(s["telea"].psnr, 2),
        "psnr_fsr_frames": round(s["fsr_sub"].psnr, 2),
        "psnr_ours_fsr_frames": round(s["ours_sub"].psnr, 2),
        "ssim": round(s["ours"].mean_ssim, 4),
        "ssim_telea": round(s["telea"].mean_ssim, 4),
        "ssim_fsr_frames": round(s["fsr_sub"].mean_ssim, 4),
        "gain_telea": round(gain_telea, 2),
        "gain_fsr": round(gain_fsr, 2),
        "gain_best": round(min(gain_telea, gain_fsr), 2),
        "best_baseline": "telea" if gain_telea <= gain_fsr else "fsr",
        "e_warp": round(s["ours"].e_warp, 3),
        "e_warp_telea": round(s["telea"].e_warp, 3),
        "e_warp_clean": round(s["clean"].e_warp, 3),
        "e_warp_ratio": round(s["ours"].e_warp / max(s["clean"].e_warp, E_WARP_FLOOR), 2),
        "e_warp_ratio_telea": round(s["telea"].e_warp / max(s["clean"].e_warp, E_WARP_FLOOR), 2),
    }


# --- report ---------------------------------------------------------------------------------


def summary(rows: list[dict]) -> dict:
    gains = [r["gain_best"] for r in rows]
    worst = min(rows, key=lambda r: r["gain_best"])
    return {
        "cases": len(rows),
        "mean_gain": round(statistics.fmean(gains), 2),
        "median_gain": round(statistics.median(gains), 2),
        "worst_gain": worst["gain_best"],
        "worst_case": worst["case"],
        "flicker_fraction": round(sum(r["e_warp_ratio"] > 1.5 for r in rows) / len(rows), 3),
        "max_e_warp_ratio": max(r["e_warp_ratio"] for r in rows),
    }


def reveal_spread(rows: list[dict]) -> dict:
    """How far the backgrounds show, over the cases (cases with no finite reveal left out)."""
    medians = [r["reveal_median"] for r in rows if r["reveal_median"] is not None] or [0.0]
    p90s = [r["reveal_p90"] for r in rows if r["reveal_p90"] is not None] or [0.0]
    return {
        "median_min": min(medians),
        "median_max": max(medians),
        "p90_min": min(p90s),
        "p90_max": max(p90s),
        "far_cases": sum(p >= FAR_REVEAL for p in p90s),
        "never_revealed": sum(not r["revealed"] for r in rows),
    }


def print_row(row: dict, seconds: float) -> None:
    median = "-" if row["reveal_median"] is None else f"{row['reveal_median']:.0f}"
    p90 = "-" if row["reveal_p90"] is None else f"{row['reveal_p90']:.0f}"
    print(
        f"{row['case']:27s} {row['family']:7s} {row['reveal_fraction']:5.2f} {median:>4s} "
        f"{p90:>4s} {row['psnr']:6.2f} {row['psnr_telea']:6.2f} {row['gain_telea']:+6.2f} "
        f"{row['gain_fsr']:+6.2f} {row['ssim']:6.3f} {row['e_warp_ratio']:6.2f} "
        f"{row['e_warp_ratio_telea']:7.2f} {seconds:6.1f}",
        flush=True,
    )


def groups(rows: list[dict]) -> dict[str, list[dict]]:
    """The summary groups: all, each family, real footage (the clips, not the camera paths
    over photographs), revealed, never revealed, far reveals."""
    found = {"all": rows}
    for row in rows:
        found.setdefault(f"family {row['family']}", []).append(row)
    found["real footage"] = [r for r in rows if r["source"].startswith("clip:")]
    found["revealed"] = [r for r in rows if r["revealed"]]
    found["never revealed"] = [r for r in rows if not r["revealed"]]
    found[f"reveal p90 >= {FAR_GROUP}"] = [r for r in rows if (r["reveal_p90"] or 0) >= FAR_GROUP]
    return {name: group for name, group in found.items() if group}


def print_summaries(rows: list[dict]) -> dict:
    print(
        f"\n{'group':18s} {'cases':>5s} {'mean':>6s} {'median':>6s} {'worst':>6s} "
        f"{'E_warp>1.5':>10s} {'max ratio':>9s}  worst case"
    )
    result = {}
    for name, group in groups(rows).items():
        s = result[name] = summary(group)
        print(
            f"{name:18s} {s['cases']:5d} {s['mean_gain']:+6.2f} {s['median_gain']:+6.2f} "
            f"{s['worst_gain']:+6.2f} {s['flicker_fraction']:10.2f} "
            f"{s['max_e_warp_ratio']:9.2f}  {s['worst_case']}"
        )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help=f"the {len(QUICK)} cases {QUICK}")
    parser.add_argument("--only", action="append", help="case name (repeatable)")
    parser.add_argument("--family", action="append", help="family (repeatable)")
    parser.add_argument("--window", type=int, help="--window for moebius-video (default its own)")
    parser.add_argument("--json", type=Path, help="write rows and summaries here")
    parser.add_argument("--keep", type=Path, help="keep each case's clip, track and output here")
    parser.add_argument("--list", action="store_true", help="list the cases and stop")
    args = parser.parse_args()
    if not hasattr(cv2, "xphoto"):
        raise SystemExit(
            "bench_quality: the FSR baseline needs opencv-contrib: pip install "
            "opencv-contrib-python-headless (the version of your opencv-python-headless)"
        )
    chosen = [
        c
        for c in CASES
        if (not args.quick or c.name in QUICK)
        and (not args.only or c.name in args.only)
        and (not args.family or c.family in args.family)
    ]
    if args.list or not chosen:
        for c in CASES:
            print(f"{c.name:27s} {c.family:7s} {c.source:15s} {c.path:10s} {c.artefact}")
        raise SystemExit(0 if args.list else "bench_quality: no case matches")
    print(
        f"{'case':27s} {'family':7s} {'revF':>5s} {'med':>4s} {'p90':>4s} {'PSNR':>6s} "
        f"{'Telea':>6s} {'gainT':>6s} {'gainF':>6s} {'SSIM':>6s} {'ratio':>6s} "
        f"{'ratioT':>7s} {'s':>6s}"
    )
    rows, began = [], time.perf_counter()
    for spec in chosen:
        case = build_case(spec)
        flows = clean_flows(case.clean)
        if case.layers is None:
            case.reveal = reveal_by_flow(case.alpha, flows)
        with tempfile.TemporaryDirectory(prefix="bench-quality-") as scratch:
            folder = Path(scratch)
            if args.keep:
                folder = args.keep / spec.name
                folder.mkdir(parents=True, exist_ok=True)
            ours, seconds = run_product(case, folder, args.window)
        row = score_case(case, ours, flows)
        row["seconds"] = round(seconds, 2)
        rows.append(row)
        print_row(row, seconds)
    result = print_summaries(rows)
    result["reveal"] = reveal_spread(rows)
    r = result["reveal"]
    print(
        f"\nreveal distance over the cases: medians {r['median_min']:.0f}-{r['median_max']:.0f}, "
        f"90th percentiles {r['p90_min']:.0f}-{r['p90_max']:.0f} frames; "
        f"{r['far_cases']} cases with p90 >= {FAR_REVEAL}; {r['never_revealed']} never revealed"
    )
    print(
        f"\n{len(rows)} cases, window {args.window or 'default'}, "
        f"{time.perf_counter() - began:.0f} s"
    )
    if args.json:
        args.json.write_text(
            json.dumps({"window": args.window, "rows": rows, "summaries": result}, indent=1)
        )


if __name__ == "__main__":
    main()
