"""The released Moebius inference procedure, on one or more model-sized tiles.

What the release's pipeline does (hustvl/Moebius, `removal/v1_2/pipeline.py`), in order:

1. Image in [-1, 1]; mask binarised at 0.5; masked image = image * (1 - mask).
2. VAE-encode the whole image and the masked image (`latent_dist.sample()`, times the VAE's
   scaling factor 0.13025); the mask goes to latent size by nearest-neighbour resizing.
3. DDIM (scaled-linear betas 0.00085..0.012, 1000 training steps, no clipping), 20 steps at
   strength 0.99: the schedule 950, 900, ..., 0 minus its first entry, so 19 steps from t=900.
4. Start latents: the whole image's latents noised to the first timestep, with offset noise
   (0.0357 x one normal value per channel) added to the noise.
5. Each step: the U-Net input is [latents | mask | masked-image latents] (9 channels), run as a
   batch of two with the unconditional LCG ids 10..19 and the conditional ids 0..9;
   eps = uncond + guidance * (cond - uncond) (guidance 2.5 by default), then a DDIM step.
6. VAE-decode, map to [0, 1], and paste over the original with the mask blurred (radius 3).

Step 4 is also the door for temporal consistency: put a previous fill (warped along the flow)
under the hole before encoding, lower the strength, and keep the noise: consecutive key frames
then start from the same point and agree.

Randomness comes only from the `noise` / `generator` arguments, so a seed fixes the result.
AutoencoderKL and DDIMScheduler are diffusers' own classes.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from ..errors import ModelError
from .moebius_unet import MoebiusDenoiser

NOISE_OFFSET = 0.0357
PASTE_BLUR_SIGMA = 3.0


@dataclass(frozen=True)
class SamplerSettings:
    """The knobs of one sampling run (the release's defaults)."""

    steps: int = 20
    guidance: float = 2.5
    strength: float = 0.99
    noise_offset: float = NOISE_OFFSET
    seed: int = 0

    def __post_init__(self):
        if self.steps < 1:
            raise ValueError(f"steps must be >= 1, got {self.steps}")
        if not 0.0 < self.strength <= 1.0:
            raise ValueError(f"strength must be in (0, 1], got {self.strength}")


def release_scheduler():
    """DDIM with the release's settings (the rest spelled out as diffusers 0.38's defaults)."""
    from diffusers import DDIMScheduler

    return DDIMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        num_train_timesteps=1000,
        clip_sample=False,
        set_alpha_to_one=True,
        steps_offset=0,
        timestep_spacing="leading",
        prediction_type="epsilon",
    )


def guidance_ids(num_lcg_ids: int, batch: int, device=None) -> torch.Tensor:
    """LCG ids for a guided batch: `batch` unconditional rows (upper half), then conditional."""
    half = num_lcg_ids // 2
    uncond = torch.arange(half, num_lcg_ids, device=device).expand(batch, half)
    cond = torch.arange(0, half, device=device).expand(batch, half)
    return torch.cat([uncond, cond])


def strength_timesteps(scheduler, steps: int, strength: float) -> torch.Tensor:
    """Set a `steps` schedule and keep its last int(steps * strength) entries (img2img)."""
    scheduler.set_timesteps(steps)
    kept = min(int(steps * strength), steps)
    if kept < 1:
        raise ValueError(f"strength {strength} leaves no step of {steps}")
    return scheduler.timesteps[steps - kept :]


