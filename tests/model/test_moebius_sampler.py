"""The released sampling procedure with a real (tiny, random) diffusers VAE."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from moebius_video.errors import ModelError
from moebius_video.model.sampler import (
    MoebiusSampler,
    SamplerSettings,
    paste_with_blurred_mask,
    release_scheduler,
    strength_timesteps,
)

FAST = SamplerSettings(steps=4)


def _tile(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    hole = np.zeros((64, 64), bool)
    hole[24:40, 20:44] = True
    return image, hole


def test_sampler_loads_vae_folder_and_matches_tile_size(tiny_sampler):
    assert tiny_sampler.tile_size == 64
    assert tiny_sampler.scaling_factor == pytest.approx(0.13025)


def test_inpaint_image_is_deterministic_for_a_seed(tiny_sampler):
    image, hole = _tile()
    first = tiny_sampler.inpaint_image(image, hole, FAST)
    again = tiny_sampler.inpaint_image(image, hole, FAST)
    other = tiny_sampler.inpaint_image(image, hole, SamplerSettings(steps=4, seed=1))
    assert first.dtype == np.uint8 and first.shape == image.shape
    assert np.array_equal(first, again), "same seed, different pixels"
    assert not np.array_equal(first[hole], other[hole]), "another seed changed nothing"


def test_inpaint_image_pastes_with_a_blurred_mask(tiny_sampler):
    image, hole = _tile()
    out = tiny_sampler.inpaint_image(image, hole, FAST)
    assert not np.array_equal(out[hole], image[hole])
    # Gaussian sigma 3: beyond 4 sigma from the hole the weight rounds away to nothing.
    far = np.ones_like(hole)
    far[24 - 12 : 40 + 12, 20 - 12 : 44 + 12] = False
    assert np.array_equal(out[far], image[far]), "pixels far from the hole changed"
    # The seam is feathered: just outside the hole some pixels move.
    ring = np.zeros_like(hole)
    ring[22:42, 18:46] = True
    ring &= ~hole
    assert not np.array_equal(out[ring], image[ring])


def test_paste_blend_keeps_untouched_pixels_exact():
    image = np.full((32, 32, 3), 201, np.uint8)
    hole = np.zeros((32, 32), bool)
    filled = np.zeros((32, 32, 3), np.float32)
    out = paste_with_blurred_mask(image, filled, hole)
    assert np.array_equal(out, image), "an empty hole must not move any pixel (no truncation)"


def test_strength_keeps_that_share_of_the_schedule():
    scheduler = release_scheduler()
    assert strength_timesteps(scheduler, 20, 0.99).tolist()[:2] == [900, 850]
    assert len(strength_timesteps(scheduler, 20, 0.5)) == 10
    assert strength_timesteps(scheduler, 20, 0.5).tolist()[0] == 450
    with pytest.raises(ValueError, match="no step"):
        strength_timesteps(scheduler, 20, 0.01)


def test_init_and_explicit_noise_drive_the_result(tiny_sampler):
    image, hole = _tile()
    tile = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255
    holes = torch.from_numpy(hole.astype(np.float32))[None, None]
    noise = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(5))
    settings = SamplerSettings(steps=4, strength=0.5)
    plain = tiny_sampler.inpaint_tiles(tile, holes, settings, noise=noise)
    same = tiny_sampler.inpaint_tiles(tile, holes, settings, noise=noise)
    seeded = tiny_sampler.inpaint_tiles(
        tile, holes, settings, init=torch.zeros_like(tile), noise=noise
    )
    assert torch.equal(plain, same)
    assert not torch.equal(plain, seeded), "the init image did not reach the start latents"


def test_vae_that_does_not_fit_is_refused(tiny_model):
    from diffusers import AutoencoderKL

    wrong = AutoencoderKL(
        block_out_channels=(8, 8),
        down_block_types=("DownEncoderBlock2D",) * 2,
        up_block_types=("UpDecoderBlock2D",) * 2,
        latent_channels=4,
        norm_num_groups=4,
        layers_per_block=1,
    )
    with pytest.raises(ModelError, match="downsamples x2"):
        MoebiusSampler(tiny_model, wrong)


def test_bfloat16_on_cpu_runs_close_to_float32(tiny_manifest, tiny_weights_path, tiny_vae_folder):
    image, hole = _tile()
    fp32 = MoebiusSampler.from_files(
        tiny_weights_path, tiny_vae_folder, config=tiny_manifest["config"]
    )
    bf16 = MoebiusSampler.from_files(
        tiny_weights_path, tiny_vae_folder, config=tiny_manifest["config"], dtype=torch.bfloat16
    )
    a = fp32.inpaint_image(image, hole, FAST).astype(np.int16)
    b = bf16.inpaint_image(image, hole, FAST).astype(np.int16)
    # bfloat16 keeps 8 bits of mantissa: a rough agreement is all it promises.
    diff = np.abs(a - b)[hole].mean()
    assert diff < 4, f"mean |fp32 - bf16| in the hole = {diff:.2f} levels, expected < 4"
