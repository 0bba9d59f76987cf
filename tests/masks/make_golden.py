"""Write the golden masks in tests/masks/golden/ from the cases in golden_cases.py.

    python tests/masks/make_golden.py

Run it only after a deliberate change to the rasteriser, and look at the diff: the golden test
also compares every mask with a brute-force reference, so a wrong golden does not go unseen.
Masks are stored as 16-bit grey PNGs (alpha * 65535, rounded).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parents[1]))

from golden_cases import CASES  # noqa: E402
from masktest_helpers import write_png  # noqa: E402

from moebius_video.masks import load_mask_track  # noqa: E402


def render(case) -> np.ndarray:
    track = load_mask_track(case.doc, case.width, case.height, case.frame_count)
    return track.alpha(case.index)


def main() -> int:
    out = HERE / "golden"
    for name, case in CASES.items():
        alpha = render(case)
        write_png(out / f"{name}.png", np.round(alpha * 65535).astype(np.uint16))
        print(f"{name}: area {alpha.sum():.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
