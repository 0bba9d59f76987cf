"""`moebius-video [run] INPUT --mask-track TRACK -o OUTPUT [options]`: clean one clip.

A thin shell over `moebius_video.inpaint_video`. `build_parser()` and
`options_from_args()` are shared with `batch`, so a job file and the command line
accept the same options under the same names.
"""

from __future__ import annotations

import argparse
import sys

from ..errors import UsageError
from ..farm import add_farm_options
from ..io.codecs import CODECS
from ..options import FRAME_NUMBERS, InpaintOptions, parse_fps, parse_frame_range
from ..progress import PROGRESS_MODES, make_reporter
from ..temporal.settings import TemporalOptions


class ArgumentParser(argparse.ArgumentParser):
    """argparse that raises UsageError (exit 2) instead of exiting, so errors print alike."""

    def error(self, message: str):  # type: ignore[override]
        raise UsageError(f"{message} (see {self.prog} --help)")


def _frames(text: str) -> tuple[int, int]:
    try:
        return parse_frame_range(text)
    except UsageError as exc:
        # argparse reports ArgumentTypeError as "argument --frames: <message>".
        raise argparse.ArgumentTypeError(str(exc).removeprefix("--frames: ")) from None


def _fps(text: str):
    try:
        return parse_fps(text)
    except UsageError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("--fps: ")) from None


def _on_off(text: str) -> bool:
    if text.lower() in ("on", "true", "yes", "1"):
        return True
    if text.lower() in ("off", "false", "no", "0"):
        return False
    raise argparse.ArgumentTypeError(f"expected on or off, got {text!r}")


def add_inpaint_options(parser: argparse.ArgumentParser) -> None:
    """The options of one run (everything but INPUT, --mask-track and -o)."""
    out = parser.add_argument_group("output")
    out.add_argument(
        "-c:v",
        "--codec",
        dest="codec",
        metavar="CODEC",
        help="video codec: "
        + "; ".join(f"{c.name} = {c.description}" for c in CODECS.values())
        + ". Default: png for an image-sequence output, libx264 otherwise",
    )
    out.add_argument("--crf", type=int, metavar="N", help="x264 quality, 0-51 (default 16)")
    out.add_argument(
        "--frames",
        type=_frames,
        metavar="FIRST-LAST",
        help="only these frames, inclusive, in the clip's frame numbers (e.g. 1001-1100; see"
        " --frame-numbers)",
    )
    out.add_argument(
        "--frame-indices",
        type=_frames,
        metavar="FIRST-LAST",
        help="only these frames, as 0-based input indices (instead of --frames)",
    )
    out.add_argument(
        "--frame-numbers",
        choices=FRAME_NUMBERS,
        help="how frames are numbered for --frames, --shot-cuts and output names: by the"
        " input's file names (file, the default for sequences) or index + the mask track's"
        " frame_base (track, the default for movies)",
    )
    out.add_argument(
        "--fps",
        type=_fps,
        metavar="RATE",
        help="frame rate of an image-sequence input: 24 (default), 25, 23.976, 24000/1001",
    )
    out.add_argument(
        "-y", "--overwrite", action="store_true", default=None, help="replace an existing output"
    )

    fill = parser.add_argument_group("fill")
    fill.add_argument("--device", metavar="auto|cpu|cuda", help="where the model runs")
    fill.add_argument(
        "--precision",
        metavar="float32|bfloat16|float16",
        help="the model's float type (default float32 on CPU, float16 on CUDA)",
    )
    fill.add_argument("--model", metavar="NAME", help="filler: a registered model, or opencv")
    fill.add_argument("--weights", metavar="PATH", help="a model checkpoint file")
    fill.add_argument(
        "--temporal",
        type=_on_off,
        metavar="on|off",
        help="flow-guided temporal fill (on, default) or a per-frame fill (off)",
    )
    core = TemporalOptions()  # the defaults the help shows are the core's own
    fill.add_argument(
        "--window", type=int, metavar="N", help=f"frames per temporal window ({core.window})"
    )
    fill.add_argument(
        "--context",
        type=int,
        metavar="N",
        help=f"context frames read on each side of a window ({core.context})",
    )
    fill.add_argument(
        "--keyframe-interval",
        type=int,
        metavar="N",
        help=f"frames between generated fills of never-seen pixels ({core.keyframe_interval})",
    )
    fill.add_argument(
        "--flow-quality",
        metavar="QUALITY",
        help="optical flow preset: fast, balanced (default) or high; fast skips the second"
        " and third flow passes (about 1.5x faster, more flicker on moving footage)",
    )
    fill.add_argument(
        "--shot-cuts",
        metavar="auto|none|N,N",
        help="shot cuts: found in the footage (auto, default), none, or the frame numbers"
        " that start a new shot; nothing is carried across a cut",
    )
    fill.add_argument(
        "--shot-pull",
        type=_on_off,
        metavar="on|off",
        help="take real background from anywhere in the shot, aligned by camera motion"
        " (on, default; costs one more pass over the clip), or only from nearby frames (off)",
    )
    fill.add_argument(
        "--analysis",
        metavar="SIDECAR",
        help="read the shot analysis from this file (written by `moebius-video analyse`)"
        " instead of analysing the whole shot, and share the windows this run fills with the"
        " shot's other farm tasks in a folder beside it",
    )
    fill.add_argument("--save-debug", metavar="PATH", help="write a debug preview here")
    fill.add_argument(
        "--save-debug-scale",
        type=float,
        metavar="S",
        help="the preview's size against the frame (1 = full resolution, default; 0.5 = "
        "half); its panels show only the masks' region when that is small",
    )
    fill.add_argument(
        "--allow-damaged",
        action="store_true",
        default=None,
        help="go on through damage in the input's video stream (the decoder conceals it) and"
        " list the damaged frames; by default damage stops the run with exit 3",
    )
    fill.add_argument(
        "--strict",
        action="store_true",
        default=None,
        help="fail (exit 2) instead of warning where the output would lose part of the"
        " source, such as an alpha channel the output codec cannot hold",
    )

    scale = parser.add_argument_group("scale out")
    scale.add_argument("--workers", type=int, metavar="N", help="Ray workers (default 1: no Ray)")
    scale.add_argument("--ray-address", metavar="ADDR", help="join this Ray cluster")

    parser.add_argument(
        "--progress",
        choices=PROGRESS_MODES,
        help="bar (default on a terminal), plain (`Progress: N%%`), openjd, json (events)",
    )


