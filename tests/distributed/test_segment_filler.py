"""SegmentFiller in this process: what building the filler says travels with each result."""

from __future__ import annotations

from distributed_media import FRAMES, per_frame_job

from moebius_video.distributed import SegmentFiller, plan_segments
from moebius_video.fillers import FillerSpec
from moebius_video.options import InpaintOptions


def test_a_worker_without_weights_says_so_in_every_result(shot, tmp_path, monkeypatch):
    # No checkpoint anywhere: the default model falls back to OpenCV and says so.
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-hub"))
    monkeypatch.setenv("MOEBIUS_VIDEO_CONFIG_DIR", str(tmp_path / "config"))
    worker = SegmentFiller(per_frame_job(shot, FillerSpec()))
    assert worker.filler.name.startswith("opencv"), f"built {worker.filler!r}"
    segments = plan_segments(FRAMES, 10, 0)
    results = [worker.fill(segment) for segment in segments[:2]]
    for result in results:
        assert len(result.notices) == 1, f"segment {result.segment.index}: {result.notices}"
        assert result.notices[0].startswith("Moebius weights not found"), result.notices


def test_a_filler_asked_for_by_name_says_nothing(shot):
    result = SegmentFiller(per_frame_job(shot, FillerSpec("opencv"))).fill(
        plan_segments(FRAMES, 10, 0)[0]
    )
    assert result.notices == (), f"unexpected notices: {result.notices}"


def test_a_worker_converts_only_the_area_around_the_masks(tmp_path, monkeypatch):
    # A wire over a quarter of a 640-wide clip: the worker's windows convert (and hold)
    # the crops around it, never whole frames, and give the same patches as whole frames.
    import json

    from distributed_media import wire_track, write_clip

    import moebius_video.io.info as info
    from moebius_video.distributed import clip_job
    from moebius_video.io import open_video

    width, height, frames = 640, 128, 12
    clip = write_clip(tmp_path / "wide.mp4", frames=frames, width=width, height=height)
    track = wire_track(frames=frames, width=160, height=height)
    track["width"] = width
    track_path = tmp_path / "wire.json"
    track_path.write_text(json.dumps(track))
    options = InpaintOptions(model="opencv", window=4, context=2)
    with open_video(clip) as video:
        frame_count = video.info.frame_count
    job = clip_job(
        clip,
        track_path,
        options.temporal_options(1001, frame_count),
        options.filler_spec(),
        frame_base=1001,
    )
    segment = job.plan(frame_count)[0]

    widths = []
    convert = info.to_rgb

    def spy(frame, *args, **kwargs):
        widths.append(frame.width)
        return convert(frame, *args, **kwargs)

    monkeypatch.setattr(info, "to_rgb", spy)
    cropped = SegmentFiller(job).fill(segment, pack_patches=True)
    assert widths and max(widths) < width // 2, f"converted widths {sorted(set(widths))}"

    # The same segment over whole frames converted up front gives the same packed bytes.
    monkeypatch.setattr(info.DecodedFrame, "rgb_crop", lambda f, box: _slice(f.rgb, box))
    whole = SegmentFiller(job).fill(segment, pack_patches=True)
    assert _packed(cropped) == _packed(whole), "crops and whole frames gave different patches"


def _slice(rgb, box):
    x0, y0, x1, y1 = box
    return rgb[y0:y1, x0:x1]


def _packed(result) -> list:
    return [
        (index, weight, [(p.x0, p.y0, p.changed, p.changed_rgb.tobytes()) for p in patches])
        for index, weight, patches in result.parts
    ]
