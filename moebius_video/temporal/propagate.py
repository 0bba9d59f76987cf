"""Bidirectional propagation: fetch the real background behind a hole from other frames.

For every pixel of a frame's region (the hole plus an untrusted edge) we follow the
completed flow into the previous frame. If the point lands where that frame shows real
content, that is its source. If it lands inside the previous frame's region, it takes
over the source that pixel already found (plus the sub-pixel offset), so the chain
reaches back to the nearest frame where the point was visible, and the colour is read
once, from the real frame, without the blur of warping already-warped pixels. One pass
forward in time finds sources in the past, one pass backward finds them in the future;
each costs one step per region pixel and frame. Taking over the nearest pixel's source
decides visibility on that pixel's path, not this one's; under half a pixel a frame of
motion the two part ways, so a taken-over source is checked where the path really lands
(`_settle`), and a point whose nearest pixel found nothing is followed a few hops on its
own path (`_continue`).

Each source carries a reliability: the distance in frames and the worst mismatch
between the forward and the backward flow along its chain (an occlusion or a bad vector
shows up there). A source that disagrees by more than MAX_MISMATCH pixels is dropped;
a pixel whose every source was dropped is marked `rejected` (the flow around it cannot
be trusted, so neither can carrying anything along it). The past and future sources
are blended with weights

    w = 1 / (distance * (1 + (mismatch / MISMATCH_SCALE)^2))

The same chains record where each pixel sits in the nearest key frame on either side,
which `keyframes.py` uses to carry generated fills. `smooth_in_time` finally averages
the filled pixels along the flow over neighbouring frames.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..flow.estimate import NeighbourFlows, bilinear

# Scale of the forward-backward mismatch (crop pixels) at which a source's weight halves.
MISMATCH_SCALE = 1.0
# Sources whose chain disagrees by more than this (crop pixels) are not used: the flow
# there is wrong (a fast foreground edge along the hole, an occlusion).
MAX_MISMATCH = 0.5
# Hops a point whose nearest pixel's chain found nothing is followed on its own path
# (`_continue`): rounding lags a chain by under a pixel, a few frames at 0.3 px a frame.
EXTRA_HOPS = 4


@dataclass(frozen=True)
class RegionPixels:
    """The pixels of one frame's region, in row-major order (crop coordinates)."""

    ys: np.ndarray  # int32
    xs: np.ndarray  # int32

    @classmethod
    def of(cls, region: np.ndarray) -> RegionPixels:
        ys, xs = np.nonzero(region)
        return cls(ys.astype(np.int32), xs.astype(np.int32))

    def __len__(self) -> int:
        return int(self.ys.size)


@dataclass(frozen=True)
class Pointers:
    """For each region pixel of one frame: where its content is found in another frame.

    frame: local frame index, -1 where nothing was found.
    x, y: position in that frame (crop coordinates, sub-pixel).
    distance: frames between the two.
    mismatch: worst forward-backward flow disagreement along the chain, in pixels.
    """

    frame: np.ndarray
    x: np.ndarray
    y: np.ndarray
    distance: np.ndarray
    mismatch: np.ndarray

    @classmethod
    def nowhere(cls, n: int) -> Pointers:
        return cls(
            np.full(n, -1, np.int32),
            np.zeros(n, np.float32),
            np.zeros(n, np.float32),
            np.zeros(n, np.int32),
            np.zeros(n, np.float32),
        )

    @property
    def found(self) -> np.ndarray:
        return self.frame >= 0


@dataclass(frozen=True)
class Traced:
    """What one pass found for every frame: real-content sources and key-frame positions."""

    sources: list[Pointers]
    keys: list[Pointers]


