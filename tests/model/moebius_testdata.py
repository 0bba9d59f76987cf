"""Paths and readers for the Moebius reference data copied into tests/data/moebius/.

The files come from the project's Moebius reference set: produced by the release's own model
class (hustvl/Moebius, commit 390735d) on CPU in float32.
"""

from __future__ import annotations

import json
from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / "data" / "moebius"


def read_manifest(name: str) -> dict:
    return json.loads((DATA / name).read_text())
