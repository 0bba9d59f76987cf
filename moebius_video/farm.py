"""Render-farm chunks: one farm task renders frames FIRST-LAST of a shot, resumably.

    moebius-video plate.mov --mask-track wires.json -o clean/plate.%04d.png \\
        --frames 1001-1100 --skip-existing --progress plain

Deadline, OpenCue, Tractor or OpenJD split a shot into such tasks. Two kinds of output:

- **per-frame files** (`shot.%04d.png`, `shot.####.exr`, `.tif`): one file per frame,
  named by the clip's frame number (index + the mask track's frame_base). Each file is
  written to a temporary name and renamed, so a killed task leaves whole frames only;
  `--skip-existing` then renders just the frames that are missing.
- **a chunk file** (any movie name): the range encoded as one file, written atomically
  by the pipeline; `--skip-existing` skips the task when the file exists.

Every frame is filled by the same segment of the clip-wide plan (`distributed.plan`)
whichever task renders it, so chunks rendered apart equal a one-process render:
outputs are idempotent. PNG and TIFF keep the decoded RGB code values (8 or 16 bit);
EXR stores the same code values as 32-bit float in [0, 1], with no colour transform.
"""

from __future__ import annotations

import glob
import os
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import InputError, MediaError, UsageError
from .progress import ProgressEvent

# Image formats for per-frame output: extension -> (PyAV encoder, pixel format by bit depth).
IMAGE_FORMATS = {
    ".png": ("png", {8: "rgb24", 16: "rgb48be"}),
    ".tif": ("tiff", {8: "rgb24", 16: "rgb48le"}),
    ".tiff": ("tiff", {8: "rgb24", 16: "rgb48le"}),
    ".exr": ("exr", {8: "gbrpf32le", 16: "gbrpf32le"}),
}
_PRINTF = re.compile(r"%0?(\d*)d")
_HASHES = re.compile(r"#+")


@dataclass(frozen=True)
class ChunkResult:
    """What a chunk task did: frames written now, frames already there and kept."""

    output: str
    frames: int
    skipped: int
    frame_range: tuple[int, int]  # clip frame numbers, inclusive
    seconds: float

    def summary(self) -> str:
        """The one-line summary `run` prints at the end of a chunk."""
        first, last = self.frame_range
        return (
            f"moebius-video: {self.output}: frames {first}-{last}: wrote {self.frames}, "
            f"kept {self.skipped} already there, {self.seconds:.1f} s"
        )


def is_frame_pattern(output: str | os.PathLike) -> bool:
    """True for per-frame outputs: `name.%04d.png` or `name.####.png`."""
    name = Path(os.fspath(output)).name
    return bool(_PRINTF.search(name) or _HASHES.search(name))


def frame_path(pattern: str | os.PathLike, number: int) -> Path:
    """The file of one frame: `shot.%04d.png` or `shot.####.png` with 1001 -> `shot.1001.png`."""
    pattern = os.fspath(pattern)
    folder, name = os.path.split(pattern)
    match = _PRINTF.search(name)
    if match is not None:
        width = int(match.group(1) or 0)
        name = name[: match.start()] + f"{number:0{width}d}" + name[match.end() :]
    else:
        match = _HASHES.search(name)
        name = name[: match.start()] + f"{number:0{len(match.group())}d}" + name[match.end() :]
    return Path(folder, name)


def render_chunk(
    input: str | os.PathLike,
    mask_track: str | os.PathLike | Mapping[str, Any],
    output: str | os.PathLike,
    options=None,
    skip_existing: bool = False,
    progress: Callable[[ProgressEvent], None] | None = None,
    on_segment: Callable[[Any], None] | None = None,
) -> ChunkResult:
    """Render `options.frames` (default: the whole clip) of one shot into `output`.

    Per-frame output when `output` is a frame pattern (see `is_frame_pattern`),
    otherwise one file through `inpaint_video`. With `skip_existing`, frames (or the
    chunk file) already on disk are kept and not rendered again. `on_segment` is
    called with each `distributed.SegmentResult` (per-frame output only).
    """
    from .pipeline import InpaintOptions, inpaint_video

    options = options or InpaintOptions()
    report = progress or (lambda event: None)
    began = time.perf_counter()
    if not is_frame_pattern(output):
        if skip_existing and Path(os.fspath(output)).exists():
            report(ProgressEvent("warning", message=f"{output}: exists, skipped (--skip-existing)"))
            first, last = options.frames or (0, -1)
            return ChunkResult(str(output), 0, 1, (first, last), time.perf_counter() - began)
        result = inpaint_video(input, mask_track, output, options, progress=progress)
        return ChunkResult(
            result.output, result.frames, 0, result.frame_range, time.perf_counter() - began
        )
    return _render_frames(
        input, mask_track, Path(os.fspath(output)), options, skip_existing, report, on_segment
    )


