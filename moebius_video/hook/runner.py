"""Running a checked hook request through the same API as the CLI: `inpaint_video`."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from ..errors import OptionError, OutputExistsError, UsageError
from ..progress import ProgressCallback, ProgressEvent
from .request import CORE_KEYS, HookRequest, RequestError


def run_request(request: HookRequest, progress: ProgressCallback | None = None) -> Any:
    """Clean `request.input` into `request.output`; returns the `InpaintResult`.

    Progress, warnings and the final `done` reach `progress` as `ProgressEvent`s. The `done`
    stats hold `frame_indices`: the 0-based input frames the output holds, which is what an
    editor needs to line the result up with its source.
    """
    # Imported here so that reading and checking a request stays cheap (no torch, no av).
    from ..api import inpaint_video
    from ..options import InpaintOptions

    mask_track = request.mask_track
    if isinstance(mask_track, dict):
        mask_track = inline_track_with_absolute_paths(mask_track, request.base_dir)

    def report(event: ProgressEvent) -> None:
        if progress is not None:
            progress(event)

    try:
        options = InpaintOptions.from_mapping(request.options, where="options")
        return inpaint_video(
            request.input, mask_track, request.output, options=options, progress=report
        )
    except OptionError as exc:
        # The same error as the CLI's, named by the request's own key instead of an option.
        message = f"{request.source}: {request_key(exc.field)}{exc.detail}"
        if isinstance(exc, OutputExistsError):
            raise exc.reworded(message + ' (set "overwrite": true to replace it)') from None
        if exc.field == "output":
            # The hook protocol (HOOK.md) calls a bad output path a bad request (exit 3).
            raise RequestError(message) from None
        raise exc.reworded(message) from None
    except UsageError as exc:
        raise type(exc)(f"{request.source}: {exc}") from None


# Options a request sets at its top level (the request's own keys, less those that are
# not InpaintOptions fields); the others live under "options".
TOP_LEVEL_KEYS = tuple(
    k for k in CORE_KEYS if k not in ("version", "input", "mask_track", "options")
)


def request_key(field: str) -> str:
    """Where a request holds an option: `crf` -> `crf`, `window` -> `options.window`."""
    return field if field in TOP_LEVEL_KEYS else f"options.{field}"


def inline_track_with_absolute_paths(track: dict[str, Any], base_dir: Path) -> dict[str, Any]:
    """A copy of an inline mask track whose relative raster paths start at `base_dir`.

    In a track file, relative paths are relative to the file; an inline track has no file, so
    its paths are relative to the request (its folder, or the current folder for stdin).
    Anything malformed is left as it is, for the masks module to report with its JSON path.
    """
    track = copy.deepcopy(track)
    for entry in track.get("tracks", []) if isinstance(track.get("tracks"), list) else []:
        source = entry.get("source") if isinstance(entry, dict) else None
        path = source.get("path") if isinstance(source, dict) else None
        if isinstance(path, str) and path and not Path(path).is_absolute():
            source["path"] = str(base_dir / path)
    return track