def trace(
    pixels: Sequence[RegionPixels],
    shape: tuple[int, int],
    flows: NeighbourFlows,
    towards: int,
    is_key: Sequence[bool],
) -> Traced:
    """Follow every region pixel to the nearest frame that shows it, in one time direction.

    towards: -1 looks into the past (uses the backward flows), +1 into the future.
    is_key: per local frame, whether it is a key frame.
    """
    h, w = shape
    count = len(pixels)
    order = range(count) if towards < 0 else range(count - 1, -1, -1)
    sources: list[Pointers | None] = [None] * count
    keys: list[Pointers | None] = [None] * count
    lookup = np.full((h, w), -1, np.int32)  # pixel -> index into the neighbour's arrays
    regions = _RegionIndex(pixels, shape)
    neighbour = None
    for k in order:
        here = pixels[k]
        n = len(here)
        if neighbour is None:
            sources[k] = Pointers.nowhere(n)
            keys[k] = Pointers.nowhere(n)
        else:
            # Hop from frame k to its neighbour j along the completed flow.
            j = k + towards
            pair = min(k, j)
            hop = flows.forward[pair] if towards > 0 else flows.backward[pair]
            back = flows.backward[pair] if towards > 0 else flows.forward[pair]
            step = flows.sample(hop, here.xs, here.ys)
            # Within half a pixel of the border counts as inside (flow noise at a frame
            # edge must not lose the point); sampling clamps to the border pixels.
            qx = here.xs + step[:, 0]
            qy = here.ys + step[:, 1]
            inside = (qx > -0.5) & (qx < w - 0.5) & (qy > -0.5) & (qy < h - 0.5)
            qx = qx.clip(0, w - 1)
            qy = qy.clip(0, h - 1)
            rx = np.rint(qx).astype(np.int32).clip(0, w - 1)
            ry = np.rint(qy).astype(np.int32).clip(0, h - 1)
            index = np.where(inside, lookup[ry, rx], -1)
            visible = inside & (index < 0)
            inherits = inside & (index >= 0)
            # The flow back from the landing pixel should return to where we started.
            returned = flows.sample(back, rx, ry)
            mismatch = np.hypot(step[:, 0] + returned[:, 0], step[:, 1] + returned[:, 1])
            offset_x = qx - rx
            offset_y = qy - ry
            sources[k] = _hop(
                neighbour[0], j, visible, inherits, index, qx, qy, offset_x, offset_y, mismatch
            )
            _settle(sources[k], sources, regions)
            lost = np.flatnonzero(inherits & ~sources[k].found)
            if lost.size:
                _continue(sources[k], lost, qx, qy, mismatch, j, towards, flows, sources, regions)
            landed_on_key = inside if is_key[j] else np.zeros(n, bool)
            keys[k] = _hop(
                neighbour[1],
                j,
                landed_on_key,
                inherits & ~landed_on_key,
                index,
                qx,
                qy,
                offset_x,
                offset_y,
                mismatch,
            )
            previous_pixels = pixels[j]
            lookup[previous_pixels.ys, previous_pixels.xs] = -1
        lookup[here.ys, here.xs] = np.arange(n, dtype=np.int32)
        neighbour = (sources[k], keys[k])
    return Traced(sources, keys)  # type: ignore[arg-type]


def _hop(
    previous: Pointers,
    j: int,
    direct: np.ndarray,
    inherits: np.ndarray,
    index: np.ndarray,
    qx: np.ndarray,
    qy: np.ndarray,
    offset_x: np.ndarray,
    offset_y: np.ndarray,
    mismatch: np.ndarray,
) -> Pointers:
    """Pointers after one hop: land directly in frame j, or take over j's pointer."""
    n = direct.size
    result = Pointers.nowhere(n)
    result.frame[direct] = j
    result.x[direct] = qx[direct]
    result.y[direct] = qy[direct]
    result.distance[direct] = 1
    result.mismatch[direct] = mismatch[direct]
    taken = np.flatnonzero(inherits)
    taken = taken[previous.frame[index[taken]] >= 0]
    source = index[taken]
    result.frame[taken] = previous.frame[source]
    result.x[taken] = previous.x[source] + offset_x[taken]
    result.y[taken] = previous.y[source] + offset_y[taken]
    result.distance[taken] = previous.distance[source] + 1
    result.mismatch[taken] = np.maximum(previous.mismatch[source], mismatch[taken])
    return result


