"""Shared fixtures for the Moebius model tests: the reduced ("tiny") release model and its data."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from .moebius_testdata import DATA, read_manifest


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Run the small models on one thread: on a shared 2-core machine, two OpenMP threads
    spin against other processes and a 70 ms forward pass takes seconds."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def tiny_manifest() -> dict:
    return read_manifest("tiny.manifest.json")


@pytest.fixture(scope="session")
def tiny_weights_path() -> Path:
    return DATA / "tiny.weights.safetensors"


@pytest.fixture(scope="session")
def tiny_state_dict(tiny_weights_path) -> dict[str, torch.Tensor]:
    return load_file(tiny_weights_path)


@pytest.fixture()
def tiny_model(tiny_manifest, tiny_state_dict):
    """A freshly built reduced model with the reference weights, in eval mode, float32."""
    from moebius_video.model import build_moebius

    model = build_moebius(tiny_manifest["config"])
    model.load_state_dict(tiny_state_dict, strict=True)
    return model


@pytest.fixture(scope="session")
def tiny_forward() -> dict[str, torch.Tensor]:
    return load_file(DATA / "tiny.forward.safetensors")


@pytest.fixture(scope="session")
def tiny_ddim() -> dict[str, torch.Tensor]:
    return load_file(DATA / "tiny.ddim20_cfg2.5.safetensors")
