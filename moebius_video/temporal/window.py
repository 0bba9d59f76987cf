"""One window of frames, filled. The steps, in the order `fill_window` runs them:

0. shot cuts: the frames on each side of a cut are filled separately, since nothing
   can be carried across one (cuts.py; found in the crops, or given);
1. flow both ways between neighbouring frames, on a crop around the masks
   (flow/estimate.py; the holes are hidden from the estimator first);
2. flow completion inside and around the holes (flow/complete.py);
2b. a second flow pass: the holes are filled roughly with what that flow propagates
   (a membrane where nothing is seen), and the flow is estimated again on those frames
   (DIS, fast preset, or the plugged-in estimator), keeping only vectors that pass the
   forward-backward check near the holes. The completed flow of step 2 is a smooth guess
   from around the hole, wrong wherever a motion edge crosses it (a leg behind a wire,
   a head swaying under it); the second estimate follows what the rough fill shows,
   which is mostly the real background, motion edges included (skipped with flow
   quality 'fast');
2c. flow completion in time, in and around wide holes (a ball, not a wire): each flow
   pixel there follows the flow chain into the past and the future to the nearest frame
   that saw the point, and the flow measured there is blended in (flow_in_time.py).
   A moving object hides a point for a few frames only, and the flow measured just
   before and after follows a leg or a body under it, where steps 2 and 2b see only a
   border or a blank membrane (skipped with flow quality 'fast');
3. propagation: real pixels from the nearest frames that show them (propagate.py),
   colour-matched to the frame's own pixels around the hole (keyframes.py);
4. never-seen pixels: painted on key frames, carried along the flow elsewhere
   (keyframes.py);
4b. a third flow pass, for the smoothing only: the flow is estimated again on the
   filled frames (same estimator as 2b) and replaces the flow of steps 2-2c where step 2
   completed it and the two differ by more than half a pixel, except on membranes
   (fallback fills), where the estimate is read off a blank: deep inside any membrane,
   and anywhere on one in a wide hole. The smoothing of step 5 is only as steady as the
   flow it follows: where that flow misses a motion edge under a wire, it mixes two
   surfaces or (colour guard) does not smooth at all; the filled frames show real
   background in the holes, a better picture than 2b's rough fill. Propagating again
   along this flow did not pay (skipped with flow quality 'fast');
4c. with the shot-wide analysis: that flow in and around the holes set to the camera's
   motion where the measured flow beside them follows the camera (`snap_to_camera`);
5. smoothing of the filled pixels along the flow over +-4 frames, not across colour
   edges (propagate.py), nor on a thin hole's membrane where that flow fails the
   forward-backward check (`_thin_membranes`).

This is the temporal wrapper of the design notes for a run of consecutive frames that
fits in memory; `engine.py` cuts a clip into such windows, and a window's masks into
separate regions (`fill_regions`; regions.py). A region's crop is the union of its masks
plus `margin` for flow and propagation, plus `fill_context` for what the filler sees.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import cv2
import numpy as np

from ..fillers import Filler
from ..flow.complete import complete_flows, complete_inconsistent_flows
from ..flow.estimate import (
    DISFlowEstimator,
    FlowEstimator,
    NeighbourFlows,
    downscale_mask,
    estimate_neighbour_flows,
    make_flow_estimator,
)
from ..patches import FramePatch, banded_patches, enclosing_box, mask_box
from .cuts import find_region_cuts, shot_runs
from .flow_in_time import complete_flows_in_time
from .keyframes import FALLBACK, fill_frames, rough_fill
from .propagate import Pointers, Propagated, RegionPixels, propagate, smooth_in_time
from .settings import TemporalOptions
from .shot_pull import Pulled, ShotPull, apply_homography

# Pixels within this distance belong to one patch (fewer, larger patches).
PATCH_MERGE_GAP = 16
# Passes of smoothing along the flow over the filled pixels (weights 1/4, 1/2, 1/4 per
# pass: four passes average over 9 frames); see propagate.smooth_in_time.
SMOOTHING_PASSES = 4
# RGB distance (8-bit levels) at which a neighbour's share in the smoothing falls to 0.6:
# colours that far apart are two surfaces the flow confused, not one surface's flicker.
SMOOTHING_COLOUR_SCALE = 80.0
# Steps 2b and 4b estimate the flow again with the fast preset (a third of the cost of
# the balanced one), or the balanced one on crops whose short side is under this (where
# the fast one's quarter-resolution grid would be under 32 pixels).
SMALL_CROP_SIDE = 128
_FAST_DIS = DISFlowEstimator("fast")
_BALANCED_DIS = DISFlowEstimator("balanced")
# Crop pixels from real or propagated content beyond which the rough fill's membrane is
# too blank to estimate flow on (step 2b keeps the completed flow there).
MEMBRANE_REACH = 10.0
# Flow pixels around the holes (at the flow's resolution) whose second estimate must
# pass the forward-backward check to be kept.
REFINING_CHECK_GROW = 2
# Step 2c carries measured flow in time into the holes where a disk of this radius (crop
# pixels) fits: a ball, not a wire.
WIDE_HOLE_RADIUS = 8
# Step 4b keeps the flow of steps 2-2c where the new estimate is within this many crop
# pixels of it: smaller differences are the estimator's noise (where the completed flow
# is right, as under a pan, replacing it made the smoothing worse), larger ones a motion
# edge the completion missed.
SMOOTHING_FLOW_TOLERANCE = 0.5
# Crop pixels per frame by which a pixel's completed flow may differ from the camera's
# motion there and still count as background standing still (the shot-wide pull is
# asked only for those). The completed flow inside a hole is interpolated from around
# it, so on a plain pan it is off by a pixel or more where the background has detail:
# at 0.5 px the pull skipped exactly the detailed parts (coffee-slow-wire +3.2 dB over
# the best baseline, +11.3 at 2 px); beyond 2 px it starts painting the background over
# things moving behind a hole (bbb-ball +2.1 -> +0.8 dB at 100 px, flicker 3x).
CAMERA_FLOW_TOLERANCE = 2.0
# Crop pixels per frame within which the measured flow beside a hole follows the camera's
# motion, for the smoothing's flow in the hole to be set to the camera's (step 4c,
# `snap_to_camera`). Snapping the flow that propagation follows too: before the chains'
# rounding was fixed it lost 24 dB on china-zoom-boom (a boom on a pan with zoom); after
# (886de06) gravel-fast-boom gained 11.5 dB, but the real clips moved both ways
# (carphone-wire -0.56, bikes-wire -0.35, bbb-wire +0.52; 23 cases, mean +0.13).
CAMERA_RING_TOLERANCE = 0.5
# Frames beyond which a local source gives way to the shot-wide pull where the pull
# finds one: a chain through the completed flow inside the hole drifts with every hop (a
# guess off by a pixel here and there), where the pull reads by the camera's motion (it
# is asked only where the flow follows the camera). On real footage the pulled pixels
# of bbb-wire score 33.8 dB against 23.8 for the local ones, mostly one or two frames
# from the hole's edge. 8 frames (the first setting): chelsea-slow-wire +13.4 -> +19.9,
# coffee-slow-wire +10.5 -> +17.0; 1 frame, on top: bikes2-card +11.2 -> +12.7,
# bbb2-swing +2.2 -> +2.4.
LOCAL_REACH = 1
# Local sources up to this many frames away are what the pull's reads are checked
# against (`ShotPull.fetch`'s `known`): where something moves in front of the background
# (the rabbit under bbb-ball), the near frames show it and a far reference does not.
# Checked against the 1-frame sources only, bbb-ball lost 1.0 dB (flicker 16 -> 21).
CHECK_REACH = 8
# Crop pixels by which the smoothing's flow to a neighbouring frame and back may miss
# its start under a thin membrane and still be followed (`_thin_membranes`).
FLOW_CHECK_TOLERANCE = 1.0


@dataclass(frozen=True)
class FilledWindow:
    """The filled frames of one window, cropped to `box` (x0, y0, x1, y1) in frame pixels."""

    first_index: int
    box: tuple[int, int, int, int]
    filled: list[np.ndarray]  # per frame: crop with the hole pixels filled
    sources: list[np.ndarray]  # per frame: uint8 source map (keyframes.UNTOUCHED, ...)
    alphas: list[np.ndarray]  # per frame: float32 alpha of the crop
    cuts: tuple[int, ...] = ()  # clip indices of the frames that start a new shot


def flow_margin(options: TemporalOptions, estimator: FlowEstimator) -> int:
    """Pixels around the masks on which flow is computed and sources are searched.

    The flow next to a hole is spoiled over the estimator's footprint and replaced by
    completion, which needs good flow beyond that to start from.
    """
    return max(options.margin, 2 * getattr(estimator, "footprint", 8))


def crop_margin(options: TemporalOptions, estimator: FlowEstimator) -> int:
    """Pixels around the masks a window reads: crops given to `fill_window` must hold the
    masks plus this much (or reach the frame border) to give whole-frame results."""
    return max(options.fill_context, flow_margin(options, estimator))


def is_key_frame(index: int, options: TemporalOptions) -> bool:
    return index % options.keyframe_interval == 0


def _grow(box, by: int, width: int, height: int) -> tuple[int, int, int, int]:
    x0, y0, x1, y1 = box
    return max(x0 - by, 0), max(y0 - by, 0), min(x1 + by, width), min(y1 + by, height)


def union_box(alphas: Sequence[np.ndarray]) -> tuple[int, int, int, int] | None:
    """Bounding box of alpha > 0 over all frames, or None when every alpha is zero."""
    return enclosing_box([b for b in (mask_box(alpha) for alpha in alphas) if b is not None])


def fill_window(
    frames: Sequence[np.ndarray],
    alphas: Sequence[np.ndarray],
    filler: Filler,
    options: TemporalOptions,
    first_index: int,
    origin: tuple[int, int] = (0, 0),
    estimator: FlowEstimator | None = None,
    pull: ShotPull | None = None,
) -> FilledWindow | None:
    """Fill the alpha > 0 pixels of consecutive frames; None when no frame has a mask.

    frames: T images (H x W x 3, uint8 or uint16), all the same size; they may be crops of
      the full frames, placed at `origin` (x, y), as long as the crop holds the masks plus
      `crop_margin(options, estimator)` pixels (or reaches the frame border).
    alphas: T float32 H x W masks; first_index: clip index of frames[0].
    pull: the run's shot-wide references (shot_pull.py), or None.
    """
    filled = fill_regions(
        [Region(frames, alphas, origin)], filler, options, first_index, estimator, pull
    )
    return None if filled is None else filled.parts[0]


@dataclass(frozen=True)
class Region:
    """One separate region of a window's masks: its crops of the frames, their alphas (zero
    outside the region's own masks), and where the crops sit in the frame (x, y)."""

    frames: Sequence[np.ndarray]
    alphas: Sequence[np.ndarray]
    origin: tuple[int, int] = (0, 0)


