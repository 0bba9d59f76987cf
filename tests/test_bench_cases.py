"""The quality benchmark's case generator: masks cover the artefacts, ground truth and reveal
distance come out as computed. Tiny cases over a seeded texture, so nothing is downloaded."""

from __future__ import annotations

import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import quality_cases as qc  # noqa: E402


def texture(name: str) -> np.ndarray:
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    return rng.integers(0, 256, (300, 400, 3), dtype=np.uint8)


@pytest.mark.parametrize(
    "spec",
    [
        qc.CaseSpec("pan-wire", "wire", "grain", "slow-pan", "wire-screen", 5, frames=16),
        qc.CaseSpec("parallax-ball", "ball", "grain", "parallax", "ball", 6, frames=16),
    ],
    ids=lambda spec: spec.name,
)
def test_case_mask_covers_the_artefact_and_ground_truth_is_the_render(spec):
    case = qc.build_case(spec, read=texture)
    assert len(case.clean) == len(case.dirty) == len(case.alpha) == spec.frames
    drawn = 0
    for t in range(spec.frames):
        changed = (case.dirty[t] != case.clean[t]).any(-1)
        assert not (changed & (case.alpha[t] <= 0)).any(), f"frame {t}: artefact outside mask"
        drawn += int(changed.sum())
    assert drawn > 0, "no artefact was drawn"
    # the clean frames are the camera path's own render of the photo
    if spec.path != "parallax":
        photo = texture(spec.source)
        for t in (0, spec.frames - 1):
            expected = qc.render(photo, case.layers[0].matrices[t], case.size)
            assert np.array_equal(case.clean[t], expected)
    # the track written for the CLI is the one that was rasterised
    again = qc.rasterise(case.track, case.size, spec.frames)
    assert all(np.array_equal(a, b) for a, b in zip(again, case.alpha, strict=True))
    assert len(case.reveal) > 0


def test_reveal_distance_of_a_band_on_a_pan_is_the_distance_to_its_edges():
    # The camera pans 1 px a frame to the right, so the scene moves 1 px left a frame; a
    # screen-fixed band of columns [a, b) hides column c for min(c - a + 1, b - c) frames.
    size, frames, a, b = (64, 16), 41, 20, 27
    matrices = [np.array([[1.0, 0, -t], [0, 1.0, 0]]) for t in range(frames)]
    band = [
        {
            "id": "band",
            "shape": "polygon",
            "range": [0, frames - 1],
            "keyframes": [{"frame": 0, "points": [[a, -1], [b, -1], [b, 17], [a, 17]]}],
        }
    ]
    alpha = qc.rasterise(qc.track_document(band, size), size, frames)
    assert set(np.unique(alpha[20])) == {0.0, 1.0}
    ys, xs = np.nonzero(alpha[20] > 0)
    assert xs.min() == a and xs.max() == b - 1
    points = np.stack([xs + 0.5, ys + 0.5], 1)
    got = qc.reveal_at(alpha, [qc.Layer(matrices)], 20, points)
    assert np.array_equal(got, np.minimum(xs - a + 1, b - xs).astype(float))
    # on a still camera the band is never revealed
    still = [matrices[0]] * frames
    assert np.isinf(qc.reveal_at(alpha, [qc.Layer(still)], 20, points)).all()


def test_crawl_pan_moves_under_a_sixth_of_a_pixel_a_frame_and_leaves_other_paths_alone():
    photo = texture("crawl")
    size = qc.FRAME_SIZE

    def path(kind, seed=9):
        return qc.camera_path(kind, photo.shape, 50, np.random.default_rng(seed), size)

    crawl = path("crawl-pan")
    # frame-pixel travel per frame of the photo point under the frame centre
    centre = np.array([size[0] / 2, size[1] / 2, 1.0])
    first = np.linalg.inv(np.vstack([crawl[0], [0, 0, 1]])) @ centre
    moved = [m @ first for m in crawl]
    steps = np.linalg.norm(np.diff(np.array(moved), axis=0), axis=1)
    assert np.allclose(steps, steps[0], atol=1e-9)
    assert 0.06 <= steps[0] <= 0.15
    # the other kinds draw their seeds as before the crawl was added: slow-pan's first draw
    slow = path("slow-pan")
    speed = np.random.default_rng(9).uniform(0.15, 0.6)
    moved = [m @ (np.linalg.inv(np.vstack([slow[0], [0, 0, 1]])) @ centre) for m in slow]
    assert np.isclose(np.linalg.norm(moved[1] - moved[0]), speed)
