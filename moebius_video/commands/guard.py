"""How every subcommand ends: what it raised becomes one message and an exit code."""

from __future__ import annotations

import errno
import os
import sys
import traceback
from collections.abc import Callable

from ..errors import EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_RETRYABLE, MoebiusVideoError

# Errors of the storage, not of the run: disk full, quota, read-only file system.
STORAGE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS})


def guarded(body: Callable[[], int], reporter=None) -> int:
    """Run a command body and turn what it raises into an exit code and one message.

    `reporter` (a progress reporter) also gets the error, so JSON-lines readers see it.
    """
    try:
        return body()
    except MoebiusVideoError as exc:
        _report_error(reporter, exc.code, exc.exit_code, str(exc))
        print(f"moebius-video: error: {exc}", file=sys.stderr, flush=True)
        return exc.exit_code
    except BrokenPipeError:
        # Whoever read our stdout went away (`| head`, a host that cancelled): stop like
        # Ctrl-C, and keep Python from failing again when it flushes stdout at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        print("moebius-video: stdout was closed; stopped", file=sys.stderr, flush=True)
        return EXIT_INTERRUPTED
    except OSError as exc:
        if exc.errno not in STORAGE_ERRNOS:
            return _internal(exc, reporter)
        # The disk, not the input: free space (or make the folder writable) and run again.
        where = f"{exc.filename}: " if exc.filename else ""
        message = (
            f"{where}{exc.strerror or exc}: the output could not be written (no partial file "
            "is left); run again once there is room, or the folder is writable"
        )
        _report_error(reporter, "storage", EXIT_RETRYABLE, message)
        print(f"moebius-video: error: {message}", file=sys.stderr, flush=True)
        return EXIT_RETRYABLE
    except KeyboardInterrupt:
        _report_error(reporter, "interrupted", EXIT_INTERRUPTED, "interrupted")
        print("moebius-video: interrupted", file=sys.stderr, flush=True)
        return EXIT_INTERRUPTED
    except Exception as exc:
        return _internal(exc, reporter)


def _internal(exc: BaseException, reporter) -> int:
    # A bug, not a user mistake: the traceback is what a bug report needs.
    traceback.print_exception(exc)
    message = f"{type(exc).__name__}: {exc}"
    _report_error(reporter, "internal", EXIT_INTERNAL, message)
    print(
        f"moebius-video: internal error: {message} (please report it with the traceback)",
        file=sys.stderr,
        flush=True,
    )
    return EXIT_INTERNAL


def _report_error(reporter, code: str, exit_code: int, message: str) -> None:
    if reporter is None:
        return
    try:
        reporter.error(code, exit_code, message)
    except OSError:  # stdout already gone: the stderr line still tells the user
        pass
