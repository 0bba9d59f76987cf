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


def make_tiny_vae():
    """A real diffusers AutoencoderKL, x8 and 4 latent channels like the released VAE, tiny."""
    from diffusers import AutoencoderKL

    torch.manual_seed(1234)
    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=(8, 8, 8, 8),
        layers_per_block=1,
        latent_channels=4,
        norm_num_groups=4,
        sample_size=64,
        scaling_factor=0.13025,
    ).eval()


@pytest.fixture(scope="session")
def tiny_vae_folder(tmp_path_factory) -> Path:
    """The tiny VAE saved with save_pretrained: a local diffusers folder like the released one."""
    folder = tmp_path_factory.mktemp("vae") / "vae"
    make_tiny_vae().save_pretrained(folder)
    return folder


@pytest.fixture()
def tiny_sampler(tiny_manifest, tiny_weights_path, tiny_vae_folder):
    from moebius_video.model.sampler import MoebiusSampler

    return MoebiusSampler.from_files(
        tiny_weights_path, tiny_vae_folder, config=tiny_manifest["config"]
    )
