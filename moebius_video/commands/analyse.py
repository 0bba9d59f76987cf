"""`moebius-video analyse INPUT --mask-track TRACK [-o SIDECAR]`: a shot's analysis, once.

A thin shell over `moebius_video.api.analyse_shot`: the first task of a farm job, whose
sidecar every chunk then reads with `--analysis SIDECAR` (see shot_files.py). The options
that change the analysis (--shot-cuts, --frame-numbers, --allow-damaged) must be the
chunks' own, or the chunks refuse the sidecar (exit 2).
"""

from __future__ import annotations

import sys

from ..options import FRAME_NUMBERS
from ..progress import PROGRESS_MODES
from .run import ArgumentParser, _fps, options_from_args, run_reported


def build_parser(prog: str = "moebius-video analyse") -> ArgumentParser:
    parser = ArgumentParser(
        prog=prog,
        description="Analyse a whole shot once (camera motion, masks, cuts) into a sidecar"
        " file that every farm task reads with --analysis.",
        allow_abbrev=False,
        epilog="exit codes: 0 ok, 1 internal error, 2 usage, 3 bad input, 75 retryable, "
        "130 interrupted",
    )
    parser.add_argument("input", metavar="INPUT", help="clip, image sequence pattern or folder")
    parser.add_argument(
        "--mask-track", required=True, metavar="TRACK", help="mask track JSON, PNG(s) or matte"
    )
    parser.add_argument(
        "-o",
        "--output",
        metavar="SIDECAR",
        help="the sidecar to write (default: INPUT's name + .analysis.npz, beside it)",
    )
    parser.add_argument(
        "--shot-cuts",
        metavar="auto|none|N,N",
        help="the frame numbers that start a new shot, as the chunks give them",
    )
    parser.add_argument(
        "--frame-numbers", choices=FRAME_NUMBERS, help="how --shot-cuts numbers frames"
    )
    parser.add_argument("--fps", type=_fps, metavar="RATE", help="an image sequence's rate")
    parser.add_argument(
        "--allow-damaged",
        action="store_true",
        default=None,
        help="go on through damage in the input (the chunks must say so too)",
    )
    parser.add_argument(
        "-y", "--overwrite", action="store_true", default=None, help="replace an existing sidecar"
    )
    parser.add_argument("--progress", choices=PROGRESS_MODES, help="bar, plain, openjd, json")
    return parser


def main(argv: list[str]) -> int:
    def run(reporter) -> int:
        from ..api import analyse_shot

        ns = build_parser().parse_args(argv)
        result = analyse_shot(
            ns.input, ns.mask_track, ns.output, options_from_args(ns), progress=reporter
        )
        reporter.summary(result.summary())
        return 0

    return run_reported(argv, run)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
