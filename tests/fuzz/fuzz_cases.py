"""The fuzz cases, generated from fixed seeds by mutating valid documents and media.

Case k of a family uses `random.Random(SEED + k)` and the family's operator k mod (number
of operators), so every operator runs and a run is the same every time. Each case gets
a folder of its own: `in/` (copies of valid inputs, then the mutation), `out/` (empty),
`tmp/` (the child's TMPDIR), and for hook requests `outside/` (files next to, not under,
the request's folder).
"""

from __future__ import annotations

import copy
import json
import os
import random
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import fuzz_harness  # noqa: F401 - puts tests/, tests/io and tests/masks on sys.path
import numpy as np
from fuzz_harness import ANY_FRAMES, FOLDER, Case
from iotest_helpers import write_clip
from masktest_helpers import rle_counts, rle_string, write_matte_video, write_png
from pipeline_helpers import FRAMES, HEIGHT, WIDTH, make_clip, wire_track

from moebius_video.masks import load_mask_track

MEDIA_FRAMES = 10
MEDIA_SIZE = (64, 48)
RUN = ["--model", "opencv", "--progress", "plain"]
FIFO = object()  # a files-mapping value: make a FIFO there
RAW = "@@RAW@@"  # a string in a document replaced by raw JSON text after dumping


@dataclass
class Variant:
    """What an operator made: the document's bytes, other files of the case (relative to
    in/, value bytes, FIFO, or a Path to link to), argv changes, outputs' frame counts."""

    name: str
    data: bytes
    files: dict[str, object] = field(default_factory=dict)
    frames: int = FRAMES  # frames of the output when it succeeds
    argv: list[str] = field(default_factory=list)
    expect_error: bool = False


class Workspace:
    """Valid inputs made once (pristine/), and a fresh folder per case (cases/NNNN)."""

    def __init__(self, root: Path):
        self.root = root
        self.pristine = root / "pristine"
        self.pristine.mkdir()
        self.cases = root / "cases"
        self.cases.mkdir()
        self._number = 0
        track = wire_track()
        self.track = track
        self.clip = Path(make_clip(self.pristine / "clip.mp4", audio=False, track=track))
        mask = load_mask_track(track, WIDTH, HEIGHT, FRAMES)
        self.masks = [mask.alpha(i) > 0 for i in range(FRAMES)]
        for i, frame_mask in enumerate(self.masks):
            write_png(self.pristine / "roto" / f"{i:04d}.png", frame_mask.astype(np.uint8) * 255)
        self.matte = write_matte_video(self.pristine / "matte.mkv", self.masks)
        self.plates = {
            f"{codec}.{ext}": write_clip(
                self.pristine / f"plate-{codec}.{ext}",
                frames=MEDIA_FRAMES,
                size=MEDIA_SIZE,
                codec=codec,
                codec_options={"g": "4", "threads": "1"},
            )
            for codec in ("libx264", "mpeg4")
            for ext in ("mp4", "mkv")
        }
        # A raw elementary stream: no container, no declared length.
        self.plates["libx264.h264"] = write_clip(
            self.pristine / "plate-libx264.h264",
            frames=MEDIA_FRAMES,
            size=MEDIA_SIZE,
            codec="libx264",
            codec_options={"g": "4", "threads": "1"},
        )

    def folder(self, files: dict[str, object]) -> Path:
        """A new case folder; `files` (relative to the folder) are bytes, FIFO, a Path to
        copy (a file or a folder), or ("link", target)."""
        folder = self.cases / f"{self._number:04d}"
        self._number += 1
        for name in ("in", "out", "tmp"):
            (folder / name).mkdir(parents=True)
        for name, value in files.items():
            path = folder / name
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.is_file() or path.is_symlink():
                path.unlink()  # a file of a copied folder, replaced
            if value is FIFO:
                os.mkfifo(path)
            elif isinstance(value, tuple):
                os.symlink(value[1], path)
            elif isinstance(value, Path) and value.is_dir():
                shutil.copytree(value, path)
            elif isinstance(value, Path):
                shutil.copyfile(value, path)
            elif value is not None:
                path.write_bytes(value)
        return folder


# --- mutating JSON documents ----------------------------------------------------------------


def dump(document, raw: str | None = None) -> bytes:
    text = json.dumps(document)
    if raw is not None:
        text = text.replace(json.dumps(RAW), raw, 1)
    return text.encode()


def nodes(document, path=()) -> list[tuple]:
    """(container, key) of every value below the document root."""
    found = []
    children = (
        document.items()
        if isinstance(document, dict)
        else enumerate(document)
        if isinstance(document, list)
        else ()
    )
    for key, value in children:
        found.append((document, key))
        found += nodes(value, (*path, key))
    return found


def containers(document, kind: type) -> list:
    return [document] * isinstance(document, kind) + [
        c for parent, key in nodes(document) for c in [parent[key]] if isinstance(c, kind)
    ]


HOSTILE = [
    None,
    True,
    False,
    0,
    -1,
    1,
    0.5,
    -0.0,
    2**31,
    2**53 + 1,
    2**63,
    2**64,
    -(2**63) - 1,
    10**30,
    1e308,
    -1e308,
    5e-324,
    "",
    "x",
    "9",
    "\u202e\u0000",
    "../../etc/passwd",
    "/dev/zero",
    "a" * 100_000,
    [],
    {},
    [[]],
    [1] * 10_000,
    {"a": 1},
    [None],
    [1, 2, 3],
    ["1", "2"],
    [[0, 0]] * 3,
    {"frame": 0},
]
RAW_VALUES = [
    "NaN",
    "Infinity",
    "-Infinity",
    "1e999",
    "-1e999",
    "1" * 5000,
    "1" * 65,
    "0." + "1" * 100,
    "1e-400",
    "-0",
    "[" * 63 + "]" * 63,
    "[" * 65 + "]" * 65,
    "[" * 1000 + "]" * 1000,
    "[" * 100_000 + "]" * 100_000,
    '{"a":' * 1000 + "0" + "}" * 1000,
    "9" * 19,
    "-" + "9" * 20,
]