def _continue(
    pointers: Pointers,
    rows: np.ndarray,
    qx: np.ndarray,
    qy: np.ndarray,
    mismatch: np.ndarray,
    j: int,
    towards: int,
    flows: NeighbourFlows,
    sources: Sequence[Pointers | None],
    regions: _RegionIndex,
) -> None:
    """Follow the path of rows whose nearest pixel's chain found nothing a few hops on,
    from where it really is, q in frame j (in place).

    The nearest pixel's path is not this one's: under slow motion every hop rounds to the
    same pixel, and a static hole over a 0.3 px a frame pan then found nothing at all,
    though each point's own path leaves the hole after (distance to its edge) / 0.3
    frames. A few hops of the point itself, taking over a pixel's chain wherever the point
    lands inside the region, reach the frame where it shows.
    """
    w = regions.width
    h = regions.plane // w
    count = len(sources)
    qx, qy, worst = qx[rows], qy[rows], mismatch[rows]
    for hop_count in range(2, EXTRA_HOPS + 2):
        f = j + towards * (hop_count - 1)
        if not rows.size or not 0 <= f < count:
            return
        pair = min(f, f - towards)
        hop = flows.forward[pair] if towards > 0 else flows.backward[pair]
        back = flows.backward[pair] if towards > 0 else flows.forward[pair]
        # q is in frame f - towards; one more hop along its own flow, into frame f.
        step = flows.sample(hop, qx, qy)
        # float32, as pointers store them: the rounding below must be the one readers see.
        nx = (qx + step[:, 0]).astype(np.float32)
        ny = (qy + step[:, 1]).astype(np.float32)
        inside = (nx > -0.5) & (nx < w - 0.5) & (ny > -0.5) & (ny < h - 0.5)
        rx = np.rint(nx.clip(0, w - 1)).astype(np.int64)
        ry = np.rint(ny.clip(0, h - 1)).astype(np.int64)
        returned = flows.sample(back, rx, ry)
        worst = np.maximum(
            worst, np.hypot(step[:, 0] + returned[:, 0], step[:, 1] + returned[:, 1])
        )
        in_region, at = regions.find(np.full(rows.size, f), rx, ry)
        shows = inside & ~in_region
        # Shown in frame f: that is the source.
        done = rows[shows]
        pointers.frame[done] = f
        pointers.x[done] = nx[shows]
        pointers.y[done] = ny[shows]
        pointers.distance[done] = hop_count
        pointers.mismatch[done] = worst[shows]
        # Inside frame f's region: take over that pixel's chain, if it found anything.
        inherit = inside & in_region
        there = sources[f]
        taken = np.flatnonzero(inherit)
        taken = taken[there.frame[at[taken]] >= 0]
        if taken.size:
            candidate = Pointers(
                there.frame[at[taken]].copy(),
                there.x[at[taken]] + (nx[taken] - rx[taken]),
                there.y[at[taken]] + (ny[taken] - ry[taken]),
                there.distance[at[taken]] + hop_count,
                np.maximum(there.mismatch[at[taken]], worst[taken]),
            )
            _settle(candidate, sources, regions)
            got = candidate.found
            target = rows[taken[got]]
            for mine, theirs in (
                (pointers.frame, candidate.frame),
                (pointers.x, candidate.x),
                (pointers.y, candidate.y),
                (pointers.distance, candidate.distance),
                (pointers.mismatch, candidate.mismatch),
            ):
                mine[target] = theirs[got]
        go_on = inherit & (pointers.frame[rows] < 0)
        rows, qx, qy, worst = rows[go_on], nx[go_on], ny[go_on], worst[go_on]


