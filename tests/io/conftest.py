"""Fixtures for the io tests: small real clips encoded with PyAV into tmp_path."""

from __future__ import annotations

from pathlib import Path

import pytest
from iotest_helpers import write_clip


@pytest.fixture
def clip(tmp_path):
    """Factory: clip("name.mp4", **write_clip options) -> path under tmp_path."""

    def make(name: str, **options) -> Path:
        return write_clip(tmp_path / name, **options)

    return make