@dataclass(frozen=True)
class FilledRegions:
    """One window's result: a FilledWindow per separate region of its masks (disjoint
    boxes, in the order given), all cut at the same shot cuts."""

    parts: tuple[FilledWindow, ...]

    @property
    def first_index(self) -> int:
        return self.parts[0].first_index

    @property
    def cuts(self) -> tuple[int, ...]:
        return self.parts[0].cuts

    def patches(self, frames_index: int) -> list[FramePatch]:
        """The patches of one frame (position in the window) over every region, in frame
        order (top to bottom, then left to right): windows that split a frame's masks into
        regions differently still give the same patches in the same order, which
        `engine.blend_patches` cross-fades one to one."""
        patches = [p for part in self.parts for p in window_patches(part, frames_index)]
        return sorted(patches, key=lambda p: (p.y0, p.x0, *p.alpha.shape))


def fill_regions(
    regions: Sequence[Region],
    filler: Filler,
    options: TemporalOptions,
    first_index: int,
    estimator: FlowEstimator | None = None,
    pull: ShotPull | None = None,
) -> FilledRegions | None:
    """`fill_window` for each region of one window, each on its own crop with its own flow
    and references, so that cost follows the masks, not their bounding box; None when no
    region has a mask. The shot cuts are decided once, on every region's crops, since a
    cut is a frame-wide event the regions must agree on."""
    estimator = estimator or make_flow_estimator(options.flow_quality)
    prepared = [p for p in (_prepare(r, options, estimator) for r in regions) if p is not None]
    if not prepared:
        return None
    cuts = window_cuts([(p.crops, p.regions) for p in prepared], options, first_index)
    parts = tuple(
        _fill_prepared(p, cuts, filler, options, first_index, estimator, pull) for p in prepared
    )
    return FilledRegions(parts)


