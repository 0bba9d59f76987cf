"""How far shot cuts stand out from motion (a script, not a test).

For each clean sample clip (one shot each), the thumbnail difference of every pair of
neighbouring frames (`temporal.cuts.frame_differences`), whole frames and a 120 x 100 crop
in the middle, and the largest ratio of a pair to the largest of its neighbours (a cut
needs >= CUT_RATIO and >= MIN_CUT_DIFFERENCE). Then two made cuts: bbb to bbb upside down
(another shot) and bbb frame 29 to frame 50 (a jump within one static shot).

    python benchmarks/bench_cuts.py
"""

from __future__ import annotations

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


def decode(name: str) -> list[np.ndarray]:
    with open_video(ROOT / "sample_clips" / name) as video:
        return [frame.rgb for frame in video.frames()]


def worst_ratio(differences: np.ndarray) -> float:
    ratios = []
    for k, value in enumerate(differences):
        around = np.r_[
            differences[max(k - CUT_NEIGHBOURS, 0) : k],
            differences[k + 1 : k + 1 + CUT_NEIGHBOURS],
        ]
        ratios.append(value / max(np.nanmax(around), NEIGHBOUR_FLOOR))
    return float(max(ratios))


def report(label: str, frames: list[np.ndarray]) -> None:
    differences = frame_differences(frames)
    print(
        f"{label:34s} max {np.nanmax(differences):6.2f}"
        f"  worst ratio {worst_ratio(differences):5.2f}  cuts found {find_cuts(frames)}"
    )


def main() -> None:
    print(f"a cut needs difference >= {MIN_CUT_DIFFERENCE} and ratio >= {CUT_RATIO}")
    clips = {name: decode(f"{name}_clean.mp4") for name in ("bikes", "carphone", "bbb")}
    for name, frames in clips.items():
        h, w = frames[0].shape[:2]
        report(f"{name} ({len(frames)} frames)", frames)
        report(
            f"{name}, 120x100 crop",
            [f[h // 3 : h // 3 + 100, w // 2 : w // 2 + 120] for f in frames],
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


if __name__ == "__main__":
    main()
