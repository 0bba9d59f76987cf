"""Golden masks for every shape and option, each also checked against a brute-force reference.

The golden PNG catches any change in the output (to 1/65535); the reference, computed by
supersampling exact distances to the hand-worked geometry of that frame, catches a golden that
was wrong when it was written.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from golden_cases import CASES
from make_golden import render
from masktest_helpers import reference_alpha

GOLDEN = Path(__file__).resolve().parent / "golden"


def reference(case) -> np.ndarray:
    alpha = np.zeros((case.height, case.width))
    for shape in case.adds:
        alpha = np.maximum(alpha, reference_alpha(shape, case.width, case.height))
    protect = np.zeros_like(alpha)
    for shape in case.inverts:
        protect = np.maximum(protect, reference_alpha(shape, case.width, case.height))
    return alpha * (1 - protect)


@pytest.mark.parametrize("name", CASES)
def test_golden_mask(name):
    case = CASES[name]
    alpha = render(case)
    golden = cv2.imread(str(GOLDEN / f"{name}.png"), cv2.IMREAD_UNCHANGED)
    assert golden is not None, f"missing {GOLDEN / name}.png: run tests/masks/make_golden.py"
    golden = golden.astype(np.float64) / 65535
    diff = np.abs(alpha - golden)
    assert diff.max() <= 1 / 65535 + 1e-6, (
        f"{name}: differs from golden at {np.unravel_index(diff.argmax(), diff.shape)}: "
        f"expected {golden.flat[diff.argmax()]:.5f}, got {alpha.flat[diff.argmax()]:.5f}"
    )


@pytest.mark.parametrize("name", CASES)
def test_mask_matches_brute_force_reference(name):
    case = CASES[name]
    alpha = render(case).astype(np.float64)
    expected = reference(case)
    diff = np.abs(alpha - expected)
    # The rasteriser filters each edge in 1D; the reference integrates over the pixel exactly.
    # They agree closely along edges and differ most at sharp corners.
    assert alpha.sum() == pytest.approx(expected.sum(), rel=0.01, abs=1.0), (
        f"{name}: area expected {expected.sum():.2f}, got {alpha.sum():.2f}"
    )
    assert diff.mean() < 0.006, f"{name}: mean difference {diff.mean():.4f}"
    assert diff.max() < 0.35, (
        f"{name}: max difference {diff.max():.3f} at {np.unravel_index(diff.argmax(), diff.shape)}"
    )
    assert np.all(alpha[expected == 0] < 0.3) and np.all(alpha[expected == 1] > 0.7)
