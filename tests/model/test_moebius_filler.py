"""MoebiusFiller and the factory that picks Moebius or the classical fallback."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from moebius_video.errors import ModelError, UsageError
from moebius_video.fillers import Filler, OpenCVFiller
from moebius_video.model import load_filler
from moebius_video.model.filler import (
    MoebiusFiller,
    anchored_noise,
    resolve_device,
    resolve_dtype,
)


@pytest.fixture()
def empty_machine(tmp_path, monkeypatch):
    """No Hugging Face cache, no imported models, downloads off."""
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("MOEBIUS_VIDEO_CONFIG_DIR", str(tmp_path / "config"))
    return tmp_path


def test_anchored_noise_depends_on_frame_position_only():
    whole = anchored_noise(7, 0, 0, 128)
    assert torch.equal(anchored_noise(7, 60, 70, 40), whole[:, 70:110, 60:100])
    assert torch.equal(
        anchored_noise(7, -10, -3, 16)[:, 3:, 10:], anchored_noise(7, 0, 0, 13)[:, :, :6]
    )
    assert not torch.equal(anchored_noise(8, 0, 0, 16), whole[:, :16, :16])
    shifted = anchored_noise(7, 0, 0, 16, offset=0.5) - whole[:, :16, :16]
    assert torch.allclose(shifted, shifted[:, :1, :1].expand_as(shifted)), "offset is per channel"


def test_moebius_filler_is_a_filler(tiny_sampler):
    filler = MoebiusFiller(tiny_sampler)
    assert isinstance(filler, Filler)
    empty = np.zeros((70, 90), bool)
    image = np.full((70, 90, 3), 9, np.uint8)
    assert np.array_equal(filler.fill(image, empty), image)
    with pytest.raises(ValueError, match="does not match"):
        filler.fill(image, np.zeros((10, 10), bool))


def test_without_weights_falls_back_to_opencv_with_one_line_notice(empty_machine):
    notices = []
    filler = load_filler(None, notice=notices.append)
    assert isinstance(filler, OpenCVFiller)
    assert len(notices) == 1 and "\n" not in notices[0]
    assert "moebius-video models pull moebius-ft-places2" in notices[0]
    filler = load_filler("moebius-ft-ffhq", notice=notices.append)
    assert isinstance(filler, OpenCVFiller) and "pull moebius-ft-ffhq" in notices[-1]


def test_named_opencv_and_unknown_models(empty_machine):
    assert isinstance(load_filler("opencv"), OpenCVFiller)
    with pytest.raises(UsageError, match="known models: moebius-ft-places2"):
        load_filler("moebius-huge")


def test_missing_weights_path_is_an_error(empty_machine):
    with pytest.raises(ModelError, match="no such file"):
        load_filler(weights=empty_machine / "nope.bin")


def test_weights_folder_with_config_and_vae_gives_a_moebius_filler(
    empty_machine, tiny_manifest, tiny_weights_path, tiny_vae_folder
):
    # A folder laid out like a download: weights, the release-style config, the VAE beside it.
    folder = empty_machine / "my-moebius"
    folder.mkdir()
    shutil.copy(tiny_weights_path, folder / "diffusion_pytorch_model.safetensors")
    (folder / "moebius_config.json").write_text(json.dumps(tiny_manifest["config"]))
    shutil.copytree(tiny_vae_folder, folder / "vae")
    filler = load_filler(weights=folder, device="cpu")
    assert isinstance(filler, MoebiusFiller) and filler.name == "moebius:my-moebius"
    image = np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    hole = np.zeros((64, 64), bool)
    hole[30:34, :] = True
    out = filler.fill(image, hole)
    assert np.array_equal(out[~hole], image[~hole])


def test_release_folder_layout_finds_the_vae(
    empty_machine, tiny_manifest, tiny_weights_path, tiny_vae_folder
):
    # The release's README layout: weight/Moebius/<variant>/diffusion_pytorch_model.* and
    # weight/vae.
    variant = empty_machine / "weight" / "Moebius" / "ft_tiny"
    variant.mkdir(parents=True)
    weights = variant / "diffusion_pytorch_model.safetensors"
    shutil.copy(tiny_weights_path, weights)
    (variant / "moebius_config.json").write_text(json.dumps(tiny_manifest["config"]))
    shutil.copytree(tiny_vae_folder, empty_machine / "weight" / "vae")
    assert isinstance(load_filler(weights=weights, device="cpu"), MoebiusFiller)


def test_weights_without_any_vae_is_an_error(empty_machine, tiny_weights_path):
    lone = empty_machine / "lone"
    lone.mkdir()
    shutil.copy(tiny_weights_path, lone / "w.safetensors")
    with pytest.raises(ModelError, match="VAE is missing"):
        load_filler(weights=lone / "w.safetensors", device="cpu")


def test_devices_and_precisions():
    cpu = torch.device("cpu")
    assert resolve_device("cpu") == cpu
    assert resolve_dtype(None, cpu) == torch.float32
    assert resolve_dtype("bfloat16", cpu) == torch.bfloat16
    with pytest.raises(UsageError, match="float16 needs a CUDA device"):
        resolve_dtype("float16", cpu)
    with pytest.raises(UsageError, match="expected one of"):
        resolve_dtype("int8", cpu)
    if not torch.cuda.is_available():
        assert resolve_device("auto") == cpu
        with pytest.raises(UsageError, match="no CUDA device"):
            resolve_device("cuda")
    else:
        assert resolve_dtype(None, torch.device("cuda")) == torch.float16
