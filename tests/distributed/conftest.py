"""Fixtures for the distributed tests: a tiny shot on disk and one local Ray cluster."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from distributed_media import wire_track, write_clip


@pytest.fixture(scope="module")
def shot(tmp_path_factory) -> dict[str, Path]:
    """A clip and its mask track on disk: {'clip': ..., 'track': ...}."""
    folder = tmp_path_factory.mktemp("shot")
    clip = write_clip(folder / "plate.mp4")
    track = folder / "wire.json"
    track.write_text(json.dumps(wire_track()))
    return {"clip": clip, "track": track, "folder": folder}


@pytest.fixture(scope="module")
def ray_cluster():
    """One local Ray cluster with 2 CPUs for the whole test module (start-up takes seconds)."""
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()
