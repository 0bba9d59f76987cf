"""Fixtures of the hook and plug-in tests (helpers live in plugin_helpers.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from plugin_helpers import write_clip


@pytest.fixture(scope="session")
def small_clip(tmp_path_factory) -> Path:
    """64x48, 12 frames, 25 fps, H.264."""
    return write_clip(tmp_path_factory.mktemp("clips") / "plate.mp4")