def replace_value(rng, document):
    document = copy.deepcopy(document)
    parent, key = rng.choice(nodes(document))
    value = rng.choice(HOSTILE)
    parent[key] = copy.deepcopy(value)
    return f"set-{_key_name(key)}", dump(document)


def replace_raw(rng, document):
    document = copy.deepcopy(document)
    parent, key = rng.choice(nodes(document))
    raw = rng.choice(RAW_VALUES)
    parent[key] = RAW
    return f"raw-{_key_name(key)}-{raw[:6]}", dump(document, raw)


def delete_key(rng, document):
    document = copy.deepcopy(document)
    mapping = rng.choice(containers(document, dict))
    key = rng.choice(sorted(mapping))
    del mapping[key]
    return f"del-{key}", dump(document)


def add_key(rng, document):
    document = copy.deepcopy(document)
    mapping = rng.choice(containers(document, dict))
    name = rng.choice(["zz", "Width", "frames", "__proto__", "", "points", "schema"])
    mapping[name + "" if name not in mapping else name + "_"] = rng.choice(HOSTILE[:20])
    return f"add-{name or 'empty'}", dump(document)


def duplicate_key(rng, document):
    document = copy.deepcopy(document)
    mapping = rng.choice(containers(document, dict))
    key = rng.choice(sorted(mapping))
    mapping[RAW] = mapping[key]
    return f"dup-{key}", dump(document, json.dumps(key))


def text_damage(rng, document):
    data = bytearray(dump(document))
    how = rng.choice(["truncate", "flip", "xff", "insert", "utf16", "trailing", "empty", "nul"])
    at = rng.randrange(len(data))
    if how == "truncate":
        data = data[:at]
    elif how == "flip":
        data[at] ^= 1 << rng.randrange(8)
    elif how == "xff":
        data[at] = 0xFF
    elif how == "insert":
        data[at:at] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 8)))
    elif how == "utf16":
        data = bytearray(data.decode().encode("utf-16"))
    elif how == "trailing":
        data += b" {}"
    elif how == "empty":
        data = bytearray()
    else:
        data[at:at] = b"\x00"
    return f"text-{how}", bytes(data)


def _key_name(key) -> str:
    return str(key)[:12] if not isinstance(key, int) else f"[{key}]"


GENERIC = [replace_value, replace_raw, delete_key, add_key, duplicate_key, text_damage]


# --- mask tracks -------------------------------------------------------------------------------


def shapes_track() -> dict:
    return {
        "schema": "moebius.masktrack/1",
        "width": WIDTH,
        "height": HEIGHT,
        "tracks": [
            {
                "id": "boom",
                "shape": "polygon",
                "expand": 2,
                "feather": 1,
                "interpolation": "smooth",
                "range": [1, 10],
                "keyframes": [
                    {"frame": 1, "points": [[10, 0], [30, 0], [25, 14], [12, 14]]},
                    {"frame": 6, "points": [[14, 0], [34, 0], [29, 16], [16, 16]]},
                    {"frame": 10, "points": [[18, 0], [38, 0], [33, 14], [20, 14]]},
                ],
            },
            {
                "id": "dot",
                "shape": "ellipse",
                "keyframes": [
                    {"frame": 0, "center": [70, 40], "axes": [6, 4], "angle": 10},
                    {"frame": 11, "center": [60, 44], "axes": [5, 5], "angle": 80},
                ],
            },
            {
                "id": "keep",
                "shape": "ellipse",
                "invert": True,
                "keyframes": [{"frame": 0, "center": [72, 40], "axes": [2, 2]}],
            },
        ],
    }


def raster_track(source: dict) -> dict:
    return {
        "schema": "moebius.masktrack/1",
        "width": WIDTH,
        "height": HEIGHT,
        "tracks": [{"id": "roto", "shape": "raster", "source": source}],
    }


def coco_track(ws: Workspace) -> dict:
    frames = {}
    for i in range(2, 10):
        counts = rle_counts(ws.masks[i])
        frames[str(i)] = {
            "size": [HEIGHT, WIDTH],
            "counts": rle_string(counts) if i % 2 else counts,
        }
    return raster_track({"format": "coco_rle", "frames": frames})


def mask_bases(ws: Workspace) -> dict[str, tuple[dict, dict]]:
    """name -> (document, the files it needs beside it)"""
    return {
        "wire": (ws.track, {}),
        "shapes": (shapes_track(), {}),
        "coco": (coco_track(ws), {}),
        "png": (
            raster_track({"format": "png", "path": "roto/%04d.png"}),
            {"roto": ws.pristine / "roto"},
        ),
        "matte": (raster_track({"format": "video", "path": "matte.mkv"}), {"matte.mkv": ws.matte}),
    }


def _polyline(document) -> dict:
    return next(t for t in document["tracks"] if t.get("shape") == "polyline")


def many_points(rng, ws):
    n = rng.choice([2, 500, 9_999, 10_000, 10_001, 100_000])
    document = copy.deepcopy(ws.track)
    for key in _polyline(document)["keyframes"]:
        (x0, y0), (x1, y1) = key["points"][0], key["points"][-1]
        key["points"] = [[x0 + (x1 - x0) * k / n, y0 + (y1 - y0) * k / n] for k in range(n)]
    return Variant(f"points-{n}", dump(document), expect_error=n > 10_000)


