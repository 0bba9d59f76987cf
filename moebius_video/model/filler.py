"""Moebius as a filler of the temporal core, and the factory that picks a filler.

`MoebiusFiller.fill(image, hole, init=None)` follows the Filler protocol of
`moebius_video.fillers` (only hole pixels change) and runs the released sampling
procedure in model-sized tiles at native resolution (`tiling.py`).

Flicker control: the start noise of every tile is anchored to the frame. It is cut from an
endless field of 64 x 64-latent blocks, each drawn from a generator seeded by (seed, block
row, block column), so the same image position gets the same noise on every key frame, however
the tiles fall. Passing `init` (the previous key frame's fill warped along the flow) puts that
fill under the hole and samples from `init_strength` instead of 0.99: with the same noise,
consecutive key frames start from nearly the same point and agree.

`load_filler(model, weights, device, dtype)` returns a MoebiusFiller when the checkpoint and
the VAE are on this machine, and otherwise the classical OpenCV filler plus a one-line notice
that says how to get the weights.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from ..errors import ModelError, OptionError, UsageError
from ..fillers import Filler, FillerSpec, OpenCVFiller
from . import registry
from .sampler import MoebiusSampler, SamplerSettings
from .tiling import Tile, fill_with_tiles

log = logging.getLogger(__name__)

NOISE_BLOCK = 64  # latent pixels per noise block (one native 512 x 512 tile)


def _seed_for(*parts: object) -> int:
    digest = hashlib.sha256(":".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "little") & 0x7FFF_FFFF_FFFF_FFFF


def anchored_noise(
    seed: int, lx0: int, ly0: int, size: int, channels: int = 4, offset: float = 0.0
) -> torch.Tensor:
    """Start noise [channels, size, size] for the latent square at (lx0, ly0) of the frame.

    The same latent position always gets the same values for a seed. `offset` adds the release's
    offset noise: one value per channel, also fixed by the seed.
    """
    noise = torch.empty(channels, size, size)
    by0, by1 = ly0 // NOISE_BLOCK, (ly0 + size - 1) // NOISE_BLOCK
    bx0, bx1 = lx0 // NOISE_BLOCK, (lx0 + size - 1) // NOISE_BLOCK
    for by in range(by0, by1 + 1):
        for bx in range(bx0, bx1 + 1):
            generator = torch.Generator().manual_seed(_seed_for("noise", seed, by, bx))
            block = torch.randn(channels, NOISE_BLOCK, NOISE_BLOCK, generator=generator)
            # The overlap of this block with the requested square, in both frames of reference.
            y0, y1 = max(ly0, by * NOISE_BLOCK), min(ly0 + size, (by + 1) * NOISE_BLOCK)
            x0, x1 = max(lx0, bx * NOISE_BLOCK), min(lx0 + size, (bx + 1) * NOISE_BLOCK)
            noise[:, y0 - ly0 : y1 - ly0, x0 - lx0 : x1 - lx0] = block[
                :,
                y0 - by * NOISE_BLOCK : y1 - by * NOISE_BLOCK,
                x0 - bx * NOISE_BLOCK : x1 - bx * NOISE_BLOCK,
            ]
    if offset:
        generator = torch.Generator().manual_seed(_seed_for("offset", seed))
        noise += offset * torch.randn(channels, 1, 1, generator=generator)
    return noise


def _nchw(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2)


class MoebiusFiller:
    """Fills holes with Moebius, tile by tile at native resolution (see module docstring).

    settings: steps, guidance, seed, noise offset (strength applies without init).
    init_strength: img2img strength when an init image is given (lower keeps more of it).
    context: model pixels of context kept around each tile's core (default tile size / 8).
    preferred_context: frame pixels of context a caller should give around the hole when it
    passes a crop instead of a whole frame.
    """

    preferred_context = 256

    def __init__(
        self,
        sampler: MoebiusSampler,
        settings: SamplerSettings | None = None,
        init_strength: float = 0.6,
        context: int | None = None,
        tile_batch: int = 1,
        name: str = "moebius",
    ):
        if not 0.0 < init_strength <= 1.0:
            raise ValueError(f"init_strength must be in (0, 1], got {init_strength}")
        self.sampler = sampler
        self.settings = settings or SamplerSettings()
        self.init_strength = init_strength
        # An eighth of the tile on each side (64 px of 512) unless told otherwise.
        self.context = sampler.tile_size // 8 if context is None else context
        self.tile_batch = tile_batch
        self.name = name

    def fill(self, image: np.ndarray, hole: np.ndarray, init: np.ndarray | None = None):
        """image H x W x 3 uint8/uint16, hole H x W bool, init like image or None."""
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype not in (np.uint8, np.uint16):
            raise ValueError(
                f"image must be H x W x 3 uint8/uint16, got {image.shape} {image.dtype}"
            )
        if hole.shape != image.shape[:2]:
            raise ValueError(f"hole {hole.shape} does not match image {image.shape[:2]}")
        if init is not None and (init.shape != image.shape or init.dtype != image.dtype):
            raise ValueError(f"init {init.shape} {init.dtype} does not match image")
        settings = self.settings
        if init is not None:
            settings = replace(settings, strength=self.init_strength)
        return fill_with_tiles(
            image,
            hole.astype(bool),
            self._tile_filler(settings),
            tile_size=self.sampler.tile_size,
            context=self.context,
            init=init,
            batch=self.tile_batch,
        )

    def _tile_filler(self, settings: SamplerSettings):
        sampler = self.sampler
        model_size = sampler.tile_size
        factor = sampler.config.vae_downsample
        latent = model_size // factor

        def fill_tiles(tiles: list[Tile], images, holes, inits):
            noises = []
            for tile in tiles:
                # Latent position of the tile in the frame (in its own scale when scaled).
                scale = tile.scale(model_size)
                lx0, ly0 = round(tile.x0 / scale / factor), round(tile.y0 / scale / factor)
                noises.append(
                    anchored_noise(settings.seed, lx0, ly0, latent, offset=settings.noise_offset)
                )
            first = tiles[0]
            generator = torch.Generator().manual_seed(
                _seed_for("vae", settings.seed, first.x0, first.y0)
            )
            filled = sampler.inpaint_tiles(
                _nchw(images),
                torch.from_numpy(holes.astype(np.float32))[:, None],
                settings,
                init=None if inits is None else _nchw(inits),
                noise=torch.stack(noises),
                generator=generator,
            )
            return filled.permute(0, 2, 3, 1).numpy()

        return fill_tiles


# --------------------------------------------------------------------------------------------
# Choosing a filler
# --------------------------------------------------------------------------------------------


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise OptionError("device", " cuda: no CUDA device is available (use --device cpu)")
    if device.type not in ("cpu", "cuda"):
        raise OptionError("device", f" {device}: expected auto, cpu or cuda")
    return device


DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def resolve_dtype(dtype: str | torch.dtype | None, device: torch.device) -> torch.dtype:
    """None: float32 on CPU, float16 on CUDA. float16 needs CUDA."""
    if dtype is None:
        return torch.float16 if device.type == "cuda" else torch.float32
    if isinstance(dtype, str):
        if dtype not in DTYPES:
            raise UsageError(f"dtype {dtype!r}: expected one of {', '.join(DTYPES)}")
        dtype = DTYPES[dtype]
    if dtype == torch.float16 and device.type != "cuda":
        raise UsageError("float16 needs a CUDA device; on CPU use float32 or bfloat16")
    if dtype not in DTYPES.values():
        raise UsageError(f"dtype {dtype}: expected one of {', '.join(DTYPES)}")
    return dtype


def _vae_for(weights: Path) -> Path | None:
    """A VAE beside the weights, else the registry's. Beside means folder/vae (a diffusers
    layout), or up to two levels up (the release's weight/Moebius/ft_places2 + weight/vae)."""
    folder = weights if weights.is_dir() else weights.parent
    for candidate in (folder / "vae", folder.parent / "vae", folder.parent.parent / "vae"):
        if registry.is_vae_folder(candidate):
            return candidate
    return registry.locate(registry.VAE_NAME).path


def _config_for(weights: Path) -> dict | None:
    """A release-style config ({"data", "vae", "model"}) saved next to the weights, if any."""
    folder = weights if weights.is_dir() else weights.parent
    for name in ("moebius_config.json", "config.json"):
        try:
            config = json.loads((folder / name).read_text())
        except (OSError, ValueError):
            continue
        if isinstance(config, dict) and isinstance(config.get("model"), dict):
            if "model_type" in config["model"]:
                return config
    return None


def load_filler(
    model: str | None = None,
    weights: str | os.PathLike | None = None,
    device: str | torch.device = "auto",
    dtype: str | torch.dtype | None = None,
    notice: Callable[[str], None] | None = None,
    settings: SamplerSettings | None = None,
    **filler_options,
) -> Filler:
    """The filler for never-seen pixels: Moebius when its weights are here, else OpenCV.

    model: a checkpoint name from `moebius-video models list` (default moebius-ft-places2) or
    "opencv". weights: a checkpoint file or folder (wins over model; must exist); a release-style
    config (moebius_config.json) beside it selects another configuration of the family, and a
    `vae` folder beside it is used as the VAE. When the named checkpoint or the VAE is not on
    this machine, returns OpenCVFiller and calls `notice` with one line saying how to get them.
    device: auto, cpu or cuda. dtype: float32, bfloat16 or float16 (CUDA only); default
    float32 on CPU and float16 on CUDA. Other keywords go to MoebiusFiller.
    """
    notice = notice or log.warning
    classical = FillerSpec(model, weights).classical()
    if classical is not None:
        return classical
    torch_device = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, torch_device)

    if weights is not None:
        path = Path(weights).expanduser()
        if not path.exists():
            raise ModelError(f"--weights {path}: no such file or folder")
        vae = _vae_for(path)
        if vae is None:
            raise ModelError(
                f"--weights {path}: the VAE is missing; run `moebius-video models pull "
                f"{registry.VAE_NAME}` or import a diffusers AutoencoderKL folder"
            )
        name = f"moebius:{path.name}"
    else:
        checkpoint = model or registry.DEFAULT_CHECKPOINT
        located = registry.locate(checkpoint)  # UsageError for unknown names
        vae = registry.locate(registry.VAE_NAME).path
        if located.path is None or vae is None:
            missing = checkpoint if located.path is None else registry.VAE_NAME
            notice(
                f"Moebius weights not found ({missing}), using OpenCV inpainting; get them with "
                f"`moebius-video models pull {checkpoint}`"
            )
            return OpenCVFiller()
        path, name = located.path, f"moebius:{checkpoint}"

    sampler = MoebiusSampler.from_files(
        path, vae, device=torch_device, dtype=torch_dtype, config=_config_for(path)
    )
    return MoebiusFiller(sampler, settings=settings, name=name, **filler_options)