class _RegionIndex:
    """Every frame's region pixels as one sorted array of (frame, row, column) offsets,
    so one binary search tells, for points in any frames, which are region pixels and
    their index in that frame's RegionPixels (which are in row-major order)."""

    def __init__(self, pixels: Sequence[RegionPixels], shape: tuple[int, int]):
        h, w = shape
        self.width, self.plane = w, h * w
        sizes = np.array([len(here) for here in pixels], np.int64)
        self.starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        self.keys = np.concatenate(
            [
                f * self.plane + here.ys.astype(np.int64) * w + here.xs
                for f, here in enumerate(pixels)
            ]
            or [np.zeros(0, np.int64)]
        )

    def find(self, frames: np.ndarray, xs: np.ndarray, ys: np.ndarray):
        """(inside, index) for points (rounded to pixels) in the given frames; points past
        the crop's edge count as its edge pixels, as sampling clamps them."""
        xs = xs.clip(0, self.width - 1)
        ys = ys.clip(0, self.plane // self.width - 1)
        keys = frames.astype(np.int64) * self.plane + ys * self.width + xs
        if not self.keys.size:
            return np.zeros(keys.size, bool), np.zeros(keys.size, np.int64)
        at = np.searchsorted(self.keys, keys).clip(0, self.keys.size - 1)
        return self.keys[at] == keys, at - self.starts[frames]


def _settle(pointers: Pointers, sources: Sequence[Pointers | None], regions: _RegionIndex) -> None:
    """Move inherited pointers that land inside their frame's region to where that
    frame's own pointer there leads (in place).

    A pixel takes over the pointer of the pixel its flow lands nearest to, plus the
    sub-pixel offset, so the position follows its own path; but whether that path leaves
    the region was decided for the other pixel's path. Under slow motion the offsets
    add up: at 0.45 px a frame every hop rounds to the same pixel, and after 18 frames the
    pointer sits 8 px inside the region of the frame it names, on the artefact itself (a
    wire fixed to a zooming scene was copied along instead of removed). Following that
    frame's pointer from where the path really lands puts the decision back on the path.
    """
    rows = np.flatnonzero(pointers.distance > 1)  # direct landings are outside already
    for _ in range(len(sources)):  # each jump goes at least one frame further
        rows = rows[pointers.frame[rows] >= 0]
        if not rows.size:
            return
        rx = np.rint(pointers.x[rows]).astype(np.int64)
        ry = np.rint(pointers.y[rows]).astype(np.int64)
        frames = pointers.frame[rows]
        inside, index = regions.find(frames, rx, ry)
        if not inside.any():
            return
        rows, rx, ry, frames, index = (a[inside] for a in (rows, rx, ry, frames, index))
        for f in np.unique(frames):
            of_f = frames == f
            sel, at, there = rows[of_f], index[of_f], sources[f]
            pointers.frame[sel] = there.frame[at]
            pointers.x[sel] = there.x[at] + (pointers.x[sel] - rx[of_f])
            pointers.y[sel] = there.y[at] + (pointers.y[sel] - ry[of_f])
            pointers.distance[sel] += there.distance[at]
            pointers.mismatch[sel] = np.maximum(pointers.mismatch[sel], there.mismatch[at])
        lost = rows[pointers.frame[rows] < 0]  # that frame's pixel saw nothing either
        pointers.x[lost] = pointers.y[lost] = 0.0
        pointers.distance[lost] = 0
        pointers.mismatch[lost] = 0.0


def sample_sources(frames: Sequence[np.ndarray], pointers: Pointers) -> np.ndarray:
    """Colours (n, 3) float32 at the pointers' positions; rows without a source are 0."""
    values = np.zeros((pointers.frame.size, frames[0].shape[2]), np.float32)
    for source in np.unique(pointers.frame[pointers.found]):
        rows = np.flatnonzero(pointers.frame == source)
        values[rows] = bilinear(frames[source], pointers.x[rows], pointers.y[rows])
    return values


def chain_reliability(pointers: Pointers, mismatch_scale: float = MISMATCH_SCALE) -> np.ndarray:
    """1 / (distance * (1 + (mismatch / mismatch_scale)^2)) for each pointer: near in time
    and consistent chains weigh more (whether anything was found is not looked at)."""
    distance = np.maximum(pointers.distance, 1).astype(np.float32)
    return 1.0 / (distance * (1.0 + (pointers.mismatch / mismatch_scale) ** 2))


def source_weight(pointers: Pointers) -> np.ndarray:
    """Reliability of each source (`chain_reliability`); 0 if none or if its chain
    disagrees by more than MAX_MISMATCH."""
    trusted = pointers.found & (pointers.mismatch <= MAX_MISMATCH)
    return np.where(trusted, chain_reliability(pointers), 0.0).astype(np.float32)


@dataclass(frozen=True)
class Propagated:
    """Result of propagation for one frame's region pixels."""

    pixels: RegionPixels
    values: np.ndarray  # (n, 3) float32 colour where `seen`, 0 elsewhere
    seen: np.ndarray  # (n,) bool: some frame shows this point
    rejected: np.ndarray  # (n,) bool: sources were found, but none could be trusted
    previous_key: Pointers  # position in the nearest key frame before (or at -1: none)
    next_key: Pointers
    # (n,) int32: where `values` came from the shot-wide pull (shot_pull.py), the distance
    # in frames to the frame read (> 0), 0 elsewhere; None: nowhere
    pulled: np.ndarray | None = None
    # (n,) int32: frames to the nearest trusted source (0: none); None: not measured
    reach: np.ndarray | None = None


def propagate(
    frames: Sequence[np.ndarray],
    regions: np.ndarray,
    flows: NeighbourFlows,
    is_key: Sequence[bool],
) -> list[Propagated]:
    """Fill each frame's region pixels with real content from the nearest frames showing it.

    frames: T crops (H x W x 3, uint8 or uint16); regions: (T, H, W) bool, True where a
    frame's own pixel must not be used as a source; flows: completed flows of the crops.
    """
    shape = regions.shape[1:]
    pixels = [RegionPixels.of(region) for region in regions]
    past = trace(pixels, shape, flows, -1, is_key)
    future = trace(pixels, shape, flows, +1, is_key)
    result = []
    for k, here in enumerate(pixels):
        weight_past = source_weight(past.sources[k])
        weight_future = source_weight(future.sources[k])
        total = weight_past + weight_future
        values = np.zeros((len(here), frames[k].shape[2]), np.float32)
        if past.sources[k].found.any():
            values += weight_past[:, None] * sample_sources(frames, past.sources[k])
        if future.sources[k].found.any():
            values += weight_future[:, None] * sample_sources(frames, future.sources[k])
        seen = total > 0
        values[seen] /= total[seen, None]
        rejected = ~seen & (past.sources[k].found | future.sources[k].found)
        reach = np.minimum(
            np.where(weight_past > 0, past.sources[k].distance, 1 << 30),
            np.where(weight_future > 0, future.sources[k].distance, 1 << 30),
        )
        reach = np.where(seen, reach, 0).astype(np.int32)
        result.append(
            Propagated(here, values, seen, rejected, past.keys[k], future.keys[k], reach=reach)
        )
    return result


def smooth_in_time(
    filled: Sequence[np.ndarray],
    holes: np.ndarray,
    flows: NeighbourFlows,
    passes: int = 2,
    self_weight: float = 0.5,
    colour_scale: float | None = None,
) -> list[np.ndarray]:
    """Average each filled hole pixel with the same point in the neighbouring frames.

    The point is followed along the completed flow; self_weight stays on the pixel and the
    rest is shared by the previous and next frames, `passes` times (two passes reach two
    frames each way). Errors of a fill differ from frame to frame (each frame reads
    other frames' noise); averaging along the motion makes them agree, which is what the
    eye sees as flicker.

    colour_scale: if given, a neighbour's share is scaled by exp(-d^2 / (2 colour_scale^2)),
    d the RGB distance (8-bit levels) between its colour and the pixel's: where the flow
    lands on another surface (a motion edge the flow misses), the colours differ and the
    two are not mixed.
    """
    count = len(filled)
    share = (1.0 - self_weight) / 2
    top = np.iinfo(filled[0].dtype).max
    # RGB distances are measured in 8-bit levels whatever the image depth.
    level = top / 255.0
    # Where each hole pixel lands in the previous and next frames, found once.
    targets = []
    for k in range(count):
        ys, xs = np.nonzero(holes[k])
        landings = []
        if k > 0:
            step = flows.sample(flows.backward[k - 1], xs, ys)
            landings.append((k - 1, xs + step[:, 0], ys + step[:, 1]))
        if k + 1 < count:
            step = flows.sample(flows.forward[k], xs, ys)
            landings.append((k + 1, xs + step[:, 0], ys + step[:, 1]))
        targets.append((ys, xs, landings))
    for _ in range(passes):
        result = []
        for k, (ys, xs, landings) in enumerate(targets):
            own = filled[k][ys, xs].astype(np.float32)
            total = self_weight * own
            weight = np.full((ys.size, 1), self_weight, np.float32)
            for j, x, y in landings:
                other = bilinear(filled[j], x, y)
                if colour_scale is None:
                    other_weight = np.full((ys.size, 1), share, np.float32)
                else:
                    distance = (((other - own) / level) ** 2).sum(axis=1, keepdims=True)
                    other_weight = share * np.exp(distance / (-2.0 * colour_scale**2))
                total += other_weight * other
                weight += other_weight
            image = filled[k].copy()
            image[ys, xs] = np.clip(np.rint(total / weight), 0, top).astype(image.dtype)
            result.append(image)
        filled = result
    return list(filled)
