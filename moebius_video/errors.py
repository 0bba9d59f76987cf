"""Errors a user can cause, each with the exit code the CLI returns for it.

Exit codes (documented in README.md, "Exit codes"):

| code | meaning |
|---|---|
| 0 | success |
| 1 | internal error (a bug: please report it with the traceback) |
| 2 | usage error: bad command-line arguments or options, output exists without -y |
| 3 | bad input: unreadable or invalid media, mask track, request or job file |
| 4 | some shots of a batch failed (the others finished) |
| 75 | retryable failure (out of memory, worker lost): running again may succeed |
| 130 | interrupted (Ctrl-C) |

Messages name what and where: the file, the JSON path, the frame.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_USAGE = 2
EXIT_BAD_INPUT = 3
EXIT_BATCH_PARTIAL = 4
EXIT_RETRYABLE = 75
EXIT_INTERRUPTED = 130


class MoebiusVideoError(Exception):
    """Base class of every error meant for the user, not for a traceback."""

    exit_code = EXIT_INTERNAL
    code = "internal"


class UsageError(MoebiusVideoError):
    """The command line or the options are wrong (exit 2)."""

    exit_code = EXIT_USAGE
    code = "usage"


# How the CLI spells an option (an InpaintOptions field, or "output"); others are --field-name.
CLI_FLAGS = {"codec": "-c:v", "overwrite": "-y/--overwrite", "output": "-o"}


def cli_flag(field: str) -> str:
    """`keyframe_interval` -> `--keyframe-interval`, `codec` -> `-c:v`."""
    return CLI_FLAGS.get(field, "--" + field.replace("_", "-"))


class OptionError(UsageError):
    """A bad value for one option (exit 2). `field`: the InpaintOptions field (or "output");
    `detail`: the message after the option's name (": expected ...", " out.mp4: exists").

    str() words it the CLI's way (`--crf: expected ...`); the hook words the same error with
    its request keys (`crf: ...`, `options.window: ...`). `where` prefixes both (a job-file
    entry)."""

    def __init__(self, field: str, detail: str, where: str | None = None):
        self.field, self.detail, self.where = field, detail, where
        super().__init__((f"{where}: " if where else "") + cli_flag(field) + detail)

    def reworded(self, message: str) -> OptionError:
        """The same error (class, field, detail) with another message: the hook's words."""
        other = Exception.__new__(type(self))  # not copy.copy: it calls __init__ with args
        other.__dict__.update(self.__dict__)
        other.args = (message,)
        return other


class OutputExistsError(OptionError):
    """An output (`-o`, `--save-debug`) exists and the run was not told to replace it (exit 2).

    `detail` says only that it exists; the CLI adds "use -y", the hook its "overwrite" key."""

    code = "output_exists"

    def __init__(self, field: str, path: object, where: str | None = None):
        super().__init__(field, f" {path}: already exists", where)
        self.args = (self.args[0] + " (use -y to overwrite it)",)


class InputError(MoebiusVideoError):
    """An input file or request is missing, unreadable or invalid (exit 3)."""

    exit_code = EXIT_BAD_INPUT
    code = "bad_input"


class MediaError(InputError):
    """A video or image sequence cannot be decoded as needed."""

    code = "bad_media"


class MaskTrackError(InputError):
    """A mask track is invalid; the message starts with the file and JSON path."""

    code = "bad_mask_track"


class ModelError(InputError):
    """A checkpoint is missing, truncated or does not match the network."""

    code = "bad_model"


class RetryableError(MoebiusVideoError):
    """A failure that may pass on a second try (exit 75)."""

    exit_code = EXIT_RETRYABLE
    code = "retryable"
