"""Batch jobs: many shots from one YAML or JSON file, one summary at the end.

A job file:

    defaults:                 # optional; any option of `moebius-video run`
      codec: prores_ks
      workers: 4
    shots:
      - input: plates/sh010.mov
        mask_track: tracks/sh010_wires.json
        output: clean/sh010.mov
        frames: 1001-1100     # per-shot options override the defaults
      - {input: plates/sh020.mov, mask_track: tracks/sh020.json, output: clean/sh020.mov}

Option keys are the command-line option names without the dashes (`crf`,
`frames`, `keyframe-interval` or `keyframe_interval`, `c:v` or `codec`, `y` or
`overwrite`), plus `name` (shown in the summary) and `skip-existing`. Relative
paths are relative to the job file's folder. A bad job file is rejected as a
whole before anything runs, with the path of the problem (`jobs.yaml:
shots[2].crf: ...`); a shot that fails while running is reported and the other
shots go on.
"""

from __future__ import annotations

import os
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import (
    EXIT_BATCH_PARTIAL,
    EXIT_INTERNAL,
    EXIT_OK,
    InputError,
    MoebiusVideoError,
    UsageError,
)
from .progress import ProgressEvent

PATH_KEYS = ("input", "mask_track", "output", "weights", "save_debug", "analysis")
REQUIRED_KEYS = ("input", "mask_track", "output")
# Keys of a shot that are not InpaintOptions fields.
SHOT_KEYS = ("input", "mask_track", "output", "name", "skip_existing")


class JobFileError(InputError):
    """The job file cannot be read or does not describe valid shots (exit 3)."""

    code = "bad_job_file"


@dataclass(frozen=True)
class Shot:
    """One shot of a batch, validated: paths resolved, options parsed."""

    number: int  # 0-based position in `shots`
    name: str
    input: str
    mask_track: str
    output: str
    options: Any  # InpaintOptions
    skip_existing: bool = False


@dataclass(frozen=True)
class ShotOutcome:
    """How one shot ended. exit_code is what `moebius-video run` would have returned."""

    shot: Shot
    exit_code: int
    frames: int = 0
    seconds: float = 0.0
    message: str = ""  # the error, or "" when it succeeded
    skipped: bool = False

    @property
    def ok(self) -> bool:
        return self.exit_code == EXIT_OK


# --- reading and checking a job file --------------------------------------------------------


def load_job_file(path: str | os.PathLike) -> list[Shot]:
    """Read and validate a job file; return its shots with the defaults merged in."""
    from .options import InpaintOptions

    path = Path(path)
    document = _read_document(path)
    where = path.name
    if not isinstance(document, Mapping):
        raise JobFileError(f"{where}: expected a mapping with 'shots', got {_kind(document)}")
    unknown = sorted(set(document) - {"shots", "defaults"})
    if unknown:
        raise JobFileError(f"{where}: unknown key {unknown[0]!r}; expected 'shots' and 'defaults'")
    defaults = document.get("defaults") or {}
    if not isinstance(defaults, Mapping):
        raise JobFileError(f"{where}: defaults: expected a mapping, got {_kind(defaults)}")
    defaults = _normalised(defaults)
    shots = document.get("shots")
    if not isinstance(shots, list) or not shots:
        raise JobFileError(f"{where}: shots: expected a non-empty list, got {_kind(shots)}")

    _options(InpaintOptions, _split(defaults)[1], f"{where}: defaults")
    result: list[Shot] = []
    outputs: dict[str, int] = {}
    for number, entry in enumerate(shots):
        at = f"{where}: shots[{number}]"
        if not isinstance(entry, Mapping):
            raise JobFileError(f"{at}: expected a mapping, got {_kind(entry)}")
        shot_keys, option_keys = _split({**defaults, **_normalised(entry)})
        for key in REQUIRED_KEYS:
            if key not in shot_keys:
                raise JobFileError(f"{at}: missing {key!r}")
        for key in ("input", "mask_track", "output"):
            if not isinstance(shot_keys[key], str) or not shot_keys[key]:
                raise JobFileError(f"{at}.{key}: expected a path, got {_kind(shot_keys[key])}")
        skip = shot_keys.get("skip_existing", False)
        if not isinstance(skip, bool):
            raise JobFileError(f"{at}.skip_existing: expected true or false, got {skip!r}")
        for key in PATH_KEYS:
            if key in option_keys and isinstance(option_keys[key], str):
                option_keys[key] = _resolve(path.parent, option_keys[key])
        options = _options(InpaintOptions, option_keys, at)
        output = _resolve(path.parent, shot_keys["output"])
        if output in outputs:
            raise JobFileError(
                f"{at}.output: {output} is also the output of shots[{outputs[output]}]"
            )
        outputs[output] = number
        input_path = _resolve(path.parent, shot_keys["input"])
        result.append(
            Shot(
                number=number,
                name=str(shot_keys.get("name") or Path(input_path).stem),
                input=input_path,
                mask_track=_resolve(path.parent, shot_keys["mask_track"]),
                output=output,
                options=options,
                skip_existing=skip,
            )
        )
    return result