def denoise_latents(
    denoiser: MoebiusDenoiser,
    scheduler,
    latents: torch.Tensor,
    mask: torch.Tensor,
    masked_latents: torch.Tensor,
    timesteps: Sequence[torch.Tensor],
    guidance: float,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """The guided DDIM loop (step 5). latents, masked_latents [B, 4, h, w]; mask [B, 1, h, w].

    The scheduler's arithmetic stays in float32 on the latents' device; only the denoiser runs
    in `dtype` on `device`.
    """
    batch = latents.shape[0]
    ids = guidance_ids(denoiser.config.num_lcg_ids, batch, device)
    condition = torch.cat([mask, masked_latents], dim=1).to(device, dtype)
    condition = torch.cat([condition, condition])
    for t in timesteps:
        model_input = scheduler.scale_model_input(latents, t).to(device, dtype)
        sample = torch.cat([torch.cat([model_input, model_input]), condition], dim=1)
        with torch.inference_mode():
            eps = denoiser(sample, t.to(device), ids).float().to(latents.device)
        uncond, cond = eps.chunk(2)
        eps = uncond + guidance * (cond - uncond)
        latents = scheduler.step(eps, t, latents).prev_sample
    return latents


class MoebiusSampler:
    """Denoiser + VAE + DDIM: images and holes of config.image_size in, filled images out."""

    def __init__(self, denoiser: MoebiusDenoiser, vae, device="cpu", dtype=torch.float32):
        self.denoiser = denoiser
        self.vae = vae
        self.device = torch.device(device)
        self.dtype = dtype
        self.config = denoiser.config
        vae_config = vae.config
        factor = 2 ** (len(vae_config.block_out_channels) - 1)
        if vae_config.latent_channels != self.config.latent_channels:
            raise ModelError(
                f"VAE has {vae_config.latent_channels} latent channels, "
                f"Moebius needs {self.config.latent_channels}"
            )
        if factor != self.config.vae_downsample:
            raise ModelError(
                f"VAE downsamples x{factor}, Moebius needs x{self.config.vae_downsample}"
            )
        self.scaling_factor = float(vae_config.scaling_factor)
        self.vae_dtype = next(vae.parameters()).dtype

    @property
    def tile_size(self) -> int:
        return self.config.image_size

    @classmethod
    def from_files(
        cls,
        weights: str | os.PathLike,
        vae_folder: str | os.PathLike,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
        optimise: bool = True,
        config=None,
    ) -> MoebiusSampler:
        """Load a checkpoint and a local diffusers VAE folder, ready for inference.

        config: the network's configuration (MoebiusConfig or the release's dict); the
        published 0.22B one when None.
        """
        from diffusers import AutoencoderKL

        from .optimize import prepare_for_inference
        from .weights import load_moebius

        denoiser = load_moebius(weights, config)
        if optimise:
            prepare_for_inference(denoiser, device=device, dtype=dtype)
        else:
            denoiser.to(device=device, dtype=dtype)
        folder = Path(vae_folder)
        # The SDXL-family VAE overflows in float16; keep it in float32 then.
        vae_dtype = torch.float32 if dtype == torch.float16 else dtype
        try:
            vae = AutoencoderKL.from_pretrained(
                folder, local_files_only=True, torch_dtype=vae_dtype, low_cpu_mem_usage=False
            )
        except (OSError, ValueError, RuntimeError) as exc:
            raise ModelError(f"{folder}: cannot load the VAE ({exc})") from None
        vae.to(device=device).eval().requires_grad_(False)
        return cls(denoiser, vae, device=device, dtype=dtype)

    # --- the pieces ----------------------------------------------------------------------------

    def encode(self, images: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """[B, 3, H, W] in [-1, 1] -> scaled latents [B, 4, H/8, W/8] (a sample, as released)."""
        posterior = self.vae.encode(images.to(self.device, self.vae_dtype)).latent_dist
        return posterior.sample(generator=generator).float() * self.scaling_factor

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Scaled latents -> images in [0, 1]."""
        latents = (latents / self.scaling_factor).to(self.device, self.vae_dtype)
        images = self.vae.decode(latents).sample.float()
        return ((images + 1) / 2).clamp(0, 1)

    # --- the procedure ------------------------------------------------------------------------

    def inpaint_tiles(
        self,
        images: torch.Tensor,
        holes: torch.Tensor,
        settings: SamplerSettings = SamplerSettings(),
        init: torch.Tensor | None = None,
        noise: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Fill tiles: images [B, 3, T, T] in [0, 1], holes [B, 1, T, T] (>= 0.5 is a hole).

        init: optional [B, 3, T, T] in [0, 1] put under the hole before encoding the start point.
        noise: optional [B, 4, T/8, T/8] start noise, offset already included; drawn from
        `generator` (or seeded by settings.seed) when None. Returns the decoded tiles in [0, 1]
        (not pasted: the caller decides which pixels to keep).
        """
        size = self.tile_size
        if images.shape[-2:] != (size, size) or holes.shape[-2:] != (size, size):
            raise ValueError(f"tiles must be {size}x{size}, got {tuple(images.shape[-2:])}")
        if generator is None:
            generator = torch.Generator().manual_seed(settings.seed)
        images = images.float() * 2 - 1
        hole = (holes.float() >= 0.5).float()
        masked = images * (1 - hole)
        start_images = images if init is None else masked + (init.float() * 2 - 1) * hole

        with torch.inference_mode():
            clean_latents = self.encode(start_images, generator).cpu()
            masked_latents = self.encode(masked, generator).cpu()
        latent_size = clean_latents.shape[-2:]
        latent_mask = F.interpolate(hole, size=latent_size, mode="nearest")
        if noise is None:
            noise = torch.randn(clean_latents.shape, generator=generator)
            offset = torch.randn((*clean_latents.shape[:2], 1, 1), generator=generator)
            noise = noise + settings.noise_offset * offset

        scheduler = release_scheduler()
        timesteps = strength_timesteps(scheduler, settings.steps, settings.strength)
        if settings.strength < 1:
            latents = scheduler.add_noise(clean_latents, noise.float(), timesteps[:1])
        else:
            latents = noise.float()
        latents = denoise_latents(
            self.denoiser,
            scheduler,
            latents,
            latent_mask,
            masked_latents,
            timesteps,
            settings.guidance,
            device=self.device,
            dtype=self.dtype,
        )
        with torch.inference_mode():
            return self.decode(latents).cpu()

    def inpaint_image(
        self,
        image: np.ndarray,
        hole: np.ndarray,
        settings: SamplerSettings = SamplerSettings(),
    ) -> np.ndarray:
        """The release's whole procedure on one T x T image: fill, then paste with a blurred mask.

        image: T x T x 3 uint8 RGB; hole: T x T bool. Unlike the release, the blend rounds
        instead of truncating, so pixels far from the hole come back bit-identical.
        """
        tile = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255
        holes = torch.from_numpy(hole.astype(np.float32))[None, None]
        filled = self.inpaint_tiles(tile, holes, settings)[0].permute(1, 2, 0).numpy()
        return paste_with_blurred_mask(image, filled, hole)


def paste_with_blurred_mask(
    image: np.ndarray, filled: np.ndarray, hole: np.ndarray, sigma: float = PASTE_BLUR_SIGMA
) -> np.ndarray:
    """The release's paste-back: original * (1 - m) + filled * m with m the blurred hole.

    image: H x W x 3 uint8; filled: H x W x 3 float in [0, 1]. Changes pixels within about
    3 sigma of the hole (the release's feathered seam); the Filler contract (only hole pixels
    change) is enforced by the tiler, not here.
    """
    weight = cv2.GaussianBlur(hole.astype(np.float32), (0, 0), sigma)[..., None]
    blended = image.astype(np.float32) * (1 - weight) + filled * 255.0 * weight
    return np.clip(np.rint(blended), 0, 255).astype(np.uint8)