def build_parser(prog: str = "moebius-video") -> ArgumentParser:
    parser = ArgumentParser(
        prog=prog,
        description="Remove wires, rigs and objects from a clip: only masked pixels change.",
        allow_abbrev=False,
        epilog="exit codes: 0 ok, 1 internal error, 2 usage, 3 bad input, 75 retryable, "
        "130 interrupted",
    )
    parser.add_argument("input", metavar="INPUT", help="clip, image sequence pattern or folder")
    parser.add_argument(
        "--mask-track", required=True, metavar="TRACK", help="mask track JSON, PNG(s) or matte"
    )
    parser.add_argument("-o", "--output", required=True, metavar="OUTPUT", help="output path")
    add_inpaint_options(parser)
    add_farm_options(parser)
    return parser


def options_from_args(ns: argparse.Namespace, base: InpaintOptions | None = None) -> InpaintOptions:
    """InpaintOptions from parsed arguments; options not given keep `base`'s values."""
    given = {
        name: getattr(ns, name)
        for name in InpaintOptions.__dataclass_fields__
        if getattr(ns, name, None) is not None
    }
    return (base or InpaintOptions()).replace(**given)


def progress_mode_in(argv: list[str]) -> str | None:
    """The --progress value, found without parsing (to report a parse error as JSON)."""
    for i, arg in enumerate(argv):
        if arg == "--progress" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--progress="):
            return arg.split("=", 1)[1]
    return None


def run_reported(argv: list[str], body) -> int:
    """Run `body(reporter)` under `guarded`, with the reporter --progress asks for (found
    before parsing, so that a parse error reaches a JSON-lines reader too)."""
    from .guard import guarded

    mode = progress_mode_in(argv)
    reporter = make_reporter(mode if mode in PROGRESS_MODES else None)
    return guarded(lambda: body(reporter), reporter)


def main(argv: list[str]) -> int:
    def run(reporter) -> int:
        from ..api import inpaint_video, render_chunk
        from ..farm import wants_chunk_render

        ns = build_parser().parse_args(argv)
        options = options_from_args(ns)
        if wants_chunk_render(ns.output, ns.skip_existing):
            # Per-frame files, each written atomically, resumable with --skip-existing.
            result = render_chunk(
                ns.input,
                ns.mask_track,
                ns.output,
                options,
                skip_existing=ns.skip_existing,
                progress=reporter,
            )
        else:
            result = inpaint_video(ns.input, ns.mask_track, ns.output, options, progress=reporter)
        reporter.summary(result.summary())
        return 0

    return run_reported(argv, run)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
