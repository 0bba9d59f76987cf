"""`moebius-video batch JOBS.yaml`: run every shot of a job file, then print a summary table.

One failing shot does not stop the others; the exit code is 0 when every shot
succeeded, 4 when any failed (3 for a job file that is invalid as a whole, 2 for a
bad command line). Progress: `Progress: NN%` (or `openjd_progress: NN`) lines count
frames over the whole batch; a line per shot says when it starts and how it ended;
`--progress json` adds `shot`, `shot_index`, `shot_count` and `shot_percent` to each
progress event. When any shot runs on Ray, the cluster is started (or joined) once
for the whole batch.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from ..batch import JobFileError
from ..errors import EXIT_OK, MoebiusVideoError, UsageError
from ..progress import PROGRESS_MODES, JsonReporter, ProgressEvent, Reporter, make_reporter
from .run import progress_mode_in


class _ArgumentParser(argparse.ArgumentParser):
    def error(self, message: str):  # type: ignore[override]
        raise UsageError(f"{message} (see {self.prog} --help)")


def build_parser() -> argparse.ArgumentParser:
    parser = _ArgumentParser(
        prog="moebius-video batch",
        description="Run the shots of a YAML or JSON job file; one summary table at the end.",
        allow_abbrev=False,
        epilog="exit codes: 0 all shots ok, 2 usage, 3 invalid job file, 4 some shots failed, "
        "130 interrupted",
    )
    parser.add_argument("jobs", metavar="JOBS", help="job file (.yaml, .yml or .json)")
    parser.add_argument(
        "--workers", type=int, metavar="N", help="Ray workers for every shot (overrides the file)"
    )
    parser.add_argument("--ray-address", metavar="ADDR", help="join this Ray cluster")
    parser.add_argument(
        "--progress",
        choices=PROGRESS_MODES,
        help="bar (default on a terminal), plain (`Progress: N%%`), openjd, json (events)",
    )
    parser.add_argument(
        "--check", action="store_true", help="only validate the job file and list its shots"
    )
    return parser


class BatchReporter:
    """Forwards batch-wide events to a reporter and adds a line per shot."""

    def __init__(self, reporter: Reporter):
        self.reporter = reporter
        self._current: int | None = None
        self._count = 0

    def __call__(self, event: ProgressEvent) -> None:
        stats = dict(event.stats)
        shot = stats.get("shot_index")
        if event.kind == "progress" and shot is not None and shot != self._current:
            self._current, self._count = shot, stats["shot_count"]
            self._line(f"shot {shot + 1}/{stats['shot_count']} {stats['shot']}: started")
        if isinstance(self.reporter, JsonReporter) and event.kind == "progress":
            self.reporter.emit(
                "progress",
                percent=round(event.percent, 1),
                frame=event.frame,
                total=event.total,
                **stats,
            )
            return
        self.reporter(event)

    def shot_done(self, outcome) -> None:
        shot = outcome.shot
        took = f"{outcome.seconds:.1f} s"
        if outcome.ok:
            how = "skipped (exists)" if outcome.skipped else f"done, {outcome.frames} frames"
            how += f" in {took}"
        else:
            how = f"FAILED (exit {outcome.exit_code}) after {took}: {outcome.message}"
        line = f"shot {shot.number + 1}/{self._count} {shot.name}: {how}"
        if isinstance(self.reporter, JsonReporter):
            self.reporter.emit(
                "shot",
                shot=shot.name,
                shot_index=shot.number,
                status="ok" if outcome.ok else "failed",
                exit_code=outcome.exit_code,
                frames=outcome.frames,
                output=shot.output,
                message=outcome.message,
            )
        else:
            self._line(line)

    def _line(self, text: str) -> None:
        if not isinstance(self.reporter, JsonReporter):
            self.reporter.end_line()  # the bar: finish its line first
            print(f"moebius-video batch: {text}", file=self.reporter.err, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    from .guard import guarded

    argv = list(sys.argv[1:] if argv is None else argv)
    mode = progress_mode_in(argv)
    reporter = make_reporter(mode if mode in PROGRESS_MODES else None)

    def run() -> int:
        from ..api import render_chunk
        from ..batch import batch_exit_code, load_job_file, run_batch, summary_table

        ns = build_parser().parse_args(argv)
        overrides: dict[str, Any] = {}
        if ns.workers is not None:
            overrides["workers"] = ns.workers
        if ns.ray_address is not None:
            overrides["ray_address"] = ns.ray_address
        shots = load_job_file(ns.jobs)
        if overrides:
            shots = [_override(shot, overrides) for shot in shots]
        if ns.check:
            return _check(shots)
        batch_reporter = BatchReporter(reporter)
        with _shared_ray(shots):
            outcomes = run_batch(
                shots, render_chunk, progress=batch_reporter, on_shot=batch_reporter.shot_done
            )
        reporter.summary(summary_table(outcomes))
        return batch_exit_code(outcomes)

    return guarded(run, reporter)


def _check(shots) -> int:
    """`--check`: list the shots; each input must open as media and its mask track load
    against it. Exit 3 when any cannot, with a line per problem."""
    from ..api import check_inputs

    problems = 0
    for shot in shots:
        print(f"{shot.number}\t{shot.name}\t{shot.input} -> {shot.output}", flush=True)
        try:
            check_inputs(shot.input, shot.mask_track, shot.options)
        except MoebiusVideoError as error:
            problems += 1
            print(f"moebius-video batch: shot {shot.name}: {error}", file=sys.stderr)
    if problems:
        raise JobFileError(f"{problems} of {len(shots)} shots cannot run (above)")
    return EXIT_OK


def _override(shot, overrides: dict[str, Any]):
    import dataclasses

    return dataclasses.replace(shot, options=shot.options.replace(**overrides))


class _shared_ray:
    """Start (or join) Ray once for the batch when any shot needs it, so shots share it."""

    def __init__(self, shots):
        from ..distributed import uses_ray

        ray_shots = [s for s in shots if uses_ray(s.options.workers, s.options.ray_address)]
        self.address = next(
            (s.options.ray_address for s in ray_shots if s.options.ray_address), None
        )
        self.cpus = max((s.options.workers for s in ray_shots), default=0)
        self.needed = bool(ray_shots)
        self.started = False

    def __enter__(self):
        if not self.needed:
            return self
        from ..distributed import require_ray

        require_ray(self.cpus, self.address)
        from ..distributed.ray_runner import connect

        self.started = connect(self.address, self.cpus)
        return self

    def __exit__(self, *exc_info) -> None:
        if self.started:
            import ray

            ray.shutdown()
