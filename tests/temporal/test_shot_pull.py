"""The shot-wide pull: real background from frames far outside the window."""

from __future__ import annotations

import numpy as np
import pytest
from temporaltest_helpers import BoxTrack, composite, decoded, painted, panning, texture

from moebius_video.fillers import OpenCVFiller
from moebius_video.temporal import TemporalOptions, context_span, iter_patches
from moebius_video.temporal.shot_analysis import analyse_shots
from moebius_video.temporal.shot_pull import (
    ReferenceStore,
    build_shot_pull,
    collect_references,
    plan_references,
)

HEIGHT, WIDTH = 120, 200
COUNT = 90
# A screen-fixed logo 36 px wide on a 1 px/frame pan: what it hides shows 36+ frames away,
# beyond a 16-frame window and its context.
LOGO = (80, 40, 116, 80)
OPTIONS = TemporalOptions(window=16, context=4)


def _read(frames):
    return lambda a, b: decoded(frames[a:b], a)


@pytest.fixture(scope="module")
def logo_on_pan():
    clean = panning(COUNT, HEIGHT, WIDTH, step=(1, 0), seed=3)
    track = BoxTrack([LOGO] * COUNT, HEIGHT, WIDTH)
    return clean, painted(clean, track), track


def _fill(dirty, track, options, pull, output_range=None):
    out = {}
    for index, patches in iter_patches(
        decoded(dirty),
        track,
        OpenCVFiller(),
        options,
        frame_count=len(dirty),
        output_range=output_range,
        pull=pull,
    ):
        out[index] = (composite(dirty[index], patches), patches)
    return out


def _hole_error(out, clean, frames) -> float:
    x0, y0, x1, y1 = LOGO
    errors = [
        np.abs(out[t][0][y0:y1, x0:x1].astype(float) - clean[t][y0:y1, x0:x1]).mean()
        for t in frames
    ]
    return float(np.mean(errors))


def test_the_pull_reveals_what_only_far_frames_show(logo_on_pan):
    clean, dirty, track = logo_on_pan
    pull = build_shot_pull(_read(dirty), track, COUNT, (0, COUNT))
    assert pull is not None
    # frame 45: the logo's edges show a frame or two away, its far side 36-40 frames away
    # (the mask grown by a cell, references every 2nd frame)
    past, future = pull.plan.past[45], pull.plan.future[45]
    assert past == sorted(past, reverse=True) and future == sorted(future)
    assert 45 - 41 <= min(past) <= 45 - 34 and 45 + 34 <= max(future) <= 45 + 41
    with_pull = _fill(dirty, track, OPTIONS, pull)
    without = _fill(dirty, track, OPTIONS, None)
    middle = range(30, 60)  # the logo's area shows 36+ frames away on both sides
    assert _hole_error(with_pull, clean, middle) < 3.0
    assert _hole_error(without, clean, middle) > 3 * _hole_error(with_pull, clean, middle)


def test_a_chunk_gets_the_pixels_of_a_whole_render(logo_on_pan):
    clean, dirty, track = logo_on_pan
    whole = _fill(dirty, track, OPTIONS, build_shot_pull(_read(dirty), track, COUNT, (0, COUNT)))
    start, stop = 37, 55
    lo, hi = context_span(start, stop, COUNT, OPTIONS)
    pull = build_shot_pull(_read(dirty), track, COUNT, (lo, hi))
    # the chunk's frames come from a stream that starts at lo, as a farm chunk decodes
    chunk = {}
    for index, patches in iter_patches(
        decoded(dirty[lo:hi], lo),
        track,
        OpenCVFiller(),
        OPTIONS,
        frame_count=COUNT,
        output_range=(start, stop),
        pull=pull,
    ):
        chunk[index] = composite(dirty[index], patches)
    assert sorted(chunk) == list(range(start, stop))
    for t in range(start, stop):
        assert np.array_equal(chunk[t], whole[t][0]), t