def many_tracks(rng, ws):
    n = rng.choice([999, 1_000, 1_001, 10_000])
    unique = rng.random() < 0.7
    document = copy.deepcopy(ws.track)
    one = document["tracks"][0]
    document["tracks"] = [{**one, "id": f"w{k}" if unique else "w"} for k in range(n)]
    return Variant(
        f"tracks-{n}{'' if unique else '-same-id'}",
        dump(document),
        expect_error=n > 1_000 or not unique,
    )


def many_keyframes(rng, ws):
    n = rng.choice([12, 3_000, 30_000])
    document = copy.deepcopy(ws.track)
    track = _polyline(document)
    first = track["keyframes"][0]["points"]
    track["keyframes"] = [
        {"frame": k, "points": [[x + k % 5, y] for x, y in first]} for k in range(n)
    ]
    track["range"] = [0, FRAMES - 1]
    return Variant(f"keyframes-{n}", dump(document))


def frame_numbers(rng, ws):
    document = copy.deepcopy(ws.track)
    track = _polyline(document)
    where = rng.choice(["keyframe", "range", "frame_base"])
    value = rng.choice(
        [
            -1,
            FRAMES,
            10**9,
            10**9 + 1,
            -(10**9) - 1,
            2**63,
            1.5,
            "3",
            [9, 2],
            [0, 10**9],
            [-5, -1],
            [0],
            [2**63, 2**64],
            "0-11",
        ]
    )
    if where == "keyframe":
        track["keyframes"][rng.randrange(2)]["frame"] = value
    elif where == "range":
        track["range"] = value
    else:
        document["frame_base"] = value
    return Variant(f"{where}-{str(value)[:12]}", dump(document))


def canvas(rng, ws):
    document, files = copy.deepcopy(rng.choice(list(mask_bases(ws).values())))
    value = rng.choice([0, -96, 96.5, 2 * WIDTH, 32_768, 32_769, 10**7, 16_384])
    side = rng.choice(["width", "height", "both"])
    for key in ("width", "height") if side == "both" else (side,):
        document[key] = value
    document["scale_to_video"] = rng.random() < 0.6
    return Variant(f"canvas-{side}-{value}-{document['scale_to_video']}", dump(document), files)


