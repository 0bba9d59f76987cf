"""The Moebius inpainting model (arXiv 2606.19195, hustvl/Moebius, Apache-2.0).

- `moebius_unet.py`: the denoiser network and its config (`build_moebius`, `MoebiusConfig`).
- `lambda_layers.py`: Local-lambda / Interactive-lambda layers and the Mix-FFN.
- `optimize.py`: exact inference rewrites (BatchNorm folding, channels-last evaluation).
- `weights.py`: loading checkpoints safely, with errors that name the first mismatch.
- `registry.py`: the known checkpoints and where they are cached (no torch import).
- `sampler.py`: the released sampling procedure (VAE + DDIM + guidance) on one tile.
- `tiling.py`: covering the holes of a full-resolution frame with model-sized tiles.
- `filler.py`: the filler the temporal core calls (`MoebiusFiller`, `load_filler`).
- `choose.py`: `make_filler(FillerSpec)`, the one place a run's filler is built.

Names are imported on first use, so `import moebius_video.model` (and `models list`) does not
pay for torch or diffusers.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "MoebiusConfig": "moebius_unet",
    "MoebiusDenoiser": "moebius_unet",
    "MoebiusUNet": "moebius_unet",
    "build_moebius": "moebius_unet",
    "load_moebius": "weights",
    "load_checkpoint": "weights",
    "prepare_for_inference": "optimize",
    "MoebiusSampler": "sampler",
    "SamplerSettings": "sampler",
    "MoebiusFiller": "filler",
    "load_filler": "filler",
    "make_filler": "choose",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        module = importlib.import_module(f".{_EXPORTS[name]}", __name__)
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