def test_a_reference_that_does_not_line_up_is_not_used():
    # A static camera; the hole's area is unmasked from frame 40 on, but a patch of other
    # texture slides in there (something moved in front): the ring around the hole
    # disagrees with the frame, so the pull must not copy it.
    count = 60
    clean = [texture(HEIGHT, WIDTH, seed=5)] * count
    other = texture(HEIGHT, WIDTH, seed=9)
    frames = []
    for t in range(count):
        frame = clean[t].copy()
        if t >= 40:
            frame[30:90, 70:130] = other[30:90, 70:130]
        frames.append(frame)
    box = (86, 46, 114, 74)
    track = BoxTrack([box if t < 40 else None for t in range(count)], HEIGHT, WIDTH)
    dirty = painted(frames, track)
    pull = build_shot_pull(_read(dirty), track, count, (0, count))
    hole = track.alpha(10) > 0
    ys, xs = np.nonzero(hole)
    got = pull.fetch(10, dirty[10], hole, (0, 0), ys, xs)
    assert not got.found.any()

    # The same clip where frame 40 on shows the plate itself: the pull takes it, exactly.
    dirty = painted(clean, track)
    pull = build_shot_pull(_read(dirty), track, count, (0, count))
    got = pull.fetch(10, dirty[10], hole, (0, 0), ys, xs)
    assert got.found.all()
    assert set(np.unique(got.source)) == {40}
    assert set(np.unique(got.distance)) == {30}
    assert np.abs(got.values - clean[10][ys, xs]).max() < 0.01


def test_references_past_the_memory_budget_read_back_exactly(tmp_path, logo_on_pan):
    clean, dirty, track = logo_on_pan
    analysis = analyse_shots(decoded(dirty), track)
    plan = plan_references(analysis, range(COUNT))
    kept = ReferenceStore()
    spilled = ReferenceStore(budget=0, spill_dir=tmp_path)
    collect_references(decoded(dirty), track, plan, kept)
    collect_references(decoded(dirty), track, plan, spilled)
    assert kept.spilled == {} and spilled.in_memory == {}
    assert spilled.bytes_spilled > 0
    assert list(tmp_path.iterdir()) == []  # unlinked at once: nothing to leave behind
    for u in plan.references():
        a, b = kept.get(u), spilled.get(u)
        assert a.box == b.box
        assert np.array_equal(a.rgb, b.rgb) and np.array_equal(a.blocked, b.blocked)
    spilled.close()


def test_nothing_is_planned_across_a_cut(logo_on_pan):
    clean, dirty, track = logo_on_pan
    analysis = analyse_shots(decoded(dirty), track, cuts=[45])
    plan = plan_references(analysis, range(COUNT))
    for t, references in list(plan.past.items()) + list(plan.future.items()):
        assert all((u < 45) == (t < 45) for u in references), (t, references)


def test_a_window_reads_the_same_references_whatever_span_it_is_filled_in(logo_on_pan):
    """A farm task shares the windows it fills with the shot's other tasks (shot_files.py),
    which read them for their own frames: so a window must come out the same from the
    pull of any run whose span holds it, not only from the span of the task whose frames
    it writes. The references' boxes (which ring samples check a reference) are the
    whole clip's."""
    from moebius_video.temporal.grid import window_core, window_span

    _, dirty, track = logo_on_pan
    whole = build_shot_pull(_read(dirty), track, COUNT, (0, COUNT))
    for w in (0, 2, 4):
        span = window_span(w, OPTIONS, 0, COUNT)
        part = build_shot_pull(_read(dirty), track, COUNT, span)
        assert part.plan.boxes == {u: whole.plan.boxes[u] for u in part.plan.boxes}, span
        assert set(part.plan.past) == set(range(*span)) & set(whole.plan.past)
        start, stop = window_core(w, OPTIONS)
        alone = (start + OPTIONS.blend, stop - OPTIONS.blend)  # frames of window w alone
        frames = dirty[: span[1]]
        filled = [_fill(frames, track, OPTIONS, pull, alone) for pull in (part, whole)]
        for t in range(*alone):
            assert np.array_equal(filled[0][t][0], filled[1][t][0]), (w, t)
