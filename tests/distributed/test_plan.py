"""Segment planning: a grid that depends only on the clip and the options."""

import pytest

from moebius_video.distributed import ClipJob
from moebius_video.distributed.plan import plan_segments
from moebius_video.errors import UsageError


def test_segments_cover_every_frame_once_with_context():
    segments = plan_segments(frame_count=100, length=30, context=4)
    owned = [i for s in segments for i in range(s.start, s.stop)]
    assert owned == list(range(100)), f"frames owned: {owned}"
    for s in segments:
        assert s.read_start == max(s.start - 4, 0)
        assert s.read_stop == min(s.stop + 4, 100)
    assert [s.index for s in segments] == list(range(len(segments)))


def test_short_tail_merges_into_the_previous_segment():
    # 100 = 3 * 30 + 10: a 10-frame tail is shorter than half a segment.
    segments = plan_segments(frame_count=100, length=30, context=0)
    assert [(s.start, s.stop) for s in segments] == [(0, 30), (30, 60), (60, 100)]
    # 110 = 3 * 30 + 20: a 20-frame tail stays its own segment.
    segments = plan_segments(frame_count=110, length=30, context=0)
    assert [(s.start, s.stop) for s in segments] == [(0, 30), (30, 60), (60, 90), (90, 110)]


def test_clip_shorter_than_a_segment_is_one_segment():
    assert [(s.start, s.stop, s.read_start, s.read_stop) for s in plan_segments(7, 30, 5)] == [
        (0, 7, 0, 7)
    ]


def test_chunks_select_the_same_segments_as_the_whole_clip():
    job = ClipJob(
        source="clip.mp4", mask_track="t.json", temporal=None, segment_length=24, context=6
    )
    whole = plan_segments(250, 24, 6)
    chunks = [job.segments_for(250, a, b) for a, b in [(0, 80), (80, 170), (170, 250)]]
    # A segment cut by a chunk border is selected (whole) by both chunks, never re-planned.
    assert {s for chunk in chunks for s in chunk} == set(whole)
    assert job.segments_for(250, 80, 170)[0] == whole[3]  # frames 72-95 own frame 80


@pytest.mark.parametrize(
    "args, word",
    [((0, 10, 2), "0 frames"), ((10, 0, 2), "length"), ((10, 5, -1), "context")],
)
def test_bad_plans_are_usage_errors(args, word):
    with pytest.raises(UsageError, match=word):
        plan_segments(*args)
