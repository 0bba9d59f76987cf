"""Windows over a clip: streaming, overlaps, chunks and what the patches may touch."""

from __future__ import annotations

import contextlib
import threading
import time

import av
import numpy as np
import pytest
from temporaltest_helpers import (
    BoxTrack,
    composite,
    decoded,
    fill_segment,
    masked_error,
    painted,
    panning,
)

from moebius_video.flow.estimate import make_flow_estimator
from moebius_video.temporal import (
    OpenCVFiller,
    TemporalOptions,
    context_span,
    debug,
    engine,
    iter_patches,
)
from moebius_video.temporal.engine import WINDOWS_IN_FLIGHT
from moebius_video.temporal.grid import blend_weight, covering_windows

H, W, COUNT = 48, 80, 30
SMALL = TemporalOptions(window=8, context=4, blend=2, keyframe_interval=6)


@pytest.fixture(scope="module")
def clip():
    """A pan with a drifting wire that leaves the frame for a while (frames 12-15)."""
    clean = panning(COUNT, H, W, step=(2, 0), seed=4)
    boxes = [None if 12 <= t < 16 else (30 + t // 3, 0, 37 + t // 3, H) for t in range(COUNT)]
    track = BoxTrack(boxes, H, W, feather=True)
    return clean, painted(clean, track), track


def _stream(dirty, track, options=SMALL, start=0, stop=None, **kwargs):
    stop = len(dirty) if stop is None else stop
    frames = decoded(dirty[start:stop], start)
    return list(iter_patches(frames, track, OpenCVFiller(), options, **kwargs))


def test_every_frame_comes_out_once_in_order(clip):
    _, dirty, track = clip
    out = _stream(dirty, track)
    assert [index for index, _ in out] == list(range(COUNT))
    for index, patches in out:
        if track.boxes[index] is None:
            assert patches == [], f"frame {index} has no mask but got {len(patches)} patches"
        else:
            assert patches, f"frame {index} has a mask but got no patches"


def test_windowed_result_matches_one_window_and_the_truth(clip):
    clean, dirty, track = clip
    alphas = [track.alpha(t) for t in range(COUNT)]
    whole = fill_segment(dirty, alphas, OpenCVFiller(), SMALL, 0)
    by_frame = {t: [p for p in whole if p.index == t] for t in range(COUNT)}
    for index, patches in _stream(dirty, track):
        if track.boxes[index] is None:
            continue
        windowed = composite(dirty[index], patches)
        single = composite(dirty[index], by_frame[index])
        apart, _ = masked_error(windowed, single, track.alpha(index))
        truth, _ = masked_error(windowed, clean[index], track.alpha(index))
        assert apart < 1.0, f"frame {index}: windows differ from one window by {apart:.2f}"
        assert truth < 1.5, f"frame {index}: mean error {truth:.2f} against the clean frame"


@pytest.mark.parametrize("start, stop", [(0, 7), (5, 19), (14, 30), (22, 23)])
def test_a_chunk_with_its_context_equals_the_whole_run(clip, start, stop):
    _, dirty, track = clip
    whole = dict(_stream(dirty, track))
    lo, hi = context_span(start, stop, COUNT, SMALL)
    chunk = _stream(dirty, track, start=lo, stop=hi, output_range=(start, stop))
    assert [i for i, _ in chunk] == list(range(start, stop))
    for index, patches in chunk:
        assert len(patches) == len(whole[index])
        for a, b in zip(patches, whole[index], strict=True):
            assert a.box == b.box, f"frame {index}: box {a.box} != {b.box}"
            assert np.array_equal(a.rgb, b.rgb), f"frame {index}: pixels differ"
            assert np.array_equal(a.alpha, b.alpha)


def test_fill_range_is_the_chunk_of_the_whole_run(clip):
    _, dirty, track = clip
    whole = dict(_stream(dirty, track))
    lo, hi = context_span(9, 17, COUNT, SMALL)
    chunk = list(
        iter_patches(decoded(dirty[lo:hi], lo), track, OpenCVFiller(), SMALL, output_range=(9, 17))
    )
    assert [i for i, _ in chunk] == list(range(9, 17))
    for index, patches in chunk:
        assert all(
            a.box == b.box and np.array_equal(a.rgb, b.rgb)
            for a, b in zip(patches, whole[index], strict=True)
        ), f"frame {index} differs from the whole run"


def test_a_track_without_box_or_length_gives_the_same_patches(clip):
    _, dirty, track = clip

    class AlphaOnly:
        def alpha(self, index):
            return track.alpha(index)

    plain = _stream(dirty, AlphaOnly())
    full = _stream(dirty, track)
    for (i, a), (j, b) in zip(plain, full, strict=True):
        assert i == j and len(a) == len(b)
        for pa, pb in zip(a, b, strict=True):
            assert pa.box == pb.box and np.array_equal(pa.rgb, pb.rgb), f"frame {i}"


def test_patches_never_reach_outside_the_mask(clip):
    _, dirty, track = clip
    for index, patches in _stream(dirty, track):
        alpha = track.alpha(index)
        covered = np.zeros(alpha.shape, np.int32)
        for patch in patches:
            x0, y0, x1, y1 = patch.box
            assert 0 <= x0 < x1 <= W and 0 <= y0 < y1 <= H
            assert patch.rgb.shape == (y1 - y0, x1 - x0, 3) and patch.alpha.dtype == np.float32
            inside = alpha[y0:y1, x0:x1]
            assert np.all(patch.alpha[inside == 0] == 0), f"frame {index}: alpha where mask is 0"
            covered[y0:y1, x0:x1] += patch.alpha > 0
        assert np.array_equal(covered > 0, alpha > 0), f"frame {index}: mask not covered"
        assert covered.max(initial=0) <= 1, f"frame {index}: patches overlap"


def test_separate_parts_of_a_mask_get_separate_patches():
    clean = panning(6, 60, 120, step=(2, 0))

    class TwoBoxes(BoxTrack):
        def alpha(self, index):
            alpha = np.zeros((60, 120), np.float32)
            alpha[10:20, 5:15] = 1.0
            alpha[30:50, 90:110] = 0.5
            return alpha

    track = TwoBoxes([None] * 6, 60, 120)
    out = _stream(painted(clean, track), track)
    for index, patches in out:
        boxes = sorted(p.box for p in patches)
        assert boxes == [(5, 10, 15, 20), (90, 30, 110, 50)], f"frame {index}: {boxes}"
        for patch in patches:
            x0, y0, x1, y1 = patch.box
            assert np.array_equal(patch.alpha, track.alpha(index)[y0:y1, x0:x1])


def test_memory_holds_one_window_not_the_clip(clip):
    _, dirty, track = clip
    read = []

    def frames():
        for frame in decoded(dirty):
            read.append(frame.index)
            yield frame

    lag = 0
    for index, _ in iter_patches(frames(), track, OpenCVFiller(), SMALL):
        lag = max(lag, read[-1] - index)
    # Windows are filled on worker threads while the next one's frames are read: at worst
    # the windows in flight and the next one are read before the first one comes out.
    bound = (WINDOWS_IN_FLIGHT + 1) * SMALL.window + SMALL.context + SMALL.blend
    assert lag <= bound, f"read {lag} frames ahead of the output (bound {bound})"


def test_a_stream_may_start_anywhere(clip):
    _, dirty, track = clip
    out = _stream(dirty, track, start=9, stop=27)
    assert [i for i, _ in out] == list(range(9, 27))
    assert all(p.index == i for i, ps in out for p in ps)


def test_frames_must_be_consecutive(clip):
    _, dirty, track = clip
    frames = [f for f in decoded(dirty[:6])]
    del frames[3]
    with pytest.raises(ValueError, match="frame 4 follows frame 2"):
        list(iter_patches(iter(frames), track, OpenCVFiller(), SMALL))


def test_blend_weights_cross_fade_and_sum_to_one():
    options = TemporalOptions(window=10, context=4, blend=3)
    for index in range(3, 60):
        windows = covering_windows(index, options)
        total = sum(blend_weight(index, w, options) for w in windows)
        assert total == pytest.approx(1.0), f"frame {index}: weights sum to {total}"
    assert covering_windows(10, options) == [0, 1]
    assert 0 < blend_weight(8, 1, options) < blend_weight(11, 1, options) < 1


def test_context_span_reads_what_the_windows_need():
    options = TemporalOptions(window=10, context=4, blend=3)
    assert context_span(0, 5, 100, options) == (0, 14)
    assert context_span(10, 20, 100, options) == (0, 34)  # frames 10-12 blend with window 0
    assert context_span(95, 100, 100, options) == (86, 100)
    with pytest.raises(ValueError):
        context_span(5, 5, 100, options)


def test_debug_preview_shows_three_panels_per_frame(clip, tmp_path):
    _, dirty, track = clip
    target = tmp_path / "preview.mp4"
    options = TemporalOptions(window=8, context=4, blend=2, save_debug=str(target))
    out = _stream(dirty, track, options)
    assert len(out) == COUNT and target.exists()
    assert not list(tmp_path.glob(".*tmp-*")), "temporary file left behind"
    with av.open(str(target)) as container:
        stream = container.streams.video[0]
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
    assert len(frames) == COUNT
    assert frames[0].shape == (H, 3 * W, 3)
    # The middle panel colours the masked pixels by source: green = propagated.
    wire = track.alpha(0) > 0.99
    middle = frames[0][:, W : 2 * W][wire].astype(int).mean(axis=0)
    assert middle[1] > 120 and middle[0] < 90, f"propagated pixels shown as {middle}"


@pytest.mark.parametrize("scale", [1.0, 0.5])
def test_debug_preview_shows_a_small_masks_region_at_full_resolution(tmp_path, scale):
    # A 16 x 12 object in a 320 x 240 frame: the panels show its region plus the margin,
    # pixel for pixel (or at the scale asked), not the whole frame shrunk.
    height, width, count = 240, 320, 10
    clean = panning(count, height, width, step=(1, 0), seed=3)
    track = BoxTrack([(200 + t, 100, 216 + t, 112) for t in range(count)], height, width)
    target = tmp_path / "preview.mp4"
    options = TemporalOptions(
        window=8, context=4, blend=2, save_debug=str(target), save_debug_scale=scale
    )
    _stream(painted(clean, track), track, options)
    with av.open(str(target)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    margin = debug.REGION_MARGIN
    x0, y0 = 200 - margin, 100 - margin
    x1, y1 = min(width, 216 + count - 1 + margin) // 2 * 2, 112 + margin
    panel = (int((x1 - x0) * scale) // 2 * 2, int((y1 - y0) * scale) // 2 * 2)
    assert frames[0].shape == (panel[1], 3 * panel[0], 3)
    if scale == 1.0:  # the left panel is the input itself there (H.264 at crf 20)
        shown = frames[0][:, : panel[0]].astype(int)
        mask = track.alpha(0)[y0:y1, x0:x1] > 0
        error = np.abs(shown - painted(clean, track)[0][y0:y1, x0:x1])[~mask].mean()
        assert error < 6, error


def test_a_large_masks_region_keeps_the_whole_frame():
    assert debug.preview_region([(10, 10, 300, 230)], 320, 240) is None
    assert debug.preview_region([], 320, 240) is None
    assert debug.preview_region([(100, 100, 110, 110)], 320, 240) == (52, 52, 158, 158)


def _bar_pixels(frame: np.ndarray) -> np.ndarray:
    """The rows of a decoded preview frame where a cut bar goes (all three panels)."""
    return frame[: debug.cut_bar_height(frame.shape[0])].astype(int)


def _marked(frame: np.ndarray) -> bool:
    """True when the cut bar is drawn: most of its rows are the bar colour (H.264 blurs a
    little), and the dark "CUT" text is written on it."""
    bar = _bar_pixels(frame)
    near = np.abs(bar - np.array(debug.CUT_COLOUR)).max(axis=-1) < 40
    return bool(near.mean() > 0.6 and bar.sum(axis=-1).min() < 300)


@pytest.mark.parametrize("shot_cuts, expected", [("auto", [13]), ((20,), [20])])
def test_debug_preview_marks_the_first_frame_of_each_shot(tmp_path, shot_cuts, expected):
    # A pan over one texture, then another: a real cut before frame 13 (found), or one
    # given by hand at frame 20 (given cuts replace the ones found).
    count, cut = 26, 13
    clean = panning(cut, H, W, step=(2, 0), seed=1) + panning(count - cut, H, W, (-2, 1), seed=9)
    track = BoxTrack([(30, 10, 44, 38)] * count, H, W)
    target = tmp_path / "preview.mp4"
    options = TemporalOptions(
        window=8, context=4, blend=2, shot_cuts=shot_cuts, save_debug=str(target)
    )
    found = pytest.warns(UserWarning, match=f"before frame {cut}:")
    with found if shot_cuts == "auto" else contextlib.nullcontext():
        _stream(painted(clean, track), track, options)
    with av.open(str(target)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(frames) == count
    marked = [i for i, frame in enumerate(frames) if _marked(frame)]
    assert marked == expected, f"cut bar on frames {marked}, expected on {expected}"
    # The text is on the bar of the marked frame only; other frames show the picture there.
    first = expected[0]
    text = _bar_pixels(frames[first])[:, 4 : 4 + 3 * debug.cut_bar_height(H)].sum(axis=-1)
    assert text.min() < 300, "no dark CUT text on the bar"
    for i in (first - 1, first + 1):
        assert not _marked(frames[i]), f"frame {i} carries the cut bar"


def test_debug_preview_is_not_left_behind_on_error(clip, tmp_path):
    _, dirty, track = clip
    target = tmp_path / "preview.mp4"
    options = TemporalOptions(window=8, context=4, blend=2, save_debug=str(target))

    class BrokenFlow:
        name = "broken"

        def neighbour_flows(self, images):
            raise RuntimeError("flow failed")

    frames = decoded(dirty)
    with pytest.raises(RuntimeError, match="flow failed"):
        list(iter_patches(frames, track, OpenCVFiller(), options, estimator=BrokenFlow()))
    assert not target.exists() and not list(tmp_path.iterdir())


def test_a_stream_closed_early_leaves_no_window_being_filled(clip):
    """Windows are filled on a worker thread; closing the stream (a cancelled run) waits
    for the window in flight, so no native code runs on after the caller has gone."""
    _, dirty, track = clip

    class SlowFlow:
        name = "slow"

        def __init__(self):
            self.inner = make_flow_estimator("fast")
            self.input_scale = self.inner.input_scale
            self.footprint = self.inner.footprint

        def neighbour_flows(self, images):
            time.sleep(0.3)
            return self.inner.neighbour_flows(images)

    stream = iter_patches(decoded(dirty), track, OpenCVFiller(), SMALL, estimator=SlowFlow())
    next(stream)
    running = [t for t in threading.enumerate() if t.name.startswith("fill-window")]
    assert running, "expected the next window to be filling while the first one comes out"
    stream.close()
    alive = [t.name for t in running if t.is_alive()]
    assert not alive, f"still filling after close: {alive}"


@pytest.mark.parametrize("in_flight, budget", [(1, 1 << 40), (3, 1 << 40), (3, 0)])
def test_windows_filled_side_by_side_or_one_by_one_agree(clip, monkeypatch, in_flight, budget):
    _, dirty, track = clip
    expected = _stream(dirty, track)
    monkeypatch.setattr(engine, "WINDOWS_IN_FLIGHT", in_flight)
    monkeypatch.setattr(engine, "BYTES_IN_FLIGHT", budget)
    got = _stream(dirty, track)
    assert [i for i, _ in got] == [i for i, _ in expected]
    for (index, ours), (_, theirs) in zip(got, expected, strict=True):
        assert len(ours) == len(theirs), f"frame {index}"
        for a, b in zip(ours, theirs, strict=True):
            assert (a.x0, a.y0) == (b.x0, b.y0) and np.array_equal(a.rgb, b.rgb), f"frame {index}"


def test_decoded_frames_and_mask_tracks_are_read_around_the_masks_only(tmp_path):
    # A real decoded clip and a real mask track: the stream reads each frame's RGB and
    # alpha around the masks only (DecodedFrame.rgb_crop, MaskTrack.alpha_crop), and
    # gives exactly the patches it gives for frames converted whole.
    from types import SimpleNamespace

    from moebius_video.io import open_video
    from moebius_video.masks import load_mask_track

    height, width, count = 96, 960, 12
    clean = panning(count, height, width, step=(2, 0), seed=5)
    path = tmp_path / "pan.mkv"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("ffv1", rate=24)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for rgb in clean:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
        container.mux(stream.encode())
    wire = {
        "id": "wire",
        "shape": "polyline",
        "width": 3,
        "feather": 1.5,
        "keyframes": [
            {"frame": 0, "points": [[400.5, -2], [414.3, 98]]},
            {"frame": count - 1, "points": [[422.5, -2], [436.3, 98]]},
        ],
    }
    document = {"schema": "moebius.masktrack/1", "width": width, "height": height}
    track = load_mask_track({**document, "tracks": [wire]}, width, height, count)
    with open_video(path) as video:
        lazy_frames = list(video.frames())
        lazy = list(iter_patches(lazy_frames, track, OpenCVFiller(), SMALL, frame_count=count))
        whole_frames = [SimpleNamespace(index=f.index, rgb=f.rgb) for f in video.frames()]
    assert all(f._rgb is None for f in lazy_frames), "a frame was converted whole"
    whole = list(iter_patches(whole_frames, track, OpenCVFiller(), SMALL, frame_count=count))
    assert [i for i, _ in lazy] == list(range(count))
    for (index, got), (_, want) in zip(lazy, whole, strict=True):
        assert got, f"frame {index}: no patches"
        assert [p.box for p in got] == [p.box for p in want], f"frame {index}"
        for a, b in zip(got, want, strict=True):
            np.testing.assert_array_equal(a.rgb, b.rgb, err_msg=f"frame {index}")
            np.testing.assert_array_equal(a.alpha, b.alpha, err_msg=f"frame {index}")
