"""Reading and checking a hook request: JSON in, a `HookRequest` out, or a `RequestError`.

A request comes from another program (an editor plug-in, a farm script), so it is untrusted:
it is parsed as plain JSON (no NaN, no duplicate keys), checked against
`request.schema.json` (JSON Schema draft 2020-12), and its paths are taken literally (no `~`,
no environment variables, no globbing, never a shell). Every error names the request and
the JSON path of the offending value, e.g. `job.json: frames[1]: expected integer, got string`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from ..errors import InputError, UsageError
from ..paths import is_image_pattern
from ..strict_json import load_strict_json

CURRENT_VERSION = 1
SUPPORTED_VERSIONS = (1,)

# Keys of the request the tool reads; any other top-level key is a host namespace.
CORE_KEYS = (
    "version",
    "input",
    "mask_track",
    "output",
    "frames",
    "frame_indices",
    "codec",
    "crf",
    "device",
    "overwrite",
    "model",
    "weights",
    "options",
)
# Namespaces of the hosts shipped in plugins/; others are carried too, with a warning.
KNOWN_HOSTS = ("blender", "resolve", "nuke")

# Options a request may not set: joining a Ray cluster is the hook's caller's decision
# (`moebius-video hook` runs where the host started it), not a project file's.
REFUSED_OPTIONS = {
    "ray_address": "join a Ray cluster",
    "analysis": "read a farm's shot analysis sidecar (a request renders in one process)",
}


def max_request_workers() -> int:
    """Workers a request may ask for: one per CPU of this machine at most (each is a
    process holding a filler, about 0.5-1 GB)."""
    return max(1, os.cpu_count() or 1)


# A request is a small document; an inline COCO-RLE track can be large, but not this large.
MAX_REQUEST_BYTES = 64 * 1024 * 1024
# A mask-track file read only for its frame_base and raster paths (see read_track_file); the
# masks module's own limit (docs/mask-track.md) is smaller and gives the real message.
MAX_TRACK_BYTES = 256 * 1024 * 1024


class RequestError(InputError):
    """The request is not valid JSON, not a supported version, or breaks the schema (exit 3)."""

    code = "bad_request"


@dataclass(frozen=True)
class HookRequest:
    """A checked request, paths resolved against `base_dir`.

    `options` is the mapping for `InpaintOptions.from_mapping` (codec, crf, frames, ...).
    `mask_track` is a path or the inline track object. `host_data` holds the host namespaces,
    carried for the host's own use and never read by the tool.
    """

    source: str
    version: int
    input: Path
    mask_track: Path | dict[str, Any]
    output: Path
    base_dir: Path
    options: dict[str, Any] = field(default_factory=dict)
    host_data: dict[str, Any] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()


@cache
def request_schema() -> dict[str, Any]:
    """The JSON Schema of version 1 requests (shipped in the package)."""
    text = resources.files(__package__).joinpath("request.schema.json").read_text("utf-8")
    return json.loads(text)


def read_request(
    path: str, stdin: Any = None, roots: Sequence[str | os.PathLike] | None = None
) -> HookRequest:
    """Read and check the request in the file `path`, or on `stdin` when path is "-".

    Relative paths in a request file resolve against the file's folder, so a request can travel
    with its media; on stdin they resolve against the current folder. Every path must lie in
    one of `roots` (see Confinement); without roots, in that same folder.
    """
    if path == "-":
        import sys

        stream = stdin if stdin is not None else sys.stdin.buffer
        data = stream.read(MAX_REQUEST_BYTES + 1)
        if isinstance(data, str):
            data = data.encode("utf-8")
        return parse_request(data, source="<stdin>", base_dir=Path.cwd(), roots=roots)
    from ..masks.files import SourceError, read_regular

    request_path = Path(path)
    if request_path.is_dir():
        raise UsageError(f"{path}: is a folder, expected a request file (JSON)")
    if not request_path.exists():
        raise UsageError(f"{path}: request file not found")
    try:
        # A regular file only: a FIFO would block the host's call forever.
        data = read_regular(request_path, MAX_REQUEST_BYTES)
    except SourceError as exc:
        raise UsageError(f"cannot read the request file: {exc}") from None
    return parse_request(data, source=path, base_dir=request_path.resolve().parent, roots=roots)


def parse_request(
    data: bytes,
    source: str,
    base_dir: Path,
    roots: Sequence[str | os.PathLike] | None = None,
) -> HookRequest:
    """Check the raw bytes of a request; `source` names it in messages, `roots` as in
    read_request."""
    if len(data) > MAX_REQUEST_BYTES:
        raise RequestError(f"{source}: request larger than {MAX_REQUEST_BYTES // 2**20} MiB")
    document = _load_json(data, source)
    if not isinstance(document, dict):
        raise RequestError(
            f"{source}: expected a JSON object at the top level, got {_json_type(document)}"
        )
    version = _check_version(document, source)
    _check_schema(document, source)
    return _build(document, version, source, base_dir, Confinement.for_request(roots, base_dir))


def _load_json(data: bytes, source: str) -> Any:
    if not data.decode("utf-8-sig", errors="replace").strip():
        raise RequestError(f"{source}: empty request, expected a JSON object")
    return load_strict_json(data, source, RequestError)


def _check_version(document: dict[str, Any], source: str) -> int:
    # Checked before the schema, so a newer request gets this message and not schema noise.
    version = document.get("version", CURRENT_VERSION)
    if isinstance(version, bool) or not isinstance(version, int):
        raise RequestError(f"{source}: version: expected an integer, got {_json_type(version)}")
    if version not in SUPPORTED_VERSIONS:
        supported = ", ".join(str(v) for v in SUPPORTED_VERSIONS)
        raise RequestError(
            f"{source}: version: unsupported request version {version}; "
            f"this moebius-video reads version {supported} (upgrade the tool, or send {supported})"
        )
    return version


def _check_schema(document: dict[str, Any], source: str) -> None:
    validator = Draft202012Validator(request_schema())
    errors = sorted(validator.iter_errors(document), key=lambda e: _sort_key(e))
    if not errors:
        return
    lines = [_located(json_path(e.absolute_path), _describe(e)) for e in errors]
    more = f" (and {len(lines) - 1} more: " + "; ".join(lines[1:4]) + ")" if len(lines) > 1 else ""
    if len(lines) > 4:
        more = more[:-1] + "; ...)"
    raise RequestError(f"{source}: {lines[0]}{more}")


def _located(path: str, message: str) -> str:
    return message if path == "$" else f"{path}: {message}"


def _sort_key(error: ValidationError) -> tuple[Any, ...]:
    # Missing keys first, then the core keys in the order a reader meets them, then the rest.
    path = list(error.absolute_path)
    if not path:
        return (0, 0, "")
    head = path[0]
    rank = CORE_KEYS.index(head) if head in CORE_KEYS else len(CORE_KEYS)
    return (1, rank, json_path(path))


def json_path(parts: Any) -> str:
    """`["frames", 1]` -> `frames[1]`; the top level is `$`."""
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "$"


_TYPE_NAMES = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "object": "an object",
    "array": "an array",
    "null": "null",
}


# What a pattern-checked value should look like, for messages.
_EXPECTED = {
    "codec": "a codec name such as libx264, ffv1, prores_ks or png",
    "device": "auto, cpu, mps, cuda or cuda:N",
    "model": "a model name as `moebius-video models list` shows it",
}


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _describe(error: ValidationError) -> str:
    """A sentence for one schema error, saying what was expected and what came."""
    kind = error.validator
    value = error.instance
    if kind == "type":
        expected = error.validator_value
        names = [expected] if isinstance(expected, str) else list(expected)
        wanted = " or ".join(_TYPE_NAMES.get(n, n) for n in names)
        if len(error.absolute_path) == 1 and error.absolute_path[0] not in CORE_KEYS:
            return (
                f"unknown key; keys the tool does not read must hold an object "
                f'(a host namespace such as "blender": {{...}}), got {_json_type(value)}'
            )
        return f"expected {wanted}, got {_json_type(value)}"
    if kind == "required":
        # One error per missing key; jsonschema names it in the message: "'input' is a ...".
        return "missing required key " + error.message.replace(" is a required property", "")
    if kind == "anyOf" and list(error.absolute_path) == ["mask_track"]:
        if isinstance(value, dict):
            return "inline mask track: missing required key 'schema' (\"moebius.masktrack/1\")"
        if isinstance(value, str):
            return _describe(error.context[0]) if error.context else error.message
        return f"expected a path (string) or an inline mask track (object), got {_json_type(value)}"
    if kind == "anyOf" and isinstance(value, str) and error.context:
        return _describe(error.context[0])
    if kind in ("minItems", "maxItems") and isinstance(value, list):
        return f"expected [first, last] (2 integers), got {len(value)} item(s)"
    if kind == "minLength":
        return "expected a non-empty string"
    if kind == "maxLength":
        return f"longer than {error.validator_value} characters"
    if kind == "pattern":
        if "\\u0000" in str(error.validator_value):
            return "path contains a NUL character"
        key = error.absolute_path[0] if error.absolute_path else ""
        return f"expected {_EXPECTED.get(key, 'a different value')}, got {value!r}"
    if kind in ("minimum", "maximum"):
        bound = "at least" if kind == "minimum" else "at most"
        return f"expected {bound} {error.validator_value}, got {value}"
    if kind == "propertyNames":
        return f"option name {value!r} is not a valid option name"
    return error.message


def _build(
    document: dict[str, Any], version: int, source: str, base_dir: Path, confinement: Confinement
) -> HookRequest:
    warnings = []
    host_data = {}
    for key, value in document.items():
        if key in CORE_KEYS:
            continue
        host_data[key] = value
        if key not in KNOWN_HOSTS:
            warnings.append(
                f"{source}: {key}: unknown key, carried as a host namespace and not read"
            )

    def existing(key: str, pattern_ok: bool = False) -> Path:
        # Confined before it is looked at, so a refusal says nothing about what is outside.
        path = _resolve(document[key], base_dir)
        confinement.check(source, key, path, pattern_ok and is_image_pattern(document[key]))
        return _existing_path(path, document[key], key, source, pattern_ok)

    input_path = existing("input", pattern_ok=True)
    mask_track = document["mask_track"]
    if isinstance(mask_track, str):
        mask_track = existing("mask_track", pattern_ok=True)
        track_document = read_track_file(mask_track)
        if track_document is not None:
            # Raster paths in a track file are relative to the file, as the masks module reads them.
            from ..masks.files import resolve_source_path

            folder = mask_track.parent
            confinement.check_track_rasters(
                source, "mask_track", track_document, lambda t: resolve_source_path(t, folder, None)
            )
    else:
        # Its structure is checked now, so errors name the request; sizes wait for the video.
        from ..masks.parse import parse_mask_track

        confinement.check_track_rasters(
            source, "mask_track", mask_track, lambda t: _resolve(t, base_dir)
        )
        parse_mask_track(mask_track, label=f"{source}: mask_track")
    output = _output_path(document, base_dir)
    confinement.check(source, "output", output, is_image_pattern(document["output"]))

    options: dict[str, Any] = {}
    extra = document.get("options", {})
    for key, value in extra.items():
        if key in CORE_KEYS or key == "frames":
            raise RequestError(
                f"{source}: options.{key}: set {key!r} at the top level of the request"
            )
        if key in REFUSED_OPTIONS:
            raise RequestError(f"{source}: options.{key}: a request may not {REFUSED_OPTIONS[key]}")
        if key == "workers" and isinstance(value, int) and value > max_request_workers():
            raise RequestError(
                f"{source}: options.workers: {value} is more than this machine's "
                f"{max_request_workers()} CPUs"
            )
        options[key] = value
    for key in ("codec", "crf", "device", "overwrite", "model"):
        if key in document:
            options[key] = document[key]
    if document.get("weights") is not None:
        options["weights"] = str(existing("weights"))
    if isinstance(options.get("save_debug"), str) and options["save_debug"]:
        # A written path like the output: relative to the request, and confined.
        debug = _resolve(options["save_debug"], base_dir)
        confinement.check(source, "options.save_debug", debug)
        options["save_debug"] = str(debug)

    options.update(_frames(document, source))

    return HookRequest(
        source=source,
        version=version,
        input=input_path,
        mask_track=mask_track,
        output=output,
        base_dir=base_dir,
        options=options,
        host_data=host_data,
        warnings=tuple(warnings),
    )


# Hosts that run requests they did not write name the folders a request may use here (or with
# `moebius-video hook --root DIR`), separated by os.pathsep.
ROOTS_ENV = "MOEBIUS_VIDEO_HOOK_ROOTS"


@dataclass(frozen=True)
class Confinement:
    """The folders a request may read and write.

    A host's `--root` folders (or `MOEBIUS_VIDEO_HOOK_ROOTS`); without them, the folder of the
    request file (the current folder for a request on stdin). Links are followed and `..` is
    resolved, so neither leads out. Every path is checked before anything is opened, and the
    refusal reads the same whether the file outside exists or not.
    """

    roots: tuple[Path, ...]
    configured: bool = True

    @classmethod
    def for_request(cls, roots: Sequence[str | os.PathLike] | None, base_dir: Path) -> Confinement:
        if roots:
            return cls(tuple(Path(os.path.realpath(root)) for root in roots), configured=True)
        return cls((Path(os.path.realpath(base_dir)),), configured=False)

    def check(self, source: str, key: str, path: Path, is_pattern: bool = False) -> None:
        # A pattern names files one by one: the folder that holds them decides.
        real = Path(os.path.realpath(path.parent if is_pattern else path))
        if any(real == root or real.is_relative_to(root) for root in self.roots):
            return
        folders = ", ".join(str(root) for root in self.roots)
        if self.configured:
            where = f"the folders this hook may use ({folders})"
        else:
            where = (
                f"the folders this hook may use: the request's own folder, {folders} "
                f"(a host allows others with `moebius-video hook --root DIR` or {ROOTS_ENV})"
            )
        raise RequestError(f"{source}: {key}: {path} is outside {where}")

    def check_track_rasters(
        self, source: str, key: str, track: Mapping[str, Any], resolve: Callable[[str], Path]
    ) -> None:
        """The raster paths of a mask track (inline, or read from its file); `resolve` makes
        one absolute the way the run will."""
        tracks = track.get("tracks")
        for k, entry in enumerate(tracks if isinstance(tracks, list) else []):
            spec = entry.get("source") if isinstance(entry, dict) else None
            text = spec.get("path") if isinstance(spec, dict) else None
            if isinstance(text, str) and text:
                path = resolve(text)
                where = f"{key}.tracks[{k}].source.path"
                self.check(source, where, path, is_image_pattern(path.name))


def _resolve(value: str, base_dir: Path) -> Path:
    # Taken literally: no expanduser, no expandvars, no glob. Only made absolute.
    path = Path(value)
    return path if path.is_absolute() else base_dir / path


def _existing_path(path: Path, value: str, key: str, source: str, pattern_ok: bool) -> Path:
    # Image-sequence patterns such as shot.%04d.png name files that exist one by one.
    if pattern_ok and is_image_pattern(value):
        if not path.parent.is_dir():
            raise RequestError(f"{source}: {key}: folder not found: {path.parent}")
        return path
    if not path.exists():
        raise RequestError(f"{source}: {key}: not found: {path}")
    return path


def _output_path(document: dict[str, Any], base_dir: Path) -> Path:
    # Only resolved here: whether it may be written is checked once, by api.check_output,
    # for every entry point; run_request words its errors with the request's keys.
    return _resolve(document["output"], base_dir)


def _frames(document: dict[str, Any], source: str) -> dict[str, tuple[int, int]]:
    """InpaintOptions.frames (clip frame numbers) or frame_indices (0-based input indices):
    the run turns either into indices once it knows how the input numbers its frames."""
    if "frames" in document and "frame_indices" in document:
        raise RequestError(f"{source}: frame_indices: give frames or frame_indices, not both")
    for key in ("frames", "frame_indices"):
        if key in document:
            first, last = document[key]
            if first > last:
                raise RequestError(
                    f"{source}: {key}: first frame {first} is after last frame {last}"
                )
            return {key: (first, last)}
    return {}


def read_track_file(path: Path) -> dict[str, Any] | None:
    """The JSON object of a mask-track file, or None when `path` is no such file or is
    unreadable, too large or invalid: the masks module reports those with its JSON paths.

    Read here for what the request needs before the run: the frame_base and the raster paths.
    """
    from ..masks.files import SourceError, read_regular

    if path.suffix.lower() != ".json":
        return None
    try:
        document = load_strict_json(read_regular(path, MAX_TRACK_BYTES), str(path), ValueError)
    except (SourceError, ValueError):
        return None
    return document if isinstance(document, dict) else None