@dataclass(frozen=True)
class _Prepared:
    """A region cut down to its masks plus the flow margin (`crops`, `holes`, the
    untrusted `regions`), its filler's larger `context`, and where they sit."""

    crops: list[np.ndarray]
    holes: np.ndarray
    regions: np.ndarray
    context: list[np.ndarray]
    box: tuple[int, int, int, int]  # of `crops`, in the region's crop pixels
    context_box: tuple[int, int, int, int]
    origin: tuple[int, int]  # of the region's crops in the frame
    alphas: list[np.ndarray]


def _prepare(region: Region, options: TemporalOptions, estimator) -> _Prepared | None:
    inner = union_box(region.alphas)
    if inner is None:
        return None
    height, width = region.alphas[0].shape
    x0, y0, x1, y1 = box = _grow(inner, flow_margin(options, estimator), width, height)
    cx0, cy0, cx1, cy1 = context_box = _grow(inner, crop_margin(options, estimator), width, height)
    holes = np.stack([alpha[y0:y1, x0:x1] > 0 for alpha in region.alphas])
    return _Prepared(
        [frame[y0:y1, x0:x1] for frame in region.frames],
        holes,
        _untrusted(holes, options.edge),
        [frame[cy0:cy1, cx0:cx1] for frame in region.frames],
        box,
        context_box,
        region.origin,
        [alpha[y0:y1, x0:x1] for alpha in region.alphas],
    )