def big_canvas_coco(rng, ws):
    """The 16384-square all-frames COCO track (issue 15: killed at 1.5 GB)."""
    side = rng.choice([2_048, 4_096])  # 16384 works too, at 5 s a frame (12 frames: 60 s)
    frames = {
        str(i): {"size": [side, side], "counts": [side * side // 2, side * side // 2]}
        for i in range(FRAMES)
    }
    document = {
        **raster_track({"format": "coco_rle", "frames": frames}),
        "width": side,
        "height": side,
        "scale_to_video": True,
    }
    return Variant(f"coco-canvas-{side}", dump(document))


def numbers(rng, ws):
    document = copy.deepcopy(rng.choice([ws.track, shapes_track()]))
    track = rng.choice(document["tracks"])
    key = rng.choice(["width", "expand", "feather", "point", "axes", "angle"])
    value = rng.choice([0, -1, 0.25, 3, 1e6, 1e6 + 1, 1e7 + 1, -1e7 - 1, 1e300, "2", True, None])
    if key == "point" and "points" in track["keyframes"][0]:
        track["keyframes"][0]["points"][0][rng.randrange(2)] = value
    elif key in ("axes", "angle") and track["shape"] == "ellipse":
        frame = track["keyframes"][0]
        frame[key] = value if key == "angle" else [value, 3]
    else:
        track[key if key != "point" else "expand"] = value
    return Variant(f"number-{track['id']}-{key}-{value!s:.10}", dump(document))


def shape_swap(rng, ws):
    document = copy.deepcopy(rng.choice([ws.track, shapes_track()]))
    track = rng.choice(document["tracks"])
    track["shape"] = rng.choice(["polyline", "polygon", "ellipse", "raster", "spline", 3, None])
    return Variant(f"shape-{track['id']}-{track['shape']}", dump(document))


def coco_runs(rng, ws):
    document = coco_track(ws)
    frame = document["tracks"][0]["source"]["frames"][str(rng.randrange(2, 10))]
    pixels = WIDTH * HEIGHT
    runs = rng.choice(
        [
            [2**62] * 4,
            [2**63],
            [2**64],
            [-5, pixels + 5],
            [pixels + 1],
            [pixels, 0, 1],
            [1] * (pixels + 2),
            [0, pixels],
            [pixels],
            "string-overflow",
            "garbage",
            "bad-chars",
            "huge",
            "",
            [],
            "1.5",
        ]
    )
    if runs == "string-overflow":
        runs = rle_string([2**62] * 4)
    elif runs == "garbage":
        runs = "".join(chr(rng.randrange(48, 112)) for _ in range(rng.randrange(1, 400)))
    elif runs == "bad-chars":
        runs = "0a~\u00e9 \x7f"
    elif runs == "huge":
        runs = "z" * rng.choice([64, 4096, 3_000_000])
    elif runs == "1.5":
        runs = [1.5, pixels - 1.5]
    frame["counts"] = runs
    valid = runs in ([0, pixels], [pixels])
    return Variant(f"coco-counts-{str(runs)[:16]}", dump(document), expect_error=not valid)


def coco_frames(rng, ws):
    document = coco_track(ws)
    frames = document["tracks"][0]["source"]["frames"]
    how = rng.choice(["size", "key", "union", "empty", "list", "objects", "missing-counts"])
    some = frames["2"]
    if how == "size":
        some["size"] = rng.choice(
            [[0, 0], [HEIGHT, WIDTH + 1], [10**6, 10**6], [HEIGHT], "64x96", [WIDTH, HEIGHT]]
        )
    elif how == "key":
        frames[rng.choice(["x", "-1", "1e3", "99999999999999999999", " 3", "12", "03"])] = some
    elif how == "union":
        frames["3"] = [frames["3"], some]
    elif how == "empty":
        document["tracks"][0]["source"]["frames"] = {}
    elif how == "list":
        document["tracks"][0]["source"]["frames"] = [some]
    elif how == "objects":
        frames["4"] = [some] * rng.choice([2, 10_000])
    else:
        del some["counts"]
    return Variant(f"coco-{how}", dump(document))


def png_source(rng, ws):
    document, files = copy.deepcopy(mask_bases(ws)["png"])
    files = dict(files)
    how = rng.choice(
        [
            "missing-middle",
            "garbage",
            "truncated",
            "wrong-size",
            "rgba",
            "16bit",
            "fifo",
            "dev-zero-link",
            "pattern",
            "single",
            "bomb",
            "empty-folder",
            "folder",
        ]
    )
    name = "roto/0005.png"
    good = (ws.pristine / name).read_bytes()
    ok = False
    if how == "missing-middle":
        files[name] = None
    elif how == "garbage":
        files[name] = bytes(rng.randrange(256) for _ in range(200))
    elif how == "truncated":
        files[name] = good[: rng.randrange(1, len(good))]
    elif how in ("wrong-size", "rgba", "16bit", "bomb"):
        image = {
            "wrong-size": lambda: np.zeros((HEIGHT // 2, WIDTH // 2), np.uint8),
            "rgba": lambda: np.dstack([ws.masks[5].astype(np.uint8) * 255] * 4),
            "16bit": lambda: ws.masks[5].astype(np.uint16) * 65535,
            "bomb": lambda: np.zeros((8192, 8192), np.uint8),
        }[how]()
        target = ws.root / f"image-{how}.png"
        if not target.exists():
            write_png(target, image)
        files[name] = target
        ok = how in ("rgba", "16bit")
    elif how == "fifo":
        files[name] = FIFO
    elif how == "dev-zero-link":
        files[name] = ("link", "/dev/zero")
    elif how == "pattern":
        pattern = rng.choice(
            [
                "roto/%09999d.png",
                "roto/%04d%04d.png",
                "roto/%s.png",
                "roto/%n.png",
                "../roto/%04d.png",
                "/etc/%04d.png",
                "roto/%4$d.png",
                "/dev/zero",
                "roto/%-4d.png",
                "roto/%.9999d.png",
            ]
        )
        document["tracks"][0]["source"]["path"] = pattern
        how += "-" + pattern
    elif how == "single":
        document["tracks"][0]["source"]["path"] = name
        ok = True
    elif how == "empty-folder":
        files["roto"] = None
        files["roto/sub/x.txt"] = b"x"
        document["tracks"][0]["source"]["path"] = "roto"
    else:
        document["tracks"][0]["source"]["path"] = "roto"
        ok = True
    return Variant(f"png-{how}", dump(document), files, expect_error=not ok and how != "pattern")


def matte_source(rng, ws):
    document, files = copy.deepcopy(mask_bases(ws)["matte"])
    files = dict(files)
    how = rng.choice(
        [
            "truncated",
            "png",
            "wrong-size",
            "short",
            "long",
            "fifo",
            "dev-zero",
            "empty",
            "text",
            "flipped",
        ]
    )
    good = ws.matte.read_bytes()
    ok = False
    if how == "truncated":
        files["matte.mkv"] = good[: int(len(good) * rng.uniform(0.1, 0.95))]
    elif how == "png":
        files["matte.mkv"] = ws.pristine / "roto" / "0003.png"
    elif how in ("wrong-size", "short", "long"):
        masks = {
            "wrong-size": [m[: HEIGHT // 2, : WIDTH // 2] for m in ws.masks],
            "short": ws.masks[:5],
            "long": ws.masks + ws.masks[:1],
        }[how]
        target = ws.root / f"matte-{how}.mkv"
        if not target.exists():
            write_matte_video(target, masks)
        files["matte.mkv"] = target
        ok = how in ("long", "short")  # a short matte is a track of that many frames
    elif how == "fifo":
        files["matte.mkv"] = FIFO
    elif how == "dev-zero":
        document["tracks"][0]["source"]["path"] = "/dev/zero"
    elif how == "empty":
        files["matte.mkv"] = b""
    elif how == "text":
        files["matte.mkv"] = b"not a video\n" * 10
    else:
        data = bytearray(good)
        for _ in range(8):
            data[rng.randrange(len(data) // 3, len(data))] ^= 0xFF
        files["matte.mkv"] = bytes(data)
        ok = None  # FFV1 damage may go unnoticed (its CRCs are only logged; README)
    return Variant(f"matte-{how}", dump(document), files, expect_error=ok is False)


def benign(rng, ws):
    """Changes that keep the track valid: the run must succeed with every frame."""
    name, (document, files) = rng.choice(list(mask_bases(ws).items()))
    document = copy.deepcopy(document)
    how = rng.choice(
        [
            "metadata",
            "interpolation",
            "smooth",
            "widths",
            "frame-base",
            "bom",
            "pretty",
            "unicode-id",
            "shuffle",
        ]
    )
    first = document["tracks"][0]
    data = None
    if how == "metadata":
        document["metadata"] = {"tool": "fuzz", "nested": [{"a": [1, 2, {"b": None}]}]}
        first["metadata"] = {"x": rng.random()}
    elif how == "interpolation" and first["shape"] != "raster":
        first["interpolation"] = rng.choice(["linear", "hold", "smooth"])
    elif how == "smooth" and first["shape"] in ("polyline", "polygon"):
        first["smooth_path"] = True
    elif how == "widths" and first["shape"] != "raster":
        first["expand"], first["feather"] = rng.uniform(0, 5), rng.uniform(0, 5)
    elif how == "frame-base" and first["shape"] != "raster":
        base = rng.choice([1, 1001, 86_400])
        document["frame_base"] = base
        for track in document["tracks"]:
            for key in track.get("keyframes", []):
                key["frame"] += base
            if "range" in track:
                track["range"] = [f + base for f in track["range"]]
    elif how == "bom":
        data = b"\xef\xbb\xbf" + dump(document)
    elif how == "pretty":
        data = json.dumps(document, indent="\t").replace("\n", "\r\n").encode()
    elif how == "unicode-id":
        first["id"] = "fil \u00e9l\u00e9ctrique \U0001f3ac"
    else:
        document = dict(reversed(list(document.items())))
    return Variant(f"ok-{name}-{how}", data if data is not None else dump(document), files)


def mask_argument(rng, ws):
    """--mask-track given something else than a JSON file."""
    how = rng.choice(
        [
            "folder",
            "single-png",
            "pattern",
            "matte",
            "dev-zero",
            "fifo",
            "missing",
            "empty-folder",
            "proc",
        ]
    )
    files: dict[str, object] = {"roto": ws.pristine / "roto", "matte.mkv": ws.matte, "fifo": FIFO}
    files["empty/sub/x.txt"] = b"x"
    target = {
        "folder": "in/roto",
        "single-png": "in/roto/0004.png",
        "pattern": "in/roto/%04d.png",
        "matte": "in/matte.mkv",
        "dev-zero": "/dev/zero",
        "fifo": "in/fifo",
        "missing": "in/nope.json",
        "empty-folder": "in/empty",
        "proc": "/proc/self/status",
    }[how]
    ok = how in ("folder", "single-png", "pattern", "matte")
    return Variant(f"arg-{how}", b"", files, argv=["--mask-track", target], expect_error=not ok)


def generic(operator):
    def make(rng, ws):
        base, (document, files) = rng.choice(list(mask_bases(ws).items()))
        name, data = operator(rng, document)
        return Variant(f"{base}-{name}", data, files)

    make.__name__ = operator.__name__
    return make


def oversized(rng, ws):
    """A mask track over the 64 MiB file limit (padding after a valid document)."""
    return Variant("file-64MiB+1", dump(ws.track) + b" " * (64 * 2**20), expect_error=True)


MASK_OPS: list[Callable] = [
    *(generic(op) for op in GENERIC),
    *(generic(op) for op in (replace_value, replace_raw, text_damage)),
    many_points,
    many_tracks,
    many_keyframes,
    frame_numbers,
    frame_numbers,
    canvas,
    numbers,
    numbers,
    shape_swap,
    coco_runs,
    coco_runs,
    coco_frames,
    png_source,
    png_source,
    matte_source,
    benign,
    benign,
    benign,
    mask_argument,
]


def mask_track_cases(ws: Workspace, count: int = 150, seed: int = 150_000) -> list[Case]:
    cases = []
    extra = [big_canvas_coco, oversized]
    for k in range(count):
        rng = random.Random(seed + k)
        operator = (
            extra[k // 75] if k % 75 == 74 and k // 75 < len(extra) else MASK_OPS[k % len(MASK_OPS)]
        )
        variant = operator(rng, ws)
        files = {"in/clip.mp4": ws.clip, "in/track.json": variant.data}
        files.update({f"in/{name}": value for name, value in variant.files.items()})
        argv = ["in/clip.mp4", "--mask-track", "in/track.json", "-o", "out/o.mp4", *RUN]
        if variant.argv:
            argv = [argv[0], *variant.argv, *argv[3:]]
            del files["in/track.json"]
        cases.append(
            Case(
                "mask_tracks",
                f"mask_tracks/{k:03d}-{variant.name}",
                ws.folder(files),
                argv,
                {"out/o.mp4": variant.frames},
                variant.expect_error,
            )
        )
    return cases


# --- job files --------------------------------------------------------------------------------


def job_document() -> dict:
    return {
        "defaults": {"model": "opencv", "crf": 20},
        "shots": [
            {"input": "clip.mp4", "mask_track": "wire.json", "output": "../out/a.mp4"},
            {
                "name": "sh020",
                "input": "clip.mp4",
                "mask_track": "wire.json",
                "output": "../out/b.mp4",
                "keyframe-interval": 4,
            },
        ],
    }


JOB_OUTPUTS = {"out/a.mp4": FRAMES, "out/b.mp4": FRAMES}


def to_yaml(document) -> bytes:
    import yaml

    return yaml.safe_dump(document, sort_keys=False).encode()


def yaml_text(rng, ws):
    """Hand-written YAML: aliases (a bomb and a fair merge), tags, duplicates, tabs."""
    how = rng.choice(
        [
            "bomb",
            "merge",
            "python-tag",
            "binary",
            "duplicate",
            "tab",
            "deep",
            "date",
            "inf",
            "unclosed",
            "anchor-loop",
        ]
    )
    shot = "{input: clip.mp4, mask_track: wire.json, output: ../out/a.mp4}"
    text = {
        "bomb": "a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
        "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
        "e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
        "g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\nh: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]\n"
        "shots: [*h]\n",
        "merge": "defaults: &d {model: opencv}\nshots:\n  - <<: *d\n    input: clip.mp4\n"
        "    mask_track: wire.json\n    output: ../out/a.mp4\n",
        "python-tag": f"shots: [!!python/object/apply:os.system ['touch pwned'], {shot}]\n",
        "binary": f"defaults: {{model: !!binary aGVsbG8=}}\nshots: [{shot}]\n",
        "duplicate": f"shots: [{shot}]\nshots: [{shot}]\n",
        "tab": f"shots:\n\t- {shot}\n",
        "deep": "shots: " + "[" * 2000 + "]" * 2000 + "\n",
        "date": "shots: [{input: clip.mp4, mask_track: wire.json, output: 2024-01-01}]\n",
        "inf": f"defaults: {{crf: .inf, model: opencv}}\nshots: [{shot}]\n",
        "unclosed": "shots: [{input: clip.mp4\n",
        "anchor-loop": "shots: &s [*s]\n",
    }[how]
    outputs = {"out/a.mp4": FRAMES} if how == "merge" else {}
    return f"yaml-{how}", text.encode(), outputs, how not in ("merge",)


def job_values(rng, ws):
    document = job_document()
    shot = document["shots"][rng.randrange(2)]
    key, value = rng.choice(
        [
            ("crf", "high"),
            ("crf", 99),
            ("crf", [1]),
            ("frames", "9-2"),
            ("frames", "x"),
            ("frames", 5),
            ("codec", "divx"),
            ("y", "yes"),
            ("skip_existing", "no"),
            ("overwrite", 1),
            ("window", -3),
            ("model", "nope"),
            ("device", "cuda:7"),
            ("workers", -1),
            ("workers", "many"),
            ("workers", 1.5),
            ("save_debug", "clip.mp4"),
            ("save_debug", "wire.json"),
            ("input", None),
            ("input", ""),
            ("input", ["a"]),
            ("output", "clip.mp4"),
            ("output", "wire.json"),
            ("output", "../out"),
            ("output", "../nope/a.mp4"),
            ("input", "nope.mp4"),
            ("mask_track", "/dev/zero"),
            ("mask_track", "nope.json"),
            ("output", "../out/a.mp4"),
            ("name", {"x": 1}),
            ("frames", "2-9"),
            ("save_debug", "../out/debug.mp4"),
            ("zzz", 1),
            ("--crf", 18),
            ("fps", "abc"),
            ("fps", 24),  # a movie keeps its own rate: a warning, and the run
            ("frame_numbers", "sideways"),
            ("frame_numbers", "track"),
            ("strict", "yes"),
            ("save_debug_scale", 5),
            ("frame_indices", "0-3"),
            ("frame_indices", [-1, 2]),
        ]
    )
    was = shot["output"].removeprefix("../")
    shot[key] = value
    outputs = dict(JOB_OUTPUTS)
    if key == "frames" and value == "2-9":
        outputs[shot["output"].removeprefix("../")] = 8
    if key == "frame_indices" and value == "0-3":
        outputs[shot["output"].removeprefix("../")] = 4
    if key == "save_debug" and value.startswith("../out"):
        outputs["out/debug.mp4"] = ANY_FRAMES
    if key == "output" and value == "../nope/a.mp4":  # a batch makes its output folders
        del outputs[was]
        outputs.update({"nope": FOLDER, "nope/a.mp4": FRAMES})
    return f"value-{key}-{str(value)[:10]}", to_yaml(document), outputs, False


def job_shape(rng, ws):
    document = job_document()
    how = rng.choice(
        [
            "no-shots",
            "empty-shots",
            "shots-map",
            "list",
            "scalar",
            "empty",
            "unknown-key",
            "defaults-list",
            "null-shot",
            "missing-output",
            "missing-input",
        ]
    )
    if how == "no-shots":
        del document["shots"]
    elif how == "empty-shots":
        document["shots"] = []
    elif how == "shots-map":
        document["shots"] = document["shots"][0]
    elif how == "list":
        document = document["shots"]
    elif how == "scalar":
        document = "shots"
    elif how == "empty":
        return "shape-empty", b"", {}, True
    elif how == "unknown-key":
        document["shotz"] = []
    elif how == "defaults-list":
        document["defaults"] = [1]
    elif how == "null-shot":
        document["shots"].append(None)
    else:
        del document["shots"][1][how.removeprefix("missing-")]
    return f"shape-{how}", to_yaml(document), {}, True


def job_generic(operator):
    def make(rng, ws):
        name, data = operator(rng, job_document())
        return f"generic-{name}", data, dict(JOB_OUTPUTS), False

    make.__name__ = operator.__name__
    return make


JOB_OPS: list[Callable] = [
    yaml_text,
    yaml_text,
    job_values,
    job_values,
    job_values,
    job_shape,
    *(job_generic(op) for op in GENERIC),
]
JOB_SPECIAL = {
    # name -> (argv after "batch", the job file's bytes or FIFO or a link, expect error, outputs)
    "fifo": (["in/jobs.yaml"], FIFO, True, {}),
    "dev-zero": (["/dev/zero"], None, True, {}),
    "dev-zero-link": (["in/jobs.yaml"], ("link", "/dev/zero"), True, {}),
    "folder": (["in"], None, True, {}),
    "missing": (["in/nope.yaml"], None, True, {}),
    "check": (["in/jobs.yaml", "--check"], "yaml", False, {}),
    "check-json": (["in/jobs.json", "--check"], "json", False, {}),
    "json": (["in/jobs.json"], "json", False, JOB_OUTPUTS),
    "json-nan": (["in/jobs.json"], b'{"shots": [NaN]}', True, {}),
    "json-dup": (["in/jobs.json"], b'{"shots": [], "shots": []}', True, {}),
    "workers-arg": (["in/jobs.yaml", "--workers", "x"], "yaml", True, {}),
    "extra-arg": (["in/jobs.yaml", "more.yaml"], "yaml", True, {}),
    "huge": (["in/jobs.yaml"], b"#" * (4 * 2**20 + 1), True, {}),
}


def job_file_cases(ws: Workspace, count: int = 80, seed: int = 250_000) -> list[Case]:
    cases = []
    base = {"in/clip.mp4": ws.clip, "in/wire.json": dump(ws.track)}
    specials = list(JOB_SPECIAL.items())
    for k in range(count):
        rng = random.Random(seed + k)
        if k < len(specials):
            name, (argv, data, error, outputs) = specials[k]
            files = dict(base)
            target = "in/jobs.json" if "json" in name else "in/jobs.yaml"
            if data == "yaml":
                data = to_yaml(job_document())
            elif data == "json":
                data = dump(job_document())
            if data is not None:
                files[target] = data
        else:
            operator = JOB_OPS[k % len(JOB_OPS)]
            name, data, outputs, error = operator(rng, ws)
            files = {**base, "in/jobs.yaml": data}
            argv = ["in/jobs.yaml"]
        cases.append(
            Case(
                "job_files",
                f"job_files/{k:03d}-{name}",
                ws.folder(files),
                ["batch", *argv, "--progress", "plain"],
                dict(outputs),
                error,
            )
        )
    return cases


# --- hook requests ----------------------------------------------------------------------------


def request_document() -> dict:
    return {
        "version": 1,
        "input": "clip.mp4",
        "mask_track": "wire.json",
        "output": "out/o.mp4",
        "model": "opencv",
    }


HOOK_OUTPUTS = {"in/out/o.mp4": FRAMES}


def request_values(rng, ws, outside: Path):
    """`outside`: the case's outside/ folder, absolute (known only once the folder exists,
    so the value is a template: {outside})."""
    document = request_document()
    key, value = rng.choice(
        [
            ("version", 2),
            ("version", 0),
            ("version", "1"),
            ("version", 1.5),
            ("input", 3),
            ("input", "../outside/clip.mp4"),
            ("input", "{outside}/clip.mp4"),
            ("input", "nope.mp4"),
            ("input", "out"),
            ("mask_track", "/etc/shadow"),
            ("mask_track", "/etc/passwd"),
            ("mask_track", "/proc/self/environ"),
            ("mask_track", "/dev/zero"),
            ("mask_track", "../../../../../../etc/passwd"),
            ("mask_track", "../outside/wire.json"),
            ("mask_track", []),
            ("output", "../outside/o.mp4"),
            ("output", "{outside}/o.mp4"),
            ("output", "clip.mp4"),
            ("output", "wire.json"),
            ("output", "out"),
            ("output", "nope/o.mp4"),
            ("output", "../outside/../o.mp4"),
            ("frames", [2, 9]),
            ("frames", [9, 2]),
            ("frames", [-1, 5]),
            ("frames", [0, 10**12]),
            ("frame_indices", [0, 11]),
            ("frame_indices", [3]),
            ("codec", "png"),
            ("codec", "divx"),
            ("crf", 99),
            ("crf", "16"),
            ("device", "tpu"),
            ("overwrite", "yes"),
            ("model", None),
            ("model", "nope"),
            ("weights", "/etc/passwd"),
            ("weights", "../outside/w.pt"),
            ("options", {"workers": 1000}),
            ("options", {"workers": -1}),
            ("options", {"ray_address": "10.0.0.1:6379"}),
            ("options", {"save_debug": "clip.mp4"}),
            ("options", {"save_debug": "{outside}/dbg.mp4"}),
            ("options", {"save_debug": "out/dbg.mp4"}),
            ("options", {"window": "big"}),
            ("options", {"nope": 1}),
            ("options", []),
            ("inptu", "clip.mp4"),
            ("blender", {"scene": "Edit"}),
            ("blender", "Edit"),
            ("nuke", {"a": [1] * 1000}),
        ]
    )
    if key == "overwrite" or (key == "output" and value in ("clip.mp4", "wire.json")):
        document["overwrite"] = True
    if isinstance(value, str):
        value = value.replace("{outside}", str(outside))
    elif isinstance(value, dict) and isinstance(value.get("save_debug"), str):
        value = {"save_debug": value["save_debug"].replace("{outside}", str(outside))}
    document[key] = value
    outputs = dict(HOOK_OUTPUTS)
    if key == "output":
        # where a run that accepts the path writes (outside/ is the request folder's sibling)
        where = {
            "../outside/o.mp4": "outside/o.mp4",
            f"{outside}/o.mp4": "outside/o.mp4",
            "../outside/../o.mp4": "o.mp4",
        }
        outputs = {where[value]: FRAMES} if value in where else {}
    if key in ("frames", "frame_indices") and value in ([2, 9], [0, 11]):
        outputs = {"in/out/o.mp4": value[1] - value[0] + 1}
    debug = value.get("save_debug") if isinstance(value, dict) else None
    if debug in ("out/dbg.mp4", f"{outside}/dbg.mp4"):
        outputs["in/out/dbg.mp4" if debug == "out/dbg.mp4" else "outside/dbg.mp4"] = ANY_FRAMES
    return f"value-{key}-{str(value)[:14]}", dump(document), outputs


def inline_track(rng, ws, outside: Path):
    """An inline mask track, mutated like the mask-track files."""
    base, (track, files) = rng.choice(list(mask_bases(ws).items()))
    document = request_document()
    if rng.random() < 0.3:
        document["mask_track"] = copy.deepcopy(track)
        if base == "png":
            document["mask_track"]["tracks"][0]["source"]["path"] = rng.choice(
                ["roto/%04d.png", "../outside/roto/%04d.png", f"{outside}/roto/%04d.png"]
            )
        name = f"inline-{base}"
    else:
        operator = rng.choice(GENERIC)
        name, data = operator(rng, track)
        document["mask_track"] = RAW
        return (
            f"inline-{base}-{name}",
            dump(document, data.decode("utf-8", "replace")),
            dict(HOOK_OUTPUTS),
        )
    return name, dump(document), dict(HOOK_OUTPUTS)


def request_generic(operator):
    def make(rng, ws, outside):
        name, data = operator(rng, request_document())
        return f"generic-{name}", data, dict(HOOK_OUTPUTS)

    make.__name__ = operator.__name__
    return make


HOOK_OPS: list[Callable] = [
    request_values,
    request_values,
    request_values,
    inline_track,
    *(request_generic(op) for op in GENERIC),
]
HOOK_SPECIAL = {
    # name -> (argv after "hook", the request file (bytes, FIFO, link or None), outputs)
    "fifo": (["in/request.json"], FIFO, {}),
    "folder": (["in"], None, {}),
    "dev-zero": (["/dev/zero"], None, {}),
    "dev-zero-link": (["in/request.json"], ("link", "/dev/zero"), {}),
    "missing": (["in/nope.json"], None, {}),
    "stdin-empty": (["-"], None, {}),
    "two-args": (["in/request.json", "in/request.json"], "good", {}),
    "unknown-flag": (["--bogus", "in/request.json"], "good", {}),
    "root-inside": (["--root", "in", "in/request.json"], "good", HOOK_OUTPUTS),
    "root-elsewhere": (["--root", "outside", "in/request.json"], "good", {}),
    "good": (["in/request.json"], "good", HOOK_OUTPUTS),
}


def hook_request_cases(ws: Workspace, count: int = 60, seed: int = 350_000) -> list[Case]:
    cases = []
    specials = list(HOOK_SPECIAL.items())
    for k in range(count):
        rng = random.Random(seed + k)
        files = {
            "in/clip.mp4": ws.clip,
            "in/wire.json": dump(ws.track),
            "in/roto": ws.pristine / "roto",
            "in/out/.keep": b"",
            "outside/clip.mp4": ws.clip,
            "outside/wire.json": dump(ws.track),
            "outside/roto": ws.pristine / "roto",
        }
        folder = ws.folder(files)
        if k < len(specials):
            name, (argv, data, outputs) = specials[k]
            data = dump(request_document()) if data == "good" else data
        else:
            operator = HOOK_OPS[k % len(HOOK_OPS)]
            name, data, outputs = operator(rng, ws, folder / "outside")
            argv = ["in/request.json"]
        if data is not None:
            ws_files = {"in/request.json": data}
            _write_into(folder, ws_files)
        cases.append(
            Case(
                "hook_requests",
                f"hook_requests/{k:03d}-{name}",
                folder,
                ["hook", *argv],
                dict(outputs),
            )
        )
    return cases


def _write_into(folder: Path, files: dict[str, object]) -> None:
    for name, value in files.items():
        path = folder / name
        if value is FIFO:
            os.mkfifo(path)
        elif isinstance(value, tuple):
            os.symlink(value[1], path)
        else:
            path.write_bytes(value)


# --- corrupt media ------------------------------------------------------------------------------


def packet_spans(path: Path) -> list[tuple[int, int]]:
    import av

    with av.open(str(path)) as container:
        return [(p.pos, p.size) for p in container.demux(video=0) if p.size and p.pos is not None]


def damage(rng, data: bytes, spans: list[tuple[int, int]]) -> tuple[str, bytes]:
    data = bytearray(data)
    how = rng.choice(
        ["flip", "flip", "zero", "zero", "truncate", "packet", "header", "tail", "random"]
    )

    def in_packet() -> int:
        position, size = rng.choice(spans)
        return position + rng.randrange(size)

    if how == "flip":
        bits = rng.choice([1, 4, 32])
        for _ in range(bits):
            data[in_packet()] ^= 1 << rng.randrange(8)
        how += f"{bits}"
    elif how == "zero":
        length = rng.choice([8, 64, 512])
        at = in_packet()
        data[at : at + length] = bytes(len(data[at : at + length]))
        how += f"{length}"
    elif how == "truncate":
        fraction = rng.uniform(0.02, 0.98)
        data = data[: int(len(data) * fraction)]
        how += f"{fraction:.2f}"
    elif how == "packet":
        position, size = rng.choice(spans)
        data[position : position + size] = bytes(rng.randrange(256) for _ in range(size))
    elif how == "header":
        for _ in range(4):
            data[rng.randrange(min(256, len(data)))] ^= 0xFF
    elif how == "tail":
        for _ in range(4):
            data[len(data) - 1 - rng.randrange(len(data) // 5)] ^= 0xFF
    else:
        for _ in range(8):
            data[rng.randrange(len(data))] = rng.randrange(256)
    return how, bytes(data)


def media_cases(ws: Workspace, count: int = 80, seed: int = 450_000) -> list[Case]:
    """`count` damaged plates (the first of each kind intact), each run plain and with
    --allow-damaged: 2 * count cases. A raw stream declares no length: a run of it that
    goes through must say that its length could not be checked."""
    track = {**ws.track, "scale_to_video": True}
    cases = []
    kinds = list(ws.plates.items())
    spans = {kind: packet_spans(path) for kind, path in kinds}
    for k in range(count):
        rng = random.Random(seed + k)
        kind, path = kinds[k % len(kinds)]
        if k < len(kinds):
            how, data = "intact", path.read_bytes()
        else:
            how, data = damage(rng, path.read_bytes(), spans[kind])
        plate = f"in/plate.{kind.split('.')[1]}"
        for extra in ([], ["--allow-damaged"]):
            folder = ws.folder({plate: data, "in/wire.json": dump(track)})
            argv = [plate, "--mask-track", "in/wire.json", "-o", "out/o.mp4", *RUN, *extra]
            mode = "allow" if extra else "plain"
            name = f"media/{k:03d}-{kind}-{how}-{mode}"
            raw = kind.endswith(".h264")
            frames = ANY_FRAMES if raw and how != "intact" else MEDIA_FRAMES
            says = "cannot be detected" if raw else None
            cases.append(
                Case("media", name, folder, argv, {"out/o.mp4": frames}, expect_stderr=says)
            )
    return cases


FAMILIES: dict[str, Callable[[Workspace], list[Case]]] = {
    "mask_tracks": mask_track_cases,
    "job_files": job_file_cases,
    "hook_requests": hook_request_cases,
    "media": media_cases,
}
