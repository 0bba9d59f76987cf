"""`moebius-video hook REQUEST.json` (or `-` for stdin): one job for an editor plug-in.

The request is JSON (plugins/HOOK.md, schema in moebius_video/hook/request.schema.json); the
answer is JSON lines on stdout, one event per line: `started`, `progress`, `warning`, then
exactly one `done` or `error` as the last line. Exit codes are the CLI's (moebius_video.errors).
Everything else the run prints goes to stderr, so stdout stays machine-readable.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
from collections.abc import Iterator, Mapping, Sequence

from ..errors import EXIT_OK, UsageError
from ..hook import ROOTS_ENV, read_request, request_schema, run_request
from ..progress import JsonReporter


class _EventParser(argparse.ArgumentParser):
    """Argument mistakes raise UsageError, so that a plug-in reading events gets an `error`
    event, not only argparse's usage text on stderr."""

    def error(self, message: str):  # type: ignore[override]
        usage = self.format_usage().strip().removeprefix("usage: ")
        raise UsageError(f"hook: {message} (usage: {usage})")


def build_parser() -> argparse.ArgumentParser:
    parser = _EventParser(
        prog="moebius-video hook",
        description=(
            "Run one job described by a JSON request and report JSON-lines events on stdout "
            "(the protocol editor plug-ins speak; see plugins/HOOK.md)."
        ),
    )
    parser.add_argument(
        "request",
        nargs="?",
        help="request file (JSON), or - to read it from stdin",
    )
    parser.add_argument(
        "--root",
        action="append",
        metavar="DIR",
        help="the folders a request may read and write (repeatable; default: "
        f"${ROOTS_ENV}, else the request file's own folder): a path outside them is refused",
    )
    parser.add_argument(
        "--print-schema",
        action="store_true",
        help="print the JSON Schema of requests and exit",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the hook; returns the exit code (see moebius_video.errors)."""
    from .guard import guarded

    parser = build_parser()
    # Events go to the real stdout; anything else printed during the run goes to stderr.
    events = JsonReporter(stdout=sys.stdout, stderr=sys.stderr)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help: argparse has printed it
        return int(exc.code or 0)
    except UsageError as exc:
        error = exc

        def refuse() -> int:
            raise error

        return guarded(refuse, events)
    if args.print_schema:

        def schema() -> int:
            print(json.dumps(request_schema(), indent=2), flush=True)
            return EXIT_OK

        return guarded(schema)  # `--print-schema | head` is no traceback

    def run() -> int:
        if args.request is None:
            raise UsageError("hook: give a request file, or - to read the request from stdin")
        if args.request == "-" and sys.stdin is not None and sys.stdin.isatty():
            raise UsageError("hook -: stdin is a terminal; pipe a request in or give a file")
        request = read_request(args.request, roots=hook_roots(args.root))
        for message in request.warnings:
            events.warning(message)
        result = run_request(request, progress=events)
        events.summary(result.summary())  # stderr: stdout carries only events
        return EXIT_OK

    with contextlib.redirect_stdout(sys.stderr), _sigterm_raises_interrupt():
        return guarded(run, events)


def hook_roots(
    cli_roots: Sequence[str] | None, environ: Mapping[str, str] = os.environ
) -> list[str]:
    """The folders requests are confined to: --root, else $MOEBIUS_VIDEO_HOOK_ROOTS (split
    like PATH); empty means the request's own folder."""
    if cli_roots:
        return list(cli_roots)
    return [part for part in environ.get(ROOTS_ENV, "").split(os.pathsep) if part]


@contextlib.contextmanager
def _sigterm_raises_interrupt() -> Iterator[None]:
    """A host cancels with SIGTERM; unwinding like Ctrl-C lets the writer drop its temp file."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    # `python -m moebius_video.commands.hook REQUEST` for hosts that hold a Python interpreter
    # rather than the console script.
    sys.exit(main(sys.argv[1:]))
