"""SegmentFiller in this process: what building the filler says travels with each result."""

from __future__ import annotations

import functools

from distributed_media import FRAMES

from moebius_video.distributed import ClipJob, SegmentFiller, plan_segments
from moebius_video.distributed.segment import filler_for_options
from moebius_video.pipeline import InpaintOptions


def _job(shot, factory) -> ClipJob:
    return ClipJob(
        source=str(shot["clip"]),
        mask_track=str(shot["track"]),
        temporal=None,
        segment_length=10,
        context=0,
        filler_factory=factory,
    )


def test_a_worker_without_weights_says_so_in_every_result(shot, tmp_path, monkeypatch):
    # No checkpoint anywhere: the default model falls back to OpenCV and says so.
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-hub"))
    monkeypatch.setenv("MOEBIUS_VIDEO_CONFIG_DIR", str(tmp_path / "config"))
    worker = SegmentFiller(_job(shot, functools.partial(filler_for_options, InpaintOptions())))
    assert worker.filler.name.startswith("opencv"), f"built {worker.filler!r}"
    segments = plan_segments(FRAMES, 10, 0)
    results = [worker.fill(segment) for segment in segments[:2]]
    for result in results:
        assert len(result.notices) == 1, f"segment {result.segment.index}: {result.notices}"
        assert result.notices[0].startswith("Moebius weights not found"), result.notices


def test_a_filler_asked_for_by_name_says_nothing(shot):
    factory = functools.partial(filler_for_options, InpaintOptions(model="opencv"))
    result = SegmentFiller(_job(shot, factory)).fill(plan_segments(FRAMES, 10, 0)[0])
    assert result.notices == (), f"unexpected notices: {result.notices}"
