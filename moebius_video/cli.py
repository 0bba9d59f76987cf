"""The `moebius-video` command: dispatch to one module per subcommand.

    moebius-video INPUT --mask-track TRACK -o OUTPUT [options]   (same as `run`)
    moebius-video run|analyse|models|batch|hook ...

Each subcommand is `moebius_video.commands.<name>.main(argv) -> int`, imported only
when used, so `moebius-video hook` does not pay for torch. Errors a user caused print
one line, `moebius-video: error: ...`, and exit with their code (see errors.py); a
bug prints its traceback and exits 1; Ctrl-C (or SIGTERM from a farm) exits 130 and
leaves no partial output; so does SIGHUP, unless the parent ignored it (nohup).
"""

from __future__ import annotations

import importlib
import signal
import sys
from collections.abc import Sequence

from . import __version__
from .allocator import limit_allocator_retention
from .errors import EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE

SUBCOMMANDS = {
    "run": "clean one clip (the default when the first argument is not a subcommand)",
    "analyse": "analyse a shot once, for the tasks of a farm job (--analysis)",
    "models": "list, pull and import model checkpoints",
    "batch": "run a job file of many shots",
    "hook": "run one JSON request and answer in JSON lines (for NLE plugins)",
}

USAGE = """\
usage: moebius-video INPUT --mask-track TRACK -o OUTPUT [options]
       moebius-video {run,analyse,models,batch,hook} ...

Remove wires, rigs and objects from footage; only masked pixels change.

subcommands:
%s

`moebius-video run --help` lists the options of a run.
exit codes: 0 ok, 1 internal error, 2 usage, 3 bad input, 4 batch partly failed,
            75 retryable, 130 interrupted
"""


def _terminate(signum, frame) -> None:
    # A farm stops a task with SIGTERM, a closed terminal sends SIGHUP: unwind like Ctrl-C,
    # so writers delete their temp files.
    raise KeyboardInterrupt


def _install_stop_signals() -> dict[int, object]:
    """SIGTERM and SIGHUP interrupt the run like Ctrl-C (whatever SIGINT's disposition:
    nohup and background shells ignore SIGINT, and SIGTERM must still stop us). A SIGHUP
    the parent chose to ignore (nohup) stays ignored. Returns the previous handlers."""
    previous: dict[int, object] = {}
    for name in ("SIGTERM", "SIGHUP"):
        number = getattr(signal, name, None)
        if number is None:  # Windows has no SIGHUP
            continue
        try:
            if number == getattr(signal, "SIGHUP", None):
                if signal.getsignal(number) is signal.SIG_IGN:
                    continue
            previous[number] = signal.signal(number, _terminate)
        except ValueError:  # not the main thread (an embedding host): leave signals alone
            break
    return previous


def main(argv: Sequence[str] | None = None) -> int:
    previous = _install_stop_signals()
    try:
        return _main(argv)
    except KeyboardInterrupt:  # before or after a subcommand's own guard
        print("moebius-video: interrupted", file=sys.stderr, flush=True)
        return EXIT_INTERRUPTED
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def _main(argv: Sequence[str] | None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        lines = "\n".join(f"  {name:8} {text}" for name, text in SUBCOMMANDS.items())
        print(USAGE % lines, end="", file=sys.stdout if argv else sys.stderr)
        return EXIT_OK if argv else EXIT_USAGE
    if argv[0] == "--version":
        print(f"moebius-video {__version__}")
        return EXIT_OK

    name, rest = (argv[0], argv[1:]) if argv[0] in SUBCOMMANDS else ("run", argv)
    limit_allocator_retention()  # flat memory over long clips (allocator.py)
    module_name = f"moebius_video.commands.{name}"
    try:
        command = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        print(f"moebius-video: error: {name}: not available in this build", file=sys.stderr)
        return EXIT_USAGE
    try:
        return command.main(rest)
    except SystemExit as exc:  # argparse's --help and errors inside subcommands
        return exc.code if isinstance(exc.code, int) else (EXIT_OK if exc.code is None else 1)


if __name__ == "__main__":
    sys.exit(main())