def _fill_prepared(
    prepared: _Prepared, cuts, filler, options, first_index, estimator, pull
) -> FilledWindow:
    """Steps 1-5 on each shot of one prepared region."""
    x0, y0, x1, y1 = prepared.box
    cx0, cy0 = prepared.context_box[:2]
    ox, oy = prepared.origin
    filled, sources = [], []
    for start, stop in shot_runs(len(prepared.crops), cuts):
        run = slice(start, stop)
        is_key = _key_frames(
            stop - start,
            first_index + start,
            options,
            cut_before=start in cuts,
            cut_after=stop in cuts,
        )
        run_filled, run_sources = _fill_shot(
            prepared.crops[run],
            prepared.holes[run],
            prepared.regions[run],
            is_key,
            filler=filler,
            estimator=estimator,
            options=options,
            context=prepared.context[run],
            context_offset=(x0 - cx0, y0 - cy0),
            pull=pull,
            first_index=first_index + start,
            origin=(x0 + ox, y0 + oy),
        )
        filled += run_filled
        sources += run_sources
    return FilledWindow(
        first_index,
        (x0 + ox, y0 + oy, x1 + ox, y1 + oy),
        filled,
        sources,
        prepared.alphas,
        tuple(first_index + k for k in cuts),
    )


def _fill_shot(
    crops,
    holes,
    regions,
    is_key,
    *,
    filler,
    estimator,
    options,
    context,
    context_offset,
    pull=None,
    first_index=0,
    origin=(0, 0),
):
    """Steps 1-5 on consecutive frames of one shot; returns (filled crops, source maps).

    crops, holes, regions, is_key: per frame of the shot; context: the larger crops the
    filler sees, with `crops` at context_offset (x, y) inside them; pull: shot-wide
    references, for frames first_index.. whose crops sit at origin (x, y) in the frame.
    """
    if not holes.any():
        return [crop.copy() for crop in crops], [np.zeros(h.shape, np.uint8) for h in holes]
    if len(crops) > 1:
        flows = estimate_neighbour_flows(crops, estimator, holes=regions)
        small = flows.forward.shape[1:3]
        coarse_regions = np.stack([downscale_mask(region, small) for region in regions])
        # Flow pixels the estimator's footprint spoiled around each hole.
        grow = -(-getattr(estimator, "footprint", 8) // flows.scale)
        flows = complete_flows(flows, coarse_regions, grow=grow)
        completed = np.stack([_grow_mask(region, grow) for region in coarse_regions])
        if options.flow_quality != "fast":
            first = propagate(crops, regions, flows, is_key)
            flows = _refined_flows(crops, holes, regions, flows, first, completed, estimator)
            wide = _near_wide_holes(holes, small, grow)
            flows = complete_flows_in_time(flows, completed & wide)
    else:
        flows = None
    propagated = _propagate_or_nothing(crops, regions, flows, is_key)
    if pull is not None:
        propagated = [
            with_pulled(here, _pull_frame(pull, first_index, k, crops, holes, here, flows, origin))
            for k, here in enumerate(propagated)
        ]
    filled, sources = fill_frames(crops, holes, propagated, is_key, filler, context, context_offset)
    if flows is not None:
        if options.flow_quality != "fast":
            flows = _smoothing_flows(filled, sources, regions, flows, completed, wide, estimator)
            if pull is not None:
                flows = snap_to_camera(flows, completed, pull, first_index, origin)
        filled = smooth_in_time(
            filled,
            holes & ~_thin_membranes(holes, sources, flows),
            flows,
            SMOOTHING_PASSES,
            colour_scale=SMOOTHING_COLOUR_SCALE,
        )
    return filled, sources


def _pull_frame(pull: ShotPull, first_index, k, crops, holes, local, flows, origin) -> Pulled:
    """The shot-wide pull for frame k's region pixels (in RegionPixels order).

    Asked only for the pixels local propagation did not see and whose flow follows the
    camera (`follows_camera`): a far frame shows the background, which is what a pixel
    hides only where the scene there stands still (a ball over a walking person hides
    the person). The reads are checked against what local propagation found in the hole
    (`known`), as against the ring around it.
    """
    ys, xs = local.pixels.ys, local.pixels.xs
    hole = holes[k]
    known, asked = pull_request(local, hole)
    if flows is not None and asked.any():
        asked &= follows_camera(pull, flows, first_index, k, xs, ys, origin)
    return pull.fetch(
        first_index + k,
        crops[k],
        hole,
        origin,
        ys,
        xs,
        known=(ys[known], xs[known], local.values[known]),
        asked=asked,
    )


def pull_request(local: Propagated, hole: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(known, asked), bool per region pixel of one frame: the hole pixels whose local
    source (at most CHECK_REACH frames away) the pull's reads are checked against, and
    the pixels the pull is asked for (no local source, or one more than LOCAL_REACH
    frames away; `with_pulled` takes the pull's value for those where it finds one)."""
    in_hole = hole[local.pixels.ys, local.pixels.xs]
    known = local.seen & ~_far_local(local, CHECK_REACH) & in_hole
    return known, ~local.seen | _far_local(local)


def snap_to_camera(flows, completed, pull: ShotPull, first_index, origin) -> NeighbourFlows:
    """Step 4c: the smoothing's flows with their vectors in `completed` ((T, h, w) bool on
    their grid: guessed by completion) set to the camera's motion where the measured flow
    nearest them follows the camera (within CAMERA_RING_TOLERANCE, mostly, over 5 x 5
    flow pixels), the vector itself is within CAMERA_FLOW_TOLERANCE of it, and one global
    motion explains the pair of frames.

    A completed vector is interpolated from around the hole, off by a pixel here and a
    pixel there, so the smoothing averages a fill with its neighbours' fills slid against
    the real background (flicker, where the background has detail). Where the real pixels
    beside the hole move with the camera, so does the background behind it.
    """
    motion = pull.analysis.motion
    h, w = flows.forward.shape[1:3]
    crop_w, crop_h = flows.crop_size
    ratio = np.array([crop_w / w, crop_h / h], np.float32)
    gx, gy = np.meshgrid(np.arange(w), np.arange(h))
    # Flow-grid pixel centres in frame pixels.
    points = np.stack([(gx + 0.5) * ratio[0] - 0.5, (gy + 0.5) * ratio[1] - 0.5], -1)
    points = (points + np.array(origin)).reshape(-1, 2).astype(np.float64)
    forward, backward = flows.forward.copy(), flows.backward.copy()
    for k in range(forward.shape[0]):
        for field, here, there in ((forward[k], k, k + 1), (backward[k], k + 1, k)):
            guessed = completed[here]
            a, b = first_index + here, first_index + there
            if not guessed.any() or guessed.all() or not motion.is_global(a, b):
                continue
            camera = apply_homography(motion.transform(a, b), points) - points
            camera = (camera.reshape(h, w, 2) / ratio).astype(np.float32)
            apart = np.hypot(*((field - camera) * ratio).transpose(2, 0, 1))
            measured = (~guessed).astype(np.float32)
            agree = cv2.boxFilter(measured * (apart <= CAMERA_RING_TOLERANCE), -1, (5, 5))
            share = agree / np.maximum(cv2.boxFilter(measured, -1, (5, 5)), 1e-6)
            # Each guessed pixel looks at the measured pixel nearest to it.
            _, labels = cv2.distanceTransformWithLabels(
                guessed.astype(np.uint8), cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_PIXEL
            )
            lookup = np.zeros(labels.max() + 1, np.float32)
            lookup[labels[~guessed]] = share[~guessed]
            snap = guessed & (lookup[labels] >= 0.5) & (apart <= CAMERA_FLOW_TOLERANCE)
            field[snap] = camera[snap]
    return NeighbourFlows(forward, backward, flows.scale, flows.crop_size)


def follows_camera(pull: ShotPull, flows, first_index, k, xs, ys, origin) -> np.ndarray:
    """Which crop pixels (xs, ys) of frame k move, in the window's completed flow, as the
    camera motion moves them to the neighbouring frames (within CAMERA_FLOW_TOLERANCE)."""
    motion = pull.analysis.motion
    ox, oy = origin
    points = np.stack([xs + ox, ys + oy], 1).astype(np.float64)
    follows = np.ones(xs.size, bool)
    count = flows.forward.shape[0] + 1
    for j, field in (
        (k + 1, flows.forward[k] if k + 1 < count else None),
        (k - 1, flows.backward[k - 1] if k > 0 else None),
    ):
        if field is None:
            continue
        matrix = motion.transform(first_index + k, first_index + j)
        if matrix is None:
            return np.zeros(xs.size, bool)
        camera = apply_homography(matrix, points) - points
        local = flows.sample(field, xs, ys)
        follows &= np.hypot(*(local - camera).T) <= CAMERA_FLOW_TOLERANCE
    return follows


def _far_local(local: Propagated, reach: int = LOCAL_REACH) -> np.ndarray:
    """Pixels whose nearest local source is more than `reach` frames away."""
    if local.reach is None:
        return np.zeros(local.seen.shape, bool)
    return local.seen & (local.reach > reach)


def with_pulled(local: Propagated, pulled: Pulled) -> Propagated:
    """Local propagation where it found a trusted source; the shot-wide pull for the
    pixels it did not (unseen, or rejected: the pull does not follow the local flow)."""
    take = pulled.found & (~local.seen | _far_local(local))
    if not take.any():
        return local
    values = local.values.copy()
    values[take] = pulled.values[take]
    return replace(
        local,
        values=values,
        seen=local.seen | take,
        rejected=local.rejected & ~take,
        pulled=np.where(take, pulled.distance, 0),
    )


def window_cuts(regions, options: TemporalOptions, first_index: int) -> list[int]:
    """Local indices where a new shot starts in this window: found in the crops of its
    regions ((crops, untrusted holes) per region; shot_cuts 'auto'), none ('none'), or the
    given clip indices that fall inside."""
    if options.shot_cuts == "none":
        return []
    count = len(regions[0][0])
    if options.shot_cuts == "auto":
        return find_region_cuts(regions)
    return [index - first_index for index in options.shot_cuts if 0 < index - first_index < count]


def _refined_flows(crops, holes, regions, flows, propagated, completed, estimator=None):
    """Step 2b: the flow estimated again on the crops with their holes roughly filled
    (with `propagated`, the first propagation along `flows`, and the shot-wide pull).

    completed: (T, h, w) bool on the flow's grid, where step 2 replaced the estimate; the
    second estimate replaces it there (elsewhere the first estimate saw the real frames,
    at a finer resolution), except deep inside a membrane of the rough fill: across a
    wire the membrane joins the two sides and shows their motion, but the middle of a
    large one (a ball over a moving body) is a blank the estimator can only guess at.
    """
    guess, guessed = rough_fill(crops, holes, propagated)
    size = flows.forward.shape[1:3]
    replace = completed & ~np.stack([_deep_inside(g, size) for g in guessed])
    estimator = refining_estimator(crops[0].shape[:2], estimator)
    return _merge_estimate(guess, regions, flows, replace, estimator)


def _smoothing_flows(filled, sources, regions, flows, completed, wide, estimator=None):
    """Step 4b: the flow the smoothing follows, estimated again on the filled frames.

    completed: (T, h, w) bool on the flow's grid, where step 2 replaced the estimate;
    wide: the same grid's pixels in and around wide holes (`_near_wide_holes`). The new
    estimate replaces the flow in `completed` where it differs by more than
    SMOOTHING_FLOW_TOLERANCE, except where it would be read off a membrane (FALLBACK
    pixels of `sources`): deep inside one anywhere, and anywhere on one in a wide hole,
    whose blank middle and edges drag the estimate (step 2c's flow, carried in time,
    knows better there).
    """
    size = flows.forward.shape[1:3]
    membranes = [source == FALLBACK for source in sources]
    untrusted = np.stack([_deep_inside(membrane, size) for membrane in membranes])
    untrusted |= wide & np.stack([downscale_mask(membrane, size) for membrane in membranes])
    estimator = refining_estimator(filled[0].shape[:2], estimator)
    replace = completed & ~untrusted
    return _merge_estimate(filled, regions, flows, replace, estimator, SMOOTHING_FLOW_TOLERANCE)


def _merge_estimate(images, regions, flows, replace, estimator, tolerance=0.0):
    """The flows with their vectors at `replace` ((T, h, w) bool on their grid) taken
    from a new estimate on `images` (crops whose holes are filled), where the two differ
    by more than `tolerance` crop pixels. The new estimate's vectors in and near the
    holes (regions, crop-sized) that fail the forward-backward check are first filled
    from the vectors around them."""
    second = estimate_neighbour_flows(images, estimator)
    small = second.forward.shape[1:3]
    coarse_regions = np.stack([downscale_mask(region, small) for region in regions])
    second = complete_inconsistent_flows(second, coarse_regions, REFINING_CHECK_GROW)
    h, w = flows.forward.shape[1:3]
    ratio = np.array([w / small[1], h / small[0]], np.float32)

    forward, backward = flows.forward.copy(), flows.backward.copy()
    for k in range(forward.shape[0]):
        for merged, new, where in (
            (forward[k], second.forward[k], replace[k]),
            (backward[k], second.backward[k], replace[k + 1]),
        ):
            if new.shape[:2] != (h, w):
                new = cv2.resize(new, (w, h), interpolation=cv2.INTER_LINEAR) * ratio
            if tolerance > 0:
                apart = np.hypot(*(new - merged).transpose(2, 0, 1)) * flows.scale
                where = where & (apart > tolerance)
            merged[where] = new[where]
    return NeighbourFlows(forward, backward, flows.scale, flows.crop_size)


def _wide_parts(hole: np.ndarray) -> np.ndarray:
    """The parts of a crop's hole that a disk of WIDE_HOLE_RADIUS pixels fits into."""
    size_px = 2 * WIDE_HOLE_RADIUS + 1
    disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size_px, size_px))
    return cv2.morphologyEx(hole.astype(np.uint8), cv2.MORPH_OPEN, disk) > 0


def _near_wide_holes(holes: np.ndarray, size: tuple[int, int], grow: int) -> np.ndarray:
    """(T, h, w) bool on the flow's grid (size h, w): the wide parts of the holes
    (`_wide_parts`), grown by `grow` flow pixels.

    Across a thin hole (a wire) steps 2 and 2b see both sides close by and are right;
    flow completion in time is kept for wide holes (a ball), where they guess.
    """
    return np.stack([_grow_mask(downscale_mask(_wide_parts(h), size), grow) for h in holes])


def _thin_membranes(holes: np.ndarray, sources: Sequence[np.ndarray], flows) -> np.ndarray:
    """(T, H, W) bool: membrane (FALLBACK) pixels outside the wide parts of the holes whose
    smoothing flow fails the forward-backward check (by more than FLOW_CHECK_TOLERANCE)
    to a neighbouring frame; step 5 leaves them as they are.

    Across a thin hole the membrane is drawn from this frame's own pixels a few pixels
    away on both sides, so it follows what the frame shows at once. Where the flow there
    is wrong (content moving fast behind a wire), smoothing along it mixes in what other
    frames show elsewhere. In a wide hole the membrane's middle is a blank that shifts
    with its border, which the smoothing steadies (bbb-ball's flicker ratio 16 -> 24 when
    it was left out there too).
    """
    thin = np.zeros(holes.shape, bool)
    count = len(holes)
    for k, (hole, source) in enumerate(zip(holes, sources, strict=True)):
        membrane = (source == FALLBACK) & ~_wide_parts(hole)
        if not membrane.any():
            continue
        ys, xs = np.nonzero(membrane)
        broken = np.zeros(ys.size, bool)
        pairs = []
        if k + 1 < count:
            pairs.append((flows.forward[k], flows.backward[k]))
        if k > 0:
            pairs.append((flows.backward[k - 1], flows.forward[k - 1]))
        for there, back in pairs:
            step = flows.sample(there, xs, ys)
            home = flows.sample(back, xs + step[:, 0], ys + step[:, 1])
            broken |= np.hypot(*(step + home).T) > FLOW_CHECK_TOLERANCE
        thin[k, ys[broken], xs[broken]] = True
    return thin


def _deep_inside(guessed: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Flow-grid pixels (size h, w) covering a guessed pixel farther than
    MEMBRANE_REACH crop pixels from any pixel that is not guessed."""
    if not guessed.any():
        return np.zeros(size, bool)
    distance = cv2.distanceTransform(guessed.astype(np.uint8), cv2.DIST_L2, 3)
    return downscale_mask(distance > MEMBRANE_REACH, size)


def refining_estimator(
    crop_shape: tuple[int, int], estimator: FlowEstimator | None = None
) -> FlowEstimator:
    """The estimator of steps 2b and 4b for a crop of (height, width).

    A plugged-in estimator (a learned flow) runs again. For DIS: the fast preset, or the
    balanced one for small crops, where the fast one's quarter-resolution grid is too
    coarse (a 64-pixel crop is a 16-pixel grid) and the finer one costs little.
    """
    if estimator is not None and not isinstance(estimator, DISFlowEstimator):
        return estimator
    if min(crop_shape) < SMALL_CROP_SIDE:
        return _BALANCED_DIS
    return _FAST_DIS


def _grow_mask(mask: np.ndarray, by: int) -> np.ndarray:
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (2 * by + 1, 2 * by + 1))
    return cv2.dilate(mask.astype(np.uint8), kernel).astype(bool)


def _untrusted(holes: np.ndarray, edge: int) -> np.ndarray:
    """The hole grown by `edge` + 1 pixels: a bilinear sample taken outside it never
    touches the hole's `edge`-pixel border."""
    return np.stack([_grow_mask(hole, edge + 1) for hole in holes])


def _key_frames(
    count: int,
    first_index: int,
    options: TemporalOptions,
    cut_before: bool = False,
    cut_after: bool = False,
) -> list[bool]:
    """Which frames of a run are painted: every keyframe_interval-th frame of the clip;
    next to a shot cut also the shot's first or last frame, when the nearest key frame
    inside the shot is more than half an interval away (a painting carried that far
    through a moving shot goes stale, and none can come from across the cut)."""
    is_key = [is_key_frame(first_index + k, options) for k in range(count)]
    if not any(is_key):
        # A window (or shot) shorter than the key-frame interval: paint its middle frame.
        is_key[count // 2] = True
    keys = [k for k, key in enumerate(is_key) if key]
    reach = options.keyframe_interval // 2
    if cut_before and keys[0] > reach:
        is_key[0] = True
    if cut_after and count - 1 - keys[-1] > reach:
        is_key[count - 1] = True
    return is_key


def _propagate_or_nothing(crops, regions, flows, is_key) -> list[Propagated]:
    if flows is not None:
        return propagate(crops, regions, flows, is_key)
    pixels = RegionPixels.of(regions[0])
    n = len(pixels)
    return [
        Propagated(
            pixels,
            np.zeros((n, 3), np.float32),
            np.zeros(n, bool),
            np.zeros(n, bool),
            Pointers.nowhere(n),
            Pointers.nowhere(n),
        )
    ]


def patch_boxes(hole: np.ndarray, gap: int = PATCH_MERGE_GAP):
    """Boxes (x0, y0, x1, y1) and pixel masks of the hole's parts, nearby parts merged.

    Each hole pixel belongs to exactly one part, so patches never overlap in alpha.
    """
    if not hole.any():
        return []
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (2 * gap + 1, 2 * gap + 1))
    grown = cv2.dilate(hole.astype(np.uint8), kernel)
    count, labels = cv2.connectedComponents(grown, connectivity=8)
    parts = []
    for label in range(1, count):
        part = hole & (labels == label)
        box = mask_box(part)
        if box is not None:
            parts.append((box, part))
    return parts


def window_patches(window: FilledWindow, frames_index: int) -> list[FramePatch]:
    """Patches of one frame of a filled window (frames_index: position in the window)."""
    alpha = window.alphas[frames_index]
    filled = window.filled[frames_index]
    bx, by = window.box[:2]
    patches = []
    for (x0, y0, x1, y1), part in patch_boxes(alpha > 0):
        part_alpha = np.where(part[y0:y1, x0:x1], alpha[y0:y1, x0:x1], 0.0).astype(np.float32)
        patches += banded_patches(
            window.first_index + frames_index, bx + x0, by + y0, filled[y0:y1, x0:x1], part_alpha
        )
    return patches
