"""Camera motion over a shot, from features outside the masks.

The first streaming pass of shot analysis (DESIGN.md, issue 14): for every frame of a shot,
one global motion model (a homography, or a similarity where that is safer) that maps the
shot's first frame onto it, so that any frame t can be aligned to any frame u of the same
shot, however far apart, and a confidence that says whether one global motion explains
the pair at all (a static or panning camera over a distant scene: yes; strong parallax, a
walking person filling the frame, a cut that was not passed in: no; callers then fall back
to dense local flow).

Convention (the one the flow fields use): `transform(t, u)` is a 3 x 3 matrix H in full-
resolution pixel coordinates (pixel centres at integer positions) such that the scene point
seen at (x, y) in frame t is seen at H @ (x, y, 1) (divided by its last component) in frame
u. `transform(u, t)` is its inverse.

How it is computed, per frame t, on a downscaled luma (long side <= `work_side`, the model
is scaled back to full resolution):
  1. corners (`cv2.goodFeaturesToTrack`) away from the frame border and the dilated masks;
  2. pair t-1 -> t: pyramidal Lucas-Kanade from frame t-1's corners, started from the
     previous pair's motion, kept where the forward-backward check agrees and the point
     lands outside frame t's masks; a similarity by RANSAC, or a homography (RANSAC) where
     there are enough points and it explains them clearly better without degenerating
     (its perspective terms extrapolate badly into the corners otherwise), both polished
     by least squares on their inliers; the inliers' share of the frame's area, their
     count and median error give the pair's confidence and `is_global` flag;
  3. drift correction: frame t is also registered directly against its anchor (a recent
     key frame, one every `anchor_interval` frames or sooner when overlap falls), and each
     new anchor against the reference anchor with the fewest links to the shot's first
     frame that still overlaps it (right after an anchor, the anchor before it stands in).
     Links start from the chained prediction; when it deforms patches, the reference is
     first warped by it so that Lucas-Kanade only finds a small residual.
     A frame's position is the best of these links; the links form a tree rooted at the
     shot's first frame, so t -> u composes only the links on the tree path between them
     (a static camera links every anchor to the first frame: no drift at any length).

Memory: per frame a few matrices and numbers; work-resolution images only for the current
frame, the current anchor and at most `max_references` reference anchors.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field

import cv2
import numpy as np

MODELS = ("homography", "similarity", "none")


@dataclass(frozen=True)
class CameraMotionConfig:
    """Settings of the camera-motion pass. Pixel sizes are at the working resolution."""

    # Work on a luma downscaled so that its long side is at most this (bounds the cost at
    # 720p, 4K and up; features are subpixel, so halving 720p costs little precision).
    work_side: int = 640
    # Corners per frame, their minimum spacing and relative quality (goodFeaturesToTrack).
    max_features: int = 300
    min_distance: int = 8
    quality_level: float = 0.005
    # Lucas-Kanade window (odd) and pyramid levels: 3 levels of a 15 px window follow about
    # 60 px of motion left unexplained by the prediction.
    lk_window: int = 15
    lk_levels: int = 3
    # Lucas-Kanade stops after this many iterations or a step below epsilon (px).
    lk_iterations: int = 20
    lk_epsilon: float = 0.03
    # Levels for direct links to anchors, which start from the chained prediction: the
    # residual is small, and fewer levels cost less.
    link_levels: int = 1
    # Whether direct links are checked by tracking back too (pairs always are): the link
    # starts from the chained prediction, and RANSAC at a tight threshold takes out what
    # the check would; without it a frame costs three LK calls instead of four.
    link_backward: bool = False
    # A track is kept when tracking it back lands within this of where it started.
    fb_threshold: float = 0.7
    # Corners this close to the frame border are not used (letterbox edges, warping seams,
    # LK windows sticking out of the frame).
    border: int = 10
    # Masks are dilated by this before corners are taken: an LK window that overlaps the
    # artefact follows the artefact. None: half the LK window plus 2.
    mask_margin: int | None = None
    # RANSAC inlier threshold (px) for both models.
    # (LK on clean texture is good to ~0.1 px; at 1 px a homography bends to take in part
    # of a rigid moving object with the background.)
    ransac_threshold: float = 0.5
    # The inliers' median error counts against confidence relative to this (px).
    error_scale: float = 1.0
    # Fewer tracked points than this: a similarity instead of a homography; fewer inliers
    # than `min_inliers`: no model.
    min_homography_points: int = 24
    # A homography is kept only when its truncated squared error is below this share of
    # the similarity's.
    homography_gain: float = 0.8
    min_inliers: int = 8
    # Confidence terms: the inlier share of the frame (over a grid of cells) mapped from
    # [low, high] to [0, 1]; inlier count reaching `full_inliers` counts fully; the
    # inliers' median error against the RANSAC threshold.
    inlier_fraction_low: float = 0.5
    inlier_fraction_high: float = 0.9
    full_inliers: int = 60
    coverage_grid: int = 6
    # A pair whose confidence reaches this is explained by one global motion.
    global_confidence: float = 0.5
    # A new anchor every this many frames (0: no drift correction, pairs chained only),
    # or sooner when the predicted overlap with the current anchor falls below
    # `anchor_overlap`.
    anchor_interval: int = 10
    anchor_overlap: float = 0.75
    # Reference anchors kept (work-resolution luma each) and the predicted overlap a
    # reference needs to be tried for a direct link.
    max_references: int = 8
    reference_overlap: float = 0.5
    # Predicted rotation (degrees) or scale change (fraction) above which the reference is
    # warped by the prediction before tracking (LK follows translations of whole patches).
    warp_rotation: float = 2.0
    warp_scale: float = 0.03


@dataclass(frozen=True)
class PairFit:
    """How well one global model explains the motion between two frames."""

    model: str  # one of MODELS
    confidence: float  # 0..1
    is_global: bool
    inlier_fraction: float  # inliers over forward-backward-consistent tracks
    coverage: float  # the same, averaged over a grid of cells (a share of the frame)
    median_error: float  # median reprojection error of the inliers, full-resolution px
    inliers: int
    tracked: int


NO_FIT = PairFit("none", 0.0, False, 0.0, 0.0, float("nan"), 0, 0)


@dataclass
class CameraMotion:
    """Per-shot camera motion: frames `first_frame` .. `first_frame + count - 1`.

    `positions[i]` maps the root of frame i's tree (the shot's first frame, or the first
    frame after a registration failure) onto frame i; `parents[i]` is the frame index
    (absolute) it was registered against, -1 for a root; `link_confidence[i]` that link's
    confidence; `pairs[i]` the fit between frames i and i + 1 (NO_FIT across a cut).
    """

    first_frame: int
    frame_size: tuple[int, int]  # (width, height), full resolution
    cuts: tuple[int, ...]  # absolute frame numbers that start a new shot
    positions: np.ndarray  # (count, 3, 3) float64
    parents: np.ndarray  # (count,) int64
    link_confidence: np.ndarray  # (count,) float64
    pairs: list[PairFit] = field(default_factory=list)
    global_confidence: float = CameraMotionConfig.global_confidence

    @property
    def count(self) -> int:
        return len(self.parents)

    def shot_of(self, t: int) -> int:
        """The first frame of the shot frame t belongs to."""
        self._check(t)
        starts = [self.first_frame, *(c for c in self.cuts if c <= t)]
        return max(starts)

    def transform(self, t: int, u: int) -> np.ndarray | None:
        """The 3 x 3 matrix taking frame t's pixel coordinates to frame u's, or None where
        no chain of registrations connects them (another shot, a failed registration)."""
        if self._root(t) != self._root(u):
            return None
        h = self.positions[u - self.first_frame] @ np.linalg.inv(
            self.positions[t - self.first_frame]
        )
        return h / h[2, 2]

    def confidence(self, t: int, u: int) -> float:
        """The weakest link on the path from t to u (1 for t == u, 0 when unconnected)."""
        if self._root(t) != self._root(u):
            return 0.0
        return min((self.link_confidence[i] for i in self._path(t, u)), default=1.0)

    def is_global(self, t: int, u: int, threshold: float | None = None) -> bool:
        """Whether one global motion explains t -> u (every link on the path does)."""
        least = self.global_confidence if threshold is None else threshold
        return self.confidence(t, u) >= least

    def pair(self, t: int) -> PairFit:
        """The direct fit between frames t and t + 1."""
        self._check(t)
        self._check(t + 1)
        return self.pairs[t - self.first_frame]

    def to_dict(self) -> dict:
        """JSON-ready (a per-shot sidecar)."""
        return {
            "first_frame": self.first_frame,
            "frame_size": list(self.frame_size),
            "cuts": list(self.cuts),
            "positions": self.positions.tolist(),
            "parents": self.parents.tolist(),
            "link_confidence": self.link_confidence.tolist(),
            # strict JSON has no NaN: a pair without inliers has no median error
            "pairs": [
                {
                    **asdict(p),
                    "median_error": None if p.median_error != p.median_error else p.median_error,
                }
                for p in self.pairs
            ],
            "global_confidence": self.global_confidence,
        }

    @classmethod
    def from_dict(cls, data: dict) -> CameraMotion:
        return cls(
            first_frame=int(data["first_frame"]),
            frame_size=tuple(data["frame_size"]),
            cuts=tuple(data["cuts"]),
            positions=np.asarray(data["positions"], dtype=np.float64).reshape(-1, 3, 3),
            parents=np.asarray(data["parents"], dtype=np.int64),
            link_confidence=np.asarray(data["link_confidence"], dtype=np.float64),
            pairs=[
                PairFit(
                    **{
                        **p,
                        "median_error": float("nan")
                        if p["median_error"] is None
                        else p["median_error"],
                    }
                )
                for p in data["pairs"]
            ],
            global_confidence=float(data["global_confidence"]),
        )

    def _check(self, t: int) -> None:
        if not self.first_frame <= t < self.first_frame + self.count:
            raise IndexError(
                f"frame {t} is outside {self.first_frame}..{self.first_frame + self.count - 1}"
            )

    def _ancestors(self, t: int) -> list[int]:
        self._check(t)
        chain = [t]
        while self.parents[chain[-1] - self.first_frame] >= 0:
            chain.append(int(self.parents[chain[-1] - self.first_frame]))
        return chain

    def _root(self, t: int) -> int:
        return self._ancestors(t)[-1]

    def _path(self, t: int, u: int) -> list[int]:
        """Local indices of the frames whose link (to their parent) lies on the t-u path."""
        up_t, up_u = self._ancestors(t), self._ancestors(u)
        common = set(up_t) & set(up_u)
        below = [f for f in up_t if f not in common] + [f for f in up_u if f not in common]
        return [f - self.first_frame for f in below]


def estimate_camera_motion(
    frames: Iterable[np.ndarray],
    masks: Iterable[np.ndarray | None] | None = None,
    cuts: Iterable[int] = (),
    first_frame: int = 0,
    config: CameraMotionConfig | None = None,
) -> CameraMotion:
    """Camera motion of every frame, streaming.

    frames: H x W luma or H x W x 3 RGB images (uint8, uint16 or float in 0..1), consumed
    one at a time; masks: per frame an H x W array, non-zero where an artefact is (excluded
    from estimation), or None; cuts: absolute frame numbers that start a new shot (as
    `temporal.cuts.find_cuts` reports them, offset to absolute numbers); first_frame: the
    absolute number of the first frame.
    """
    estimator = CameraMotionEstimator(cuts=cuts, first_frame=first_frame, config=config)
    mask_iter: Iterator[np.ndarray | None] = iter(masks) if masks is not None else _nones()
    for frame in frames:
        estimator.add(frame, next(mask_iter, None))
    return estimator.result()


def _nones() -> Iterator[None]:
    while True:
        yield None


@dataclass
class _Frame:
    index: int  # absolute
    gray: np.ndarray  # work resolution, uint8
    valid: np.ndarray  # uint8 0/255: outside the border and the dilated masks
    corners: np.ndarray  # (n, 1, 2) float32 work coordinates


@dataclass
class _Reference:
    frame: _Frame
    depth: int  # links to the root


class CameraMotionEstimator:
    """The streaming form: `add(frame, mask)` per frame in order, then `result()`."""

    def __init__(
        self,
        cuts: Iterable[int] = (),
        first_frame: int = 0,
        config: CameraMotionConfig | None = None,
    ) -> None:
        self.config = config or CameraMotionConfig()
        self.cuts = tuple(sorted(set(int(c) for c in cuts)))
        self.first_frame = first_frame
        self._next = first_frame
        self._size: tuple[int, int] | None = None
        self._work_size: tuple[int, int] | None = None
        self._scale: np.ndarray | None = None  # full -> work coordinates
        self._positions: list[np.ndarray] = []  # full resolution
        self._parents: list[int] = []
        self._depths: list[int] = []
        self._link_confidence: list[float] = []
        self._pairs: list[PairFit] = []
        self._previous: _Frame | None = None
        self._pair_motion = np.eye(3)  # last pair's motion, work coordinates
        self._anchor: _Reference | None = None
        self._references: list[_Reference] = []
        margin = self.config.mask_margin
        self._margin = self.config.lk_window // 2 + 2 if margin is None else margin
        half = self.config.lk_window // 2
        self._lk = {
            "winSize": (half * 2 + 1, half * 2 + 1),
            "maxLevel": self.config.lk_levels,
            "criteria": (
                cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS,
                self.config.lk_iterations,
                self.config.lk_epsilon,
            ),
        }

    # -- public ---------------------------------------------------------------------------

    def add(self, frame: np.ndarray, mask: np.ndarray | None = None) -> None:
        index = self._next
        self._next += 1
        current = self._prepare(index, frame, mask)
        new_shot = self._previous is None or index in self.cuts
        if new_shot:
            self._references = []
            self._anchor = None
            if self._previous is not None:
                self._pairs.append(NO_FIT)  # never compose across a cut
            self._add_root(current)
        else:
            self._register(current)
        self._previous = current

    def result(self) -> CameraMotion:
        if self._size is None:
            raise ValueError("no frames were given")
        return CameraMotion(
            first_frame=self.first_frame,
            frame_size=self._size,
            cuts=self.cuts,
            positions=np.array(self._positions, dtype=np.float64).reshape(-1, 3, 3),
            parents=np.array(self._parents, dtype=np.int64),
            link_confidence=np.array(self._link_confidence, dtype=np.float64),
            pairs=list(self._pairs),
            global_confidence=self.config.global_confidence,
        )

    # -- per frame ------------------------------------------------------------------------

    def _prepare(self, index: int, frame: np.ndarray, mask: np.ndarray | None) -> _Frame:
        frame = np.asarray(frame)
        height, width = frame.shape[:2]
        if self._size is None:
            self._set_size(width, height)
        elif (width, height) != self._size:
            raise ValueError(f"frame {index} is {width}x{height}, earlier frames {self._size}")
        gray = _luma8(frame)
        work_w, work_h = self._work_size
        if (work_w, work_h) != (width, height):
            gray = cv2.resize(gray, (work_w, work_h), interpolation=cv2.INTER_AREA)
        valid = np.zeros((work_h, work_w), np.uint8)
        b = self.config.border
        valid[b : work_h - b, b : work_w - b] = 255
        if mask is not None:
            hole = np.asarray(mask)
            if hole.ndim == 3:
                hole = hole.any(axis=2)
            hole = (hole != 0).astype(np.float32)
            if hole.any():
                # any coverage of a work pixel counts, then the margin around it
                hole = cv2.resize(hole, (work_w, work_h), interpolation=cv2.INTER_AREA) > 0
                if self._margin > 0:
                    size = 2 * self._margin + 1
                    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))
                    hole = cv2.dilate(hole.astype(np.uint8), kernel) > 0
                valid[hole] = 0
        return _Frame(index, gray, valid, self._corners(gray, valid))

    def _set_size(self, width: int, height: int) -> None:
        self._size = (width, height)
        side = self.config.work_side
        factor = min(1.0, side / max(width, height))
        work = (max(16, round(width * factor)), max(16, round(height * factor)))
        self._work_size = work
        sx, sy = work[0] / width, work[1] / height
        # pixel centres: x_work = (x + 0.5) * sx - 0.5 (what INTER_AREA resizing does)
        self._scale = np.array([[sx, 0, 0.5 * sx - 0.5], [0, sy, 0.5 * sy - 0.5], [0, 0, 1]])

    def _add_root(self, current: _Frame) -> None:
        self._append(np.eye(3), -1, 1.0, 0)
        self._make_anchor(current, 0)

    def _register(self, current: _Frame) -> None:
        previous = self._previous
        local_prev = previous.index - self.first_frame
        work_prev = self._to_work(self._positions[local_prev])
        # 1. the pair, predicted by the last pair's motion (constant velocity)
        levels = self.config.lk_levels
        pair_h, pair = self._fit(previous, current, self._pair_motion, levels, True)
        if pair_h is None and not np.allclose(self._pair_motion, np.eye(3)):
            pair_h, pair = self._fit(previous, current, np.eye(3), levels, True)
        self._pairs.append(pair)
        if pair_h is not None:
            self._pair_motion = pair_h
        predicted = self._pair_motion @ work_prev  # root -> current, work coordinates
        # Candidate links: (parent index, parent depth, root -> current, confidence)
        candidates: list[tuple[int, int, np.ndarray, float]] = []
        if pair_h is not None:
            candidates.append(
                (previous.index, self._depths[local_prev], pair_h @ work_prev, pair.confidence)
            )
        interval = self.config.anchor_interval
        anchor = self._anchor
        # 2. the direct link to the anchor; right after an anchor that is the pair itself,
        # so the anchor before it (a pair's similarity misses the slow perspective change
        # that a link over several frames sees)
        target = anchor
        if anchor is not None and anchor.frame.index == previous.index:
            earlier = [r for r in self._references if r.frame.index < anchor.frame.index]
            target = earlier[-1] if earlier else None
        if interval > 0 and target is not None:
            link = self._link(target, current, predicted)
            if link is not None:
                candidates.append(link)
        due = (
            interval > 0
            and anchor is not None
            and (
                current.index - anchor.frame.index >= interval
                or self._overlap(predicted @ np.linalg.inv(self._work_of(anchor)))
                < self.config.anchor_overlap
            )
        )
        if due:
            # 3. a new anchor: link it directly to the reference nearest the root that
            # still overlaps it, before settling for the current anchor's link
            for reference in self._reference_order(predicted):
                if reference is anchor or reference.frame.index == previous.index:
                    continue
                link = self._link(reference, current, predicted)
                if link is not None and link[3] >= self.config.global_confidence:
                    candidates.append(link)
                    break
        if not candidates:
            # nothing registers: a new root (transforms to earlier frames are unknown)
            self._append(np.eye(3), -1, 0.0, 0)
            self._make_anchor(current, 0)
            self._pair_motion = np.eye(3)
            return
        parent, depth, position, confidence = self._choose(candidates)
        self._append(self._to_full(position), parent, confidence, depth + 1)
        if interval > 0 and (due or anchor is None) and confidence >= self.config.global_confidence:
            self._make_anchor(current, depth + 1)

    def _choose(self, candidates):
        """The link to keep: among the confident ones the shallowest (least drift), ties to
        the most confident; otherwise the most confident."""
        least = self.config.global_confidence
        good = [c for c in candidates if c[3] >= least]
        if good:
            return min(good, key=lambda c: (c[1], -c[3]))
        return max(candidates, key=lambda c: c[3])

    def _link(self, reference: _Reference, current: _Frame, predicted: np.ndarray):
        """Register current against a reference frame directly, started from the predicted
        root -> current motion. None where it fails."""
        ref_work = self._work_of(reference)
        guess = predicted @ np.linalg.inv(ref_work)  # reference -> current
        if self._overlap(guess) < self.config.reference_overlap:
            return None
        h, fit = self._fit(
            reference.frame, current, guess, self.config.link_levels, self.config.link_backward
        )
        if h is None:
            return None
        return (reference.frame.index, reference.depth, h @ ref_work, fit.confidence)

    def _reference_order(self, predicted: np.ndarray) -> list[_Reference]:
        """References nearest the root first, then oldest."""
        return sorted(self._references, key=lambda r: (r.depth, r.frame.index))

    def _make_anchor(self, current: _Frame, depth: int) -> None:
        reference = _Reference(current, depth)
        self._anchor = reference
        if self.config.anchor_interval <= 0:
            return
        position = self._work_of(reference)
        kept = []
        for old in self._references:
            # a reference the camera has left behind is never linked to again
            if self._overlap(position @ np.linalg.inv(self._work_of(old))) >= (
                self.config.reference_overlap
            ):
                kept.append(old)
        kept.append(reference)
        while len(kept) > self.config.max_references:
            kept.pop(1)  # keep the root-most one for long links
        self._references = kept

    # -- fitting --------------------------------------------------------------------------

    def _fit(self, source: _Frame, target: _Frame, guess: np.ndarray, levels: int, backward: bool):
        """Track source's corners into target starting from `guess` (work coordinates,
        source -> target) with `levels` pyramid levels above the image, checked by tracking
        back if `backward`, and fit a global model. Returns (H or None, PairFit)."""
        lk = {**self._lk, "maxLevel": levels}
        if self._deforms(guess):
            # LK follows patches that translate: take the residual after warping the source
            # by the guess, from corners found in the warped source
            size = self._work_size
            warped = cv2.warpPerspective(source.gray, guess, size, flags=cv2.INTER_LINEAR)
            valid = cv2.warpPerspective(source.valid, guess, size, flags=cv2.INTER_NEAREST)
            valid = cv2.erode(valid, np.ones((3, 3), np.uint8))
            valid &= target.valid
            points = self._corners(warped, valid)
            image = warped
            start_h, compose = np.eye(3), guess  # warped -> target is the residual
        else:
            points = source.corners
            image = source.gray
            start_h, compose = guess, np.eye(3)
        if len(points) < self.config.min_inliers:
            return None, NO_FIT
        start = cv2.perspectiveTransform(points, start_h).astype(np.float32)
        tracked, status, _ = cv2.calcOpticalFlowPyrLK(
            image,
            target.gray,
            points,
            start.copy(),
            flags=cv2.OPTFLOW_USE_INITIAL_FLOW,
            **lk,
        )
        ok = status[:, 0] == 1
        if backward:
            back, status_back, _ = cv2.calcOpticalFlowPyrLK(
                target.gray,
                image,
                tracked,
                points.copy(),
                flags=cv2.OPTFLOW_USE_INITIAL_FLOW,
                # started where a good track came from, the way back needs no coarse levels
                **{**lk, "maxLevel": min(levels, 1)},
            )
            ok &= status_back[:, 0] == 1
            ok &= np.linalg.norm((back - points)[:, 0], axis=1) < self.config.fb_threshold
        xy = np.rint(tracked[:, 0]).astype(int)
        h_work, w_work = target.valid.shape
        inside = (xy[:, 0] >= 0) & (xy[:, 0] < w_work) & (xy[:, 1] >= 0) & (xy[:, 1] < h_work)
        ok &= inside
        ok[inside] &= target.valid[xy[inside, 1], xy[inside, 0]] > 0  # lands off the masks
        src, dst = points[ok, 0].astype(np.float64), tracked[ok, 0].astype(np.float64)
        model, h = self._model(src, dst)
        if h is None:
            return None, NO_FIT
        fit = self._assess(model, h, src, dst)
        if fit.inliers < self.config.min_inliers:
            return None, fit
        return h @ compose, fit

    def _model(self, src: np.ndarray, dst: np.ndarray) -> tuple[str, np.ndarray | None]:
        cfg = self.config
        if len(src) < cfg.min_inliers:
            return "none", None
        a, _ = cv2.estimateAffinePartial2D(
            src,
            dst,
            method=cv2.RANSAC,
            ransacReprojThreshold=cfg.ransac_threshold,
            maxIters=2000,
            refineIters=10,
        )
        similarity = None
        if a is not None:
            similarity = self._polish(np.vstack([a, [0.0, 0.0, 1.0]]), src, dst, _similarity)
        if len(src) >= cfg.min_homography_points:
            h, _ = cv2.findHomography(src, dst, cv2.RANSAC, cfg.ransac_threshold, maxIters=2000)
            if h is not None:
                h = self._polish(h / h[2, 2], src, dst, _homography)
            if h is not None and not self._degenerate(h):
                # The homography's perspective terms extrapolate badly beyond the inliers
                # (the frame's corners, under a mask): take it only where it explains the
                # points clearly better than the similarity does (truncated squared error).
                if similarity is None or self._score(h, src, dst) < cfg.homography_gain * (
                    self._score(similarity, src, dst)
                ):
                    return "homography", h
        if similarity is None:
            return "none", None
        return "similarity", similarity

    def _polish(self, h: np.ndarray, src: np.ndarray, dst: np.ndarray, fit) -> np.ndarray:
        """Least squares on the inliers, then on the inliers of a tighter threshold: RANSAC
        keeps the first model that collects the most points within its threshold, which
        can sit a few tenths of a pixel off."""
        for threshold in (self.config.ransac_threshold, 0.5 * self.config.ransac_threshold):
            projected = cv2.perspectiveTransform(src[:, None], h)[:, 0]
            inlier = np.linalg.norm(projected - dst, axis=1) < threshold
            if inlier.sum() < self.config.min_inliers:
                break
            refit = fit(src[inlier], dst[inlier])
            if refit is None:
                break
            h = refit
        return h

    def _score(self, h: np.ndarray, src: np.ndarray, dst: np.ndarray) -> float:
        projected = cv2.perspectiveTransform(src[:, None], h)[:, 0]
        squared = ((projected - dst) ** 2).sum(axis=1)
        return float(np.minimum(squared, self.config.ransac_threshold**2).sum())

    def _degenerate(self, h: np.ndarray) -> bool:
        """A homography that folds, flips or blows the frame up is a bad fit (few points on
        a line, or on one small patch), not a camera motion between two frames."""
        w, hgt = self._work_size
        corners = np.array([[[0, 0]], [[w, 0]], [[w, hgt]], [[0, hgt]]], np.float64)
        warped = cv2.perspectiveTransform(corners, h)[:, 0]
        denominators = corners[:, 0] @ h[2, :2] + h[2, 2]
        if np.any(denominators <= 0.1):
            return True
        area = cv2.contourArea(warped.astype(np.float32)) / (w * hgt)
        return not (0.25 < area < 4.0) or not cv2.isContourConvex(warped.astype(np.float32))

    def _assess(self, model: str, h: np.ndarray, src: np.ndarray, dst: np.ndarray) -> PairFit:
        cfg = self.config
        projected = cv2.perspectiveTransform(src[:, None], h)[:, 0]
        errors = np.linalg.norm(projected - dst, axis=1)
        inlier = errors < cfg.ransac_threshold
        count, tracked = int(inlier.sum()), len(src)
        fraction = count / tracked if tracked else 0.0
        median = float(np.median(errors[inlier])) if count else float("nan")
        # Coverage: of the grid cells with enough tracks, the share whose tracks mostly
        # agree with the model (one motion over the whole frame, not over one part of it).
        w, hgt = self._work_size
        g = cfg.coverage_grid
        cell = np.minimum((src[:, 0] * g / w).astype(int), g - 1) * g + np.minimum(
            (src[:, 1] * g / hgt).astype(int), g - 1
        )
        per_cell = np.bincount(cell, minlength=g * g)
        agree = np.bincount(cell[inlier], minlength=g * g)
        populated = per_cell >= 3
        # Inliers by area, not by count: textured parts of a picture yield most corners,
        # and a model that fits the grass but not the half of the frame that moves the
        # other way must not look global.
        coverage = (
            float((agree[populated] / per_cell[populated]).mean()) if populated.any() else 0.0
        )
        span = cfg.inlier_fraction_high - cfg.inlier_fraction_low
        confidence = (
            float(np.clip((coverage - cfg.inlier_fraction_low) / span, 0.0, 1.0))
            * min(1.0, count / cfg.full_inliers)
            * (float(np.clip(1.0 - median / cfg.error_scale, 0.0, 1.0)) if count else 0.0)
        )
        confidence = confidence if count >= cfg.min_inliers else 0.0
        full_median = median / float(np.sqrt(self._scale[0, 0] * self._scale[1, 1]))
        return PairFit(
            model,
            confidence,
            confidence >= cfg.global_confidence,
            fraction,
            coverage,
            full_median,
            count,
            tracked,
        )

    # -- helpers --------------------------------------------------------------------------

    def _deforms(self, h: np.ndarray) -> bool:
        a = h[:2, :2] / h[2, 2]
        scale = float(np.sqrt(abs(np.linalg.det(a))))
        rotation = np.degrees(abs(np.arctan2(a[1, 0] - a[0, 1], a[0, 0] + a[1, 1])))
        w, hgt = self._work_size
        perspective = abs(h[2, 0] / h[2, 2]) * w + abs(h[2, 1] / h[2, 2]) * hgt
        return (
            rotation > self.config.warp_rotation
            or abs(scale - 1.0) > self.config.warp_scale
            or perspective > self.config.warp_scale
        )

    def _overlap(self, h: np.ndarray) -> float:
        """Share of the target frame covered by the source frame mapped through h."""
        w, hgt = self._work_size
        corners = np.array([[[0, 0]], [[w, 0]], [[w, hgt]], [[0, hgt]]], np.float64)
        if np.any(corners[:, 0] @ h[2, :2] + h[2, 2] <= 0):
            return 0.0
        warped = cv2.perspectiveTransform(corners, h).astype(np.float32)
        if not cv2.isContourConvex(warped):
            return 0.0
        frame = corners.astype(np.float32)
        area, _ = cv2.intersectConvexConvex(warped, frame)
        return float(area) / (w * hgt)

    def _corners(self, gray: np.ndarray, valid: np.ndarray) -> np.ndarray:
        cfg = self.config
        found = cv2.goodFeaturesToTrack(
            gray, cfg.max_features, cfg.quality_level, cfg.min_distance, mask=valid, blockSize=5
        )
        return np.zeros((0, 1, 2), np.float32) if found is None else found.astype(np.float32)

    def _work_of(self, reference: _Reference) -> np.ndarray:
        return self._to_work(self._positions[reference.frame.index - self.first_frame])

    def _to_work(self, h: np.ndarray) -> np.ndarray:
        return self._scale @ h @ np.linalg.inv(self._scale)

    def _to_full(self, h: np.ndarray) -> np.ndarray:
        full = np.linalg.inv(self._scale) @ h @ self._scale
        return full / full[2, 2]

    def _append(self, position: np.ndarray, parent: int, confidence: float, depth: int) -> None:
        self._positions.append(position)
        self._parents.append(parent)
        self._link_confidence.append(confidence)
        self._depths.append(depth)


def _homography(src: np.ndarray, dst: np.ndarray) -> np.ndarray | None:
    h, _ = cv2.findHomography(src, dst, 0)
    return None if h is None else h / h[2, 2]


def _similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares rotation + uniform scale + translation (Umeyama, no reflection)."""
    mu_s, mu_d = src.mean(axis=0), dst.mean(axis=0)
    a, b = src - mu_s, dst - mu_d
    # dst ~ [[p, -q], [q, p]] src: linear least squares in (p, q)
    denominator = float((a**2).sum()) or 1.0
    p = float((a[:, 0] * b[:, 0] + a[:, 1] * b[:, 1]).sum()) / denominator
    q = float((a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]).sum()) / denominator
    m = np.array([[p, -q], [q, p]])
    return np.array([[p, -q, *(mu_d - m @ mu_s)[:1]], [q, p, *(mu_d - m @ mu_s)[1:]], [0, 0, 1.0]])


def _luma8(frame: np.ndarray) -> np.ndarray:
    """8-bit luma (BT.601 weights are enough for tracking corners)."""
    if frame.dtype == np.uint8:
        image = frame
    elif frame.dtype == np.uint16:
        image = (frame >> 8).astype(np.uint8)
    else:
        image = np.clip(np.asarray(frame, np.float32) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    if image.ndim == 3 and image.shape[2] >= 3:
        return cv2.cvtColor(np.ascontiguousarray(image[:, :, :3]), cv2.COLOR_RGB2GRAY)
    if image.ndim == 3:
        return np.ascontiguousarray(image[:, :, 0])
    return np.ascontiguousarray(image)