def _normalised(entry: Mapping[str, Any]) -> dict[str, Any]:
    """Keys with dashes or underscores (`keyframe-interval`, `--crf`) in one spelling."""
    return {str(key).strip().lstrip("-").replace("-", "_"): value for key, value in entry.items()}


def _split(entry: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(shot keys, option keys) of one normalised entry."""
    shot = {k: v for k, v in entry.items() if k in SHOT_KEYS}
    return shot, {k: v for k, v in entry.items() if k not in SHOT_KEYS}


def _options(cls, mapping: Mapping[str, Any], where: str):
    try:
        return cls.from_mapping(mapping, where=where)
    except UsageError as error:  # in a job file a bad option is bad input, not bad usage
        raise JobFileError(str(error)) from None


# A job file lists shots, not frames: a few KB for hundreds of shots.
MAX_JOB_BYTES = 4 * 2**20
# YAML aliases (*defaults) may repeat a mapping; a "billion laughs" file nests them so that
# a 448-byte file expands to gigabytes. Nothing of ours needs more values than this.
MAX_JOB_VALUES = 200_000


def _read_document(path: Path) -> Any:
    from .masks.files import SourceError, read_regular
    from .strict_json import MAX_DEPTH, document_extent, load_strict_json

    if not path.exists() and not path.is_symlink():
        raise JobFileError(f"{path}: job file not found")
    try:
        # A regular file only (no FIFO that blocks, no /dev/zero), bounded.
        data = read_regular(path, MAX_JOB_BYTES)
    except SourceError as error:
        raise JobFileError(f"{path}: cannot read the job file: {error}") from None
    if len(data) > MAX_JOB_BYTES:
        raise JobFileError(f"{path}: more than {MAX_JOB_BYTES} bytes; is it a job file?")
    if path.suffix.lower() == ".json":
        return load_strict_json(data, path.name, JobFileError)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise JobFileError(f"{path.name}: not UTF-8 text (byte {error.start})") from None
    import yaml

    try:
        # safe_load's loader: a job file never constructs Python objects.
        document = yaml.load(text, Loader=_job_loader())  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        at = f" line {mark.line + 1} column {mark.column + 1}:" if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error)
        raise JobFileError(f"{path.name}:{at} invalid YAML: {problem}") from None
    except RecursionError:  # PyYAML composes nested nodes recursively
        raise JobFileError(f"{path.name}: lists or mappings nested too deep") from None
    values, depth = document_extent(document, MAX_JOB_VALUES)
    if depth > MAX_DEPTH:
        raise JobFileError(
            f"{path.name}: lists or mappings nested too deep (more than {MAX_DEPTH})"
        )
    if values > MAX_JOB_VALUES:
        raise JobFileError(
            f"{path.name}: expands to more than {MAX_JOB_VALUES} values (nested YAML aliases?)"
        )
    return document


def _job_loader() -> type:
    """yaml.SafeLoader that refuses a key given twice in one mapping, as JSON tracks and
    hook requests do (YAML would keep the last one). A `<<: *defaults` merge may still be
    overridden by the mapping's own keys."""
    import yaml

    class JobLoader(yaml.SafeLoader):
        def construct_mapping(self, node, deep=False):
            if isinstance(node, yaml.MappingNode):
                seen = set()
                for key_node, _ in node.value:
                    if key_node.tag == "tag:yaml.org,2002:merge":
                        continue
                    key = self.construct_object(key_node, deep=deep)
                    try:
                        duplicate = key in seen
                        seen.add(key)
                    except TypeError:  # an unhashable key: the base class says so
                        continue
                    if duplicate:
                        raise yaml.constructor.ConstructorError(
                            None, None, f"duplicate key {key!r}", key_node.start_mark
                        )
            return super().construct_mapping(node, deep=deep)

    return JobLoader


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    names = {dict: "a mapping", list: "a list", str: "a string", bool: "true/false"}
    return names.get(type(value), f"a {type(value).__name__}")


def _resolve(base: Path, value: str) -> str:
    candidate = Path(value).expanduser()
    return str(candidate if candidate.is_absolute() else base / candidate)


# --- running a batch ------------------------------------------------------------------------


def run_batch(
    shots: list[Shot],
    render: Callable[..., Any],
    progress: Callable[[ProgressEvent], None] | None = None,
    on_shot: Callable[[ShotOutcome], None] | None = None,
) -> list[ShotOutcome]:
    """Run every shot, one after the other; a failing shot is recorded and the rest go on.

    `render` runs one shot: `api.render_chunk` (passed in by the caller, so this module
    sits below the API and never imports it).

    `progress` gets the events of the whole batch: frames count across all shots
    (a shot whose frame count cannot be read counts as the mean of the others), and
    each event's `stats` names the shot (`shot`, `shot_index`, `shot_percent`).
    `on_shot` is called with each outcome as soon as the shot ends.
    """
    report = progress or (lambda event: None)
    weights = [_frame_estimate(shot) for shot in shots]
    known = [w for w in weights if w is not None]
    mean = sum(known) / len(known) if known else 1
    weights = [w if w is not None else mean for w in weights]
    total = sum(weights)
    report(ProgressEvent("started", total=int(total), stats={"shots": len(shots)}))

    outcomes: list[ShotOutcome] = []
    done_before = 0.0  # frames of the shots that succeeded: a failed shot's are not done
    for shot, weight in zip(shots, weights, strict=True):
        # A progress event at 0% of the shot announces it before anything can fail.
        report(_between_shots(shot, len(shots), done_before, total, 0.0))
        with _output_folder(shot.output) as created:
            outcome = _run_shot(shot, render, report, done_before, weight, total, len(shots))
            created.keep = outcome.ok
        outcomes.append(outcome)
        if outcome.ok:
            done_before += weight
        if on_shot is not None:
            on_shot(outcome)
        report(_between_shots(shot, len(shots), done_before, total, 100.0 * outcome.ok))
    failed = sum(not o.ok for o in outcomes)
    report(
        ProgressEvent(
            "done",
            frame=int(done_before),
            total=int(total),
            percent=100.0 * done_before / total if total else 100.0,
            message=f"{len(outcomes) - failed} of {len(outcomes)} shots done, {failed} failed",
            stats={"output": None, "shots": [_outcome_dict(o) for o in outcomes]},
        )
    )
    return outcomes


def _run_shot(
    shot: Shot,
    render: Callable[..., Any],
    report: Callable[[ProgressEvent], None],
    done_before: float,
    weight: float,
    total: float,
    shot_count: int,
) -> ShotOutcome:
    began = time.perf_counter()

    def shot_progress(event: ProgressEvent) -> None:
        if event.kind == "warning":
            report(ProgressEvent("warning", message=f"shot {shot.name}: {event.message}"))
        elif event.kind == "progress" and event.total > 0:
            fraction = event.frame / event.total
            done = done_before + weight * fraction
            report(
                ProgressEvent(
                    "progress",
                    frame=int(done),
                    total=int(total),
                    percent=100.0 * done / total,
                    stats=_shot_stats(shot, shot_count, 100.0 * fraction),
                )
            )

    try:
        result = render(
            shot.input,
            shot.mask_track,
            shot.output,
            shot.options,
            skip_existing=shot.skip_existing,
            progress=shot_progress,
        )
    except MoebiusVideoError as error:
        return ShotOutcome(shot, error.exit_code, seconds=_since(began), message=str(error))
    except KeyboardInterrupt:
        raise
    except Exception as error:  # a bug in one shot must not lose the others; keep the trace
        traceback.print_exc()
        return ShotOutcome(
            shot, EXIT_INTERNAL, seconds=_since(began), message=f"internal error: {error!r}"
        )
    return ShotOutcome(
        shot,
        EXIT_OK,
        frames=result.frames,
        seconds=_since(began),
        skipped=result.frames == 0 and result.skipped > 0,
    )


class _output_folder:
    """Create the folders of a shot's output that do not exist, for every kind of output
    (a movie's folder, a sequence's): a job file names where renders go before they exist.
    Those created are removed again, when still empty, if the shot fails."""

    def __init__(self, output: str):
        self.folder = Path(output).parent
        self.created: list[Path] = []
        self.keep = False

    def __enter__(self) -> _output_folder:
        missing = [p for p in (self.folder, *self.folder.parents) if not p.exists()]
        for folder in reversed(missing):  # the outermost first
            try:
                folder.mkdir()
            except FileExistsError:
                continue
            except OSError:
                break  # the shot reports what is wrong with the folder
            self.created.append(folder)
        return self

    def __exit__(self, *exc_info) -> None:
        if self.keep:
            return
        for folder in reversed(self.created):  # the innermost first
            try:
                folder.rmdir()
            except OSError:
                break  # something was written there: not ours to remove


def _frame_estimate(shot: Shot) -> int | None:
    """Frames the shot will write, for the overall percentage; None when unreadable."""
    if shot.options.frames is not None:
        first, last = shot.options.frames
        return last - first + 1
    try:
        from .io import open_video

        with open_video(shot.input) as video:
            return video.info.frame_count
    except Exception:  # the shot itself reports why; here it only weighs the progress
        return None


def _between_shots(shot, shots: int, done: float, total: float, shot_percent: float):
    """The overall progress event at the start (0) or end (100) of one shot."""
    return ProgressEvent(
        "progress",
        frame=int(done),
        total=int(total),
        percent=100.0 * done / total,
        stats=_shot_stats(shot, shots, shot_percent),
    )


def _shot_stats(shot: Shot, shot_count: int, percent: float) -> dict[str, Any]:
    return {
        "shot": shot.name,
        "shot_index": shot.number,
        "shot_count": shot_count,
        "shot_percent": round(percent, 1),
    }


def _outcome_dict(outcome: ShotOutcome) -> dict[str, Any]:
    return {
        "shot": outcome.shot.name,
        "input": outcome.shot.input,
        "output": outcome.shot.output,
        "status": "skipped" if outcome.skipped else ("ok" if outcome.ok else "failed"),
        "exit_code": outcome.exit_code,
        "frames": outcome.frames,
        "seconds": round(outcome.seconds, 3),
        "message": outcome.message,
    }


def _since(began: float) -> float:
    return time.perf_counter() - began


def batch_exit_code(outcomes: list[ShotOutcome]) -> int:
    """0 when every shot succeeded, 4 (EXIT_BATCH_PARTIAL) when any failed."""
    return EXIT_OK if all(o.ok for o in outcomes) else EXIT_BATCH_PARTIAL


def summary_table(outcomes: list[ShotOutcome]) -> str:
    """A fixed-width table, one row per shot, for people reading the log."""
    rows = [("#", "shot", "status", "frames", "time", "fps", "output / error")]
    for o in outcomes:
        status = "skipped" if o.skipped else ("ok" if o.ok else f"FAILED ({o.exit_code})")
        fps = f"{o.frames / o.seconds:.1f}" if o.ok and o.seconds > 0 and o.frames else "-"
        detail = o.shot.output if o.ok else o.message.splitlines()[0] if o.message else ""
        rows.append(
            (
                str(o.shot.number),
                o.shot.name,
                status,
                str(o.frames),
                f"{o.seconds:.1f}s",
                fps,
                detail,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    lines = []
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=True)]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    failed = sum(not o.ok for o in outcomes)
    lines.append(f"{len(outcomes) - failed} of {len(outcomes)} shots succeeded, {failed} failed")
    return "\n".join(lines)
