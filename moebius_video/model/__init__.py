"""The Moebius inpainting model (arXiv 2606.19195, hustvl/Moebius, Apache-2.0).

- `moebius_unet.py`: the denoiser network and its config (`build_moebius`, `MoebiusConfig`).
- `lambda_layers.py`: Local-lambda / Interactive-lambda layers and the Mix-FFN.
- `optimize.py`: exact inference rewrites (BatchNorm folding, channels-last evaluation).
- `weights.py`: loading checkpoints safely, with errors that name the first mismatch.
- `registry.py`: the known checkpoints and where they are cached.
- `sampler.py`: the released sampling procedure (VAE + DDIM + guidance) on one 512 x 512 tile.
- `tiling.py`: covering holes of a full-resolution frame with model-sized tiles.
- `filler.py`: the filler the temporal core calls (`MoebiusFiller`, `load_filler`).

Submodules import torch; importing this package does not import diffusers.
"""

from __future__ import annotations

from .moebius_unet import MoebiusConfig, MoebiusDenoiser, MoebiusUNet, build_moebius

__all__ = ["MoebiusConfig", "MoebiusDenoiser", "MoebiusUNet", "build_moebius"]
