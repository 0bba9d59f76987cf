"""One strict JSON reader for everything users hand us as JSON: mask tracks and hook requests.

Plain JSON only: UTF-8 (a BOM is tolerated, as some Windows editors write one), no
`NaN`/`Infinity`, and no key given twice in one object (parsers silently keep the last
one, which hides copy-paste mistakes). Hostile documents are refused before they cost
anything: an integer of more than MAX_NUMBER_CHARS digits (Python would spend quadratic
time on it, or refuse it past 4300 digits with a bare ValueError), and arrays or objects
nested deeper than MAX_DEPTH. Errors name the document (`label`) and say where:

    wires.json: line 4 column 3: invalid JSON: Expecting ',' delimiter
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

MAX_NUMBER_CHARS = 64  # a run length or coordinate needs 20 at most
MAX_DEPTH = 64  # the deepest of our formats nests 8


class _JsonValueError(ValueError):
    pass


def load_strict_json(data: bytes | str, label: str, error: type[Exception]) -> Any:
    """Decode `data`; anything that is not plain JSON raises `error` with a located message."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise error(f"{label}: not UTF-8 text (byte {exc.start})") from None
    try:
        document = json.loads(
            data,
            object_pairs_hook=_no_duplicate_keys,
            parse_constant=_no_constant,
            parse_int=_bounded_int,
            parse_float=_bounded_float,
        )
    except RecursionError:
        raise error(f"{label}: arrays or objects nested too deep (more than {MAX_DEPTH})") from None
    except json.JSONDecodeError as exc:
        raise error(
            f"{label}: line {exc.lineno} column {exc.colno}: invalid JSON: {exc.msg}"
        ) from None
    except _JsonValueError as exc:
        raise error(f"{label}: {exc}") from None
    if document_extent(document)[1] > MAX_DEPTH:
        raise error(f"{label}: arrays or objects nested too deep (more than {MAX_DEPTH})")
    return document


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _JsonValueError(f"duplicate key {key!r} in one JSON object")
        result[key] = value
    return result


def _no_constant(name: str) -> Any:
    raise _JsonValueError(f"{name} is not a JSON number")


def _bounded_int(text: str) -> int:
    if len(text) > MAX_NUMBER_CHARS:
        raise _JsonValueError(f"a number of {len(text)} digits (at most {MAX_NUMBER_CHARS})")
    return int(text)


def _bounded_float(text: str) -> float:
    if len(text) > MAX_NUMBER_CHARS:
        raise _JsonValueError(f"a number of {len(text)} characters (at most {MAX_NUMBER_CHARS})")
    return float(text)


def document_extent(document: Any, max_values: int | None = None) -> tuple[int, int]:
    """(values, depth) of a parsed document: how many values it holds (object keys count
    too) and how deep arrays and objects nest. Iterative, so a deep document does not
    recurse; it stops descending past MAX_DEPTH and stops counting past max_values (a
    YAML document with nested aliases may expand to astronomically many)."""
    values, deepest, todo = 0, 0, [(document, 1)]
    while todo and (max_values is None or values <= max_values):
        value, depth = todo.pop()
        values += 1
        if isinstance(value, Mapping):
            values += len(value)
            children = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        deepest = max(deepest, depth)
        if depth <= MAX_DEPTH:
            todo.extend((child, depth + 1) for child in children)
    return values, deepest
