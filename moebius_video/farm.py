"""Render-farm chunks: one farm task renders frames FIRST-LAST of a shot, resumably.

    moebius-video plate.mov --mask-track wires.json -o clean/plate.%04d.png \\
        --frames 1001-1100 --skip-existing --progress plain

Deadline, OpenCue, Tractor or OpenJD split a shot into such tasks (`api.render_chunk`).
Two kinds of output:

- **per-frame files** (`shot.%04d.png`, `shot.####.exr`, `.tif`): one file per frame,
  named by the clip's frame number (a sequence input's file numbers, else index + the
  mask track's frame_base; see `api.frame_numbering`), written by
  the one image-sequence writer (`io.FrameFileWriter`). Each file is written to a
  temporary name and renamed, so a killed task leaves whole frames only;
  `--skip-existing` then renders just the frames that are missing.
- **a chunk file** (any movie name): the range encoded as one file, written atomically;
  `--skip-existing` skips the task when the file exists.

The window grid is fixed on absolute frame numbers (`temporal.grid`), so chunks
rendered apart equal a one-process render: outputs are idempotent.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from .paths import is_image_pattern


@dataclass(frozen=True)
class ChunkResult:
    """What a chunk task did: frames written now, frames already there and kept.
    run: the render's own result (`api.InpaintResult`), None when the task was skipped
    whole (a chunk file already there)."""

    output: str
    frames: int
    skipped: int
    frame_range: tuple[int, int]  # clip frame numbers, inclusive
    seconds: float
    run: Any = None

    def summary(self) -> str:
        """The one-line summary `run` prints at the end: the same line as any run's."""
        if self.run is not None:
            return self.run.summary()
        return (
            f"moebius-video: kept {self.output}: it exists and decodes whole "
            f"(--skip-existing); 0 frames written, {self.seconds:.1f} s"
        )


def add_farm_options(parser) -> None:
    """The farm options of `moebius-video run` (a parser from `commands.run.build_parser`)."""
    parser.add_argument(
        "--skip-existing",
        action="store_true",
        help="keep output frames (or the chunk file) already on disk; render only what is "
        "missing (resume a killed farm task)",
    )


def wants_chunk_render(output: str | os.PathLike, skip_existing: bool) -> bool:
    """True when `run` reports as a farm chunk: per-frame files or --skip-existing."""
    return skip_existing or is_image_pattern(output)
