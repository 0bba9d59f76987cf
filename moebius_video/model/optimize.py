"""Inference preparation for a loaded Moebius denoiser: exact rewrites that make it faster.

`prepare_for_inference(model)` applies, in place and in this order:
1. BatchNorm folding. Every BatchNorm in the network directly follows a bias-free convolution or
   linear layer, and in eval mode it is a fixed per-channel affine map, so it can be multiplied
   into that layer's weights: with s = γ / sqrt(σ² + ε),
   y = γ (Wx - μ) / sqrt(σ² + ε) + β = (s W) x + (β - s μ).
   The folded model computes the same function (to float rounding) with fewer passes over memory.
2. The lambda layers' channels-last evaluation (`fast_path`, see lambda_layers.py).
3. Conv weights in channels_last memory format, so activations stay [B, H, W, C] in memory.
4. Device and dtype.

The result no longer has BatchNorm parameters, so load checkpoints before, never after.
"""

from __future__ import annotations

import torch
from torch import nn

from .lambda_layers import InteractiveLambda, LocalLambda
from .moebius_unet import DepthwiseSeparableConv, MoebiusDenoiser


def _fold_into(layer: nn.Conv2d | nn.Linear, norm: nn.modules.batchnorm._BatchNorm) -> None:
    """Multiply an eval-mode BatchNorm over layer's output channels into layer (in place)."""
    with torch.no_grad():
        scale = norm.weight / torch.sqrt(norm.running_var + norm.eps)
        shift = norm.bias - scale * norm.running_mean
        weight = layer.weight
        weight.mul_(scale.reshape(-1, *([1] * (weight.dim() - 1))).to(weight.dtype))
        bias = shift if layer.bias is None else layer.bias * scale + shift
        layer.bias = nn.Parameter(bias.to(weight.dtype), requires_grad=False)


def fold_batchnorm(model: nn.Module) -> int:
    """Fold every eval-mode BatchNorm of a Moebius network into its preceding layer.

    Returns how many were folded. The BatchNorms become nn.Identity. Raises if the model is in
    training mode (batch statistics cannot be folded).
    """
    if model.training:
        raise RuntimeError("fold_batchnorm: the model is in training mode; call .eval() first")
    pairs: list[tuple[nn.Module, str, nn.Module]] = []
    for module in model.modules():
        if isinstance(module, DepthwiseSeparableConv):
            pairs += [(module, "bn1", module.conv_dw), (module, "bn2", module.conv_pw)]
        elif isinstance(module, (LocalLambda, InteractiveLambda)):
            pairs += [(module, "norm_q", module.to_q), (module, "norm_v", module.to_v)]
    folded = 0
    for owner, name, layer in pairs:
        norm = getattr(owner, name)
        if isinstance(norm, nn.Identity):
            continue
        _fold_into(layer, norm)
        setattr(owner, name, nn.Identity())
        folded += 1
    return folded


def use_channels_last(model: nn.Module) -> None:
    """Store 2D conv weights as channels_last (the lambda layers' 3D/4D tables stay as they are)."""
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            module.weight.data = module.weight.data.contiguous(memory_format=torch.channels_last)


def set_fast_path(model: nn.Module, enabled: bool = True) -> None:
    for module in model.modules():
        if isinstance(module, (LocalLambda, InteractiveLambda)):
            module.fast_path = enabled


def prepare_for_inference(
    model: MoebiusDenoiser,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    fold: bool = True,
    channels_last: bool = True,
) -> MoebiusDenoiser:
    """Make a loaded denoiser ready for fast inference (in place; also returned).

    Float32 stays float32: every step here is exact up to float rounding. With dtype bfloat16
    or float16 the weights are cast after folding (fold in float32 first, then round once).
    """
    model.eval()
    model.requires_grad_(False)
    model.to(device=device, dtype=torch.float32)
    if fold:
        fold_batchnorm(model)
    set_fast_path(model, channels_last)
    if channels_last:
        use_channels_last(model)
    model.to(dtype=dtype)
    return model
