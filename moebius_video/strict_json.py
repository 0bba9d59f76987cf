"""One strict JSON reader for everything users hand us as JSON: mask tracks and hook requests.

Plain JSON only: UTF-8 (a BOM is tolerated, as some Windows editors write one), no
`NaN`/`Infinity`, and no key given twice in one object (parsers silently keep the last
one, which hides copy-paste mistakes). Errors name the document (`label`) and say where:

    wires.json: line 4 column 3: invalid JSON: Expecting ',' delimiter
"""

from __future__ import annotations

import json
from typing import Any


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
        return json.loads(data, object_pairs_hook=_no_duplicate_keys, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise error(
            f"{label}: line {exc.lineno} column {exc.colno}: invalid JSON: {exc.msg}"
        ) from None
    except _JsonValueError as exc:
        raise error(f"{label}: {exc}") from None


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _JsonValueError(f"duplicate key {key!r} in one JSON object")
        result[key] = value
    return result


def _no_constant(name: str) -> Any:
    raise _JsonValueError(f"{name} is not a JSON number")