def _render_frames(
    input, mask_track, pattern: Path, options, skip_existing: bool, report, on_segment
) -> ChunkResult:
    from .distributed import clip_job, iter_patched_frames
    from .io import DecodedFrame, composite, open_video
    from .pipeline import index_range, load_track_for, warnings_as_events

    began = time.perf_counter()
    encoder = IMAGE_FORMATS.get(pattern.suffix.lower())
    if encoder is None:
        choices = ", ".join(IMAGE_FORMATS)
        raise UsageError(f"-o {pattern}: per-frame output must end in one of {choices}")
    if pattern.parent.exists() and not pattern.parent.is_dir():
        raise UsageError(f"-o {pattern}: {pattern.parent} is not a folder")
    input_path = Path(os.fspath(input))
    if not input_path.exists() and "%" not in input_path.name:
        raise InputError(f"{input_path}: no such file")

    # Warnings (a shot cut found in this chunk, a format note) become warning events.
    with warnings_as_events(report), open_video(input_path) as video:
        info = video.info
        track = load_track_for(mask_track, info)
        base = track.frame_base
        start, stop = index_range(options.frames, base, info.frame_count)
        paths = {i: frame_path(pattern, i + base) for i in range(start, stop)}
        existing = [i for i, p in paths.items() if p.exists()]
        if existing and not skip_existing and not options.overwrite:
            raise UsageError(
                f"-o {pattern}: {paths[existing[0]]} already exists "
                "(use --skip-existing to keep it, or -y to render it again)"
            )
        todo = [i for i in range(start, stop) if not (skip_existing and paths[i].exists())]
        _remove_stale_temps([paths[i] for i in todo])
        report(
            ProgressEvent(
                "started",
                total=len(todo),
                stats={"input": str(input_path), "output": str(pattern)},
            )
        )
        if skip_existing and len(todo) < stop - start:
            report(
                ProgressEvent(
                    "warning",
                    message=f"{stop - start - len(todo)} frames already exist, kept "
                    "(--skip-existing)",
                )
            )
        # Farm outputs go to per-shot folders that may not exist yet (as Nuke's Write does).
        pattern.parent.mkdir(parents=True, exist_ok=True)
        job = clip_job(input_path, mask_track, options, base, info.frame_count)
        written = 0
        for run_start, run_stop in _runs(todo):
            frames = video.frames(run_start, run_stop)
            for frame, patches in iter_patched_frames(
                job,
                frames,
                info.frame_count,
                run_start,
                run_stop,
                options.workers,
                options.ray_address,
                on_result=on_segment,
            ):
                # Without a source frame, io.composite blends in RGB and returns the array.
                rgb = composite(DecodedFrame(frame.index, frame.pts, frame.rgb, None), patches)
                write_image(paths[frame.index], rgb, encoder)
                written += 1
                report(
                    ProgressEvent(
                        "progress",
                        frame=written,
                        total=len(todo),
                        percent=100.0 * written / max(len(todo), 1),
                    )
                )
        if written != len(todo):
            raise MediaError(
                f"{input_path}: decoded {written} of the {len(todo)} frames to render in "
                f"{start}-{stop - 1}; the file looks truncated"
            )
    result = ChunkResult(
        output=str(pattern),
        frames=written,
        skipped=(stop - start) - len(todo),
        frame_range=(start + base, stop - 1 + base),
        seconds=time.perf_counter() - began,
    )
    report(
        ProgressEvent(
            "done",
            frame=written,
            total=len(todo),
            percent=100.0,
            message=f"moebius-video: wrote {written} frames to {pattern} "
            f"({result.skipped} already there), {result.seconds:.1f} s",
            stats={"output": str(pattern), "frames": written, "skipped": result.skipped},
        )
    )
    return result


def _runs(indices: list[int]) -> list[tuple[int, int]]:
    """Contiguous runs [start, stop) of sorted frame indices: the gaps are frames kept."""
    runs: list[tuple[int, int]] = []
    for index in indices:
        if runs and runs[-1][1] == index:
            runs[-1] = (runs[-1][0], index + 1)
        else:
            runs.append((index, index + 1))
    return runs


def _remove_stale_temps(paths: list[Path]) -> None:
    """Delete temp files that a killed task left for these frames (their writer is gone)."""
    for path in paths:
        for temp in path.parent.glob(glob.escape(path.name) + ".tmp-*"):
            pid = temp.name.rsplit(".tmp-", 1)[1]
            if pid.isdigit() and not _process_alive(int(pid)):
                temp.unlink(missing_ok=True)


def _process_alive(pid: int) -> bool:
    if os.name == "nt":  # os.kill would terminate the process there: assume it is alive
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def write_image(path: Path, rgb: np.ndarray, encoder: tuple[str, dict[int, str]]) -> None:
    """Encode one RGB frame with PyAV and write it atomically (temp file, then rename)."""
    import av

    codec_name, formats = encoder
    depth = 16 if rgb.dtype == np.uint16 else 8
    pix_fmt = formats[depth]
    if pix_fmt == "gbrpf32le":
        array = rgb.astype(np.float32) / float(np.iinfo(rgb.dtype).max)
    else:
        array = rgb
    # from_ndarray takes native-endian samples for both rgb48be and rgb48le.
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(array), format=pix_fmt)
    codec = av.CodecContext.create(codec_name, "w")
    codec.width, codec.height, codec.pix_fmt = rgb.shape[1], rgb.shape[0], pix_fmt
    data = b"".join(bytes(packet) for packet in [*codec.encode(frame), *codec.encode(None)])
    temp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    try:
        with open(temp, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp, path)
    finally:
        if temp.exists():
            temp.unlink()


# --- command line ---------------------------------------------------------------------------


def add_farm_options(parser) -> None:
    """The farm options of `moebius-video run` (a parser from `commands.run.build_parser`)."""
    parser.add_argument(
        "--skip-existing",
        action="store_true",
        help="keep output frames (or the chunk file) already on disk; render only what is "
        "missing (resume a killed farm task)",
    )


def wants_chunk_render(output: str, skip_existing: bool) -> bool:
    """True when `run` should go through `render_chunk`: per-frame files or --skip-existing."""
    return skip_existing or is_frame_pattern(output)
