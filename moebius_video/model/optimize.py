"""Inference preparation for a loaded Moebius denoiser: exact rewrites that make it faster.

`prepare_for_inference(model)` applies, in place and in this order:
1. BatchNorm folding. Every BatchNorm in the network directly follows a bias-free convolution or
   linear layer, and in eval mode it is a fixed per-channel affine map, so it can be multiplied
   into that layer's weights: with s = γ / sqrt(σ² + ε),
   y = γ (Wx - μ) / sqrt(σ² + ε) + β = (s W) x + (β - s μ).
   The folded model computes the same function (to float rounding) with fewer passes over memory.
   Then the three projections of each Local-lambda (q, k, v) become one convolution.
2. Upsampling by phases. Nearest x2 upsampling followed by a 3 x 3 convolution reads, for each
   of the four output phases (even/odd row, even/odd column), only a 2 x 2 neighbourhood of the
   low-resolution map, with weights that are sums of the 3 x 3 ones. Four 2 x 2 convolutions at
   low resolution compute the same output with 16 instead of 36 multiplications per output
   pixel and channel pair: the two upsamplers are a fifth of the network's arithmetic.
3. The blocks' inference evaluation (`fast_path`): the lambda layers' channels-last contraction
   (and, at the 32² and 16² levels, the Local-lambda's position term summed over window offsets
   instead of convolved; see lambda_layers.py), and activations and residual sums written in
   place into results nobody else holds (a new 50 MB buffer costs more to fault in than to fill).
4. Conv weights in channels_last memory format, so activations stay [B, H, W, C] in memory.
5. Device and dtype.

The result no longer has BatchNorm parameters, so load checkpoints before, never after.
benchmarks/bench_model.py measures the effect against the plain module.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .lambda_layers import InteractiveLambda, LocalLambda
from .moebius_unet import DepthwiseSeparableConv, MoebiusDenoiser, Upsample


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


# Which low-resolution rows (offset -1, 0 or +1 around row i) feed output row 2i + phase, and
# which 3 x 3 kernel rows (dy = -1, 0, +1) add up on each: phase 0 reads rows i-1 (dy=-1) and
# i (dy=0 and +1); phase 1 reads rows i (dy=-1 and 0) and i+1 (dy=+1). Same for columns.
_PHASE_TAPS = torch.tensor(
    [
        [[1.0, 0.0, 0.0], [0.0, 1.0, 1.0]],  # phase 0: 2 taps x 3 kernel rows
        [[1.0, 1.0, 0.0], [0.0, 0.0, 1.0]],  # phase 1
    ]
)


class PhaseUpsample(nn.Module):
    """Nearest x2 upsampling + 3 x 3 conv (padding 1), computed as four 2 x 2 convs."""

    def __init__(self, upsample: Upsample):
        super().__init__()
        conv = upsample.conv
        with torch.no_grad():
            taps = _PHASE_TAPS.to(conv.weight)
            # phase (a, b): k[o, i, r, c] = Σ taps[a, r, dy] taps[b, c, dx] w[o, i, dy, dx]
            kernels = torch.einsum("ary,bcx,oiyx->aboirc", taps, taps, conv.weight)
        self.kernels = nn.Parameter(kernels.reshape(4, *kernels.shape[2:]), requires_grad=False)
        self.bias = nn.Parameter(conv.bias.detach().clone(), requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        shape = (b, self.bias.shape[0], 2 * h, 2 * w)
        out = torch.empty(shape, dtype=x.dtype, device=x.device, memory_format=_format_of(x))
        for index, (row, col) in enumerate(((0, 0), (0, 1), (1, 0), (1, 1))):
            # Phase 0 reads the row above (pad top), phase 1 the row below (pad bottom).
            padded = F.pad(x, (1 - col, col, 1 - row, row))
            out[:, :, row::2, col::2] = F.conv2d(padded, self.kernels[index], self.bias)
        return out


def _format_of(x: torch.Tensor) -> torch.memory_format:
    if x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous():
        return torch.channels_last
    return torch.contiguous_format


def use_phase_upsampling(model: nn.Module) -> int:
    """Replace every Upsample by its PhaseUpsample (exact up to float rounding)."""
    replaced = 0
    for module in model.modules():
        for name, child in module.named_children():
            if isinstance(child, Upsample):
                setattr(module, name, PhaseUpsample(child))
                replaced += 1
    return replaced


def fuse_projections(model: nn.Module) -> int:
    """Give every Local-lambda whose BatchNorms are folded one conv for its q, k and v.

    The three 1x1 convolutions read the same input; one convolution with their weights stacked
    reads it once and runs one larger matrix product instead of two thin ones.
    """
    fused = 0
    for module in model.modules():
        if not isinstance(module, LocalLambda) or module.to_qkv is not None:
            continue
        if not (isinstance(module.norm_q, nn.Identity) and isinstance(module.norm_v, nn.Identity)):
            continue
        parts = (module.to_q, module.to_k, module.to_v)
        weight = torch.cat([p.weight.detach() for p in parts])
        bias = torch.cat(
            [
                p.bias.detach() if p.bias is not None else weight.new_zeros(p.out_channels)
                for p in parts
            ]
        )
        conv = nn.Conv2d(weight.shape[1], weight.shape[0], 1).to(weight)
        with torch.no_grad():
            conv.weight.copy_(weight)
            conv.bias.copy_(bias)
        conv.requires_grad_(False)
        module.to_qkv = conv
        fused += 1
    return fused


def use_channels_last(model: nn.Module) -> None:
    """Store 2D conv weights as channels_last (the lambda layers' 3D/4D tables stay as they are)."""
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            module.weight.data = module.weight.data.contiguous(memory_format=torch.channels_last)
        elif isinstance(module, PhaseUpsample):
            module.kernels.data = torch.stack(
                [k.contiguous(memory_format=torch.channels_last) for k in module.kernels]
            )


def set_fast_path(model: nn.Module, enabled: bool = True) -> None:
    """Switch the inference-only evaluation of every block that has one (`fast_path`)."""
    for module in model.modules():
        if hasattr(module, "fast_path"):
            module.fast_path = enabled


def prepare_for_inference(
    model: MoebiusDenoiser,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    fold: bool = True,
    channels_last: bool = True,
    phase_upsampling: bool = True,
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
        fuse_projections(model)
    if phase_upsampling:
        use_phase_upsampling(model)
    set_fast_path(model, channels_last)
    if channels_last:
        use_channels_last(model)
    model.to(dtype=dtype)
    return model
