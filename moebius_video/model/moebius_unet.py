"""The Moebius denoiser: a 0.22B latent-diffusion inpainting U-Net built from LλMI blocks.

Paper: K. Duan, Z. Xu et al., "Moebius: 0.2B Lightweight Image Inpainting Framework with
10B-Level Performance", arXiv 2606.19195 (ECCV 2026).
Weights and reference code: github.com/hustvl/Moebius (release commit 390735d) and
huggingface.co/hustvl/Moebius; licence Apache-2.0. This file is our own implementation of the
published architecture; parameter names follow the release's checkpoints so they load with
`strict=True`.

Shape of the network (published configuration, 512 x 512 image -> 64 x 64 latent):

    sample [B, 9, 64, 64] = [noisy latent 4 | mask 1 | masked-image latent 4]
      conv_in (depthwise-separable)                                  -> 320 ch
      down 0: 2 x (DW resnet -> LλMI transformer), stride-2 conv     64² 320 ch
      down 1: same                                                   32² 640 ch
      down 2: 2 x (DW resnet -> LλMI transformer), no downsampling   16² 1280 ch
      (no mid block)
      up 0..2: 3 x (concat skip -> DW resnet -> LλMI transformer), then nearest x2 + conv
               (16² -> 32² -> 64²; none after the last)
      GroupNorm, SiLU, conv_out (depthwise-separable)                -> epsilon [B, 4, 64, 64]

The timestep enters every resnet through a sinusoidal embedding and an MLP. The condition is
not text: it is the Latent-Categories-Guidance (LCG) table, 20 learned tokens of width 3072;
ids 0..9 are the "conditional" set and 10..19 the "unconditional" one that classifier-free
guidance contrasts against.

An LλMI transformer block is, on [B, C, H, W] with LayerNorm over channels:
    x = x + LocalLambda(norm1(x))                 self-interaction, 15 x 15 local context
    x = x + InteractiveLambda(norm2(x), tokens)    cross-interaction with the LCG tokens
    x = x + MixFFN(norm3(x))
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ModelError
from .lambda_layers import InteractiveLambda, LocalLambda, MixFFN

# --------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------

RELEASE_MODEL_TYPE = "UNet2DLambdaDWConvMixFFNConditionModel_prune_down_mid_up_block_8x8"


@dataclass(frozen=True)
class MoebiusConfig:
    """Everything that decides the shape of a Moebius denoiser.

    `from_release` converts the release's configuration dict (`data`, `vae`, `model`) into this.
    """

    image_size: int = 512
    vae_downsample: int = 8
    in_channels: int = 9
    out_channels: int = 4
    block_out_channels: tuple[int, ...] = (320, 640, 1280)
    layers_per_block: int = 2
    num_heads: int = 8
    cross_attention_dim: int = 768
    lcg_dim: int = 3072
    num_lcg_ids: int = 20
    mix_mlp_ratio: float = 2.5
    local_kernel: int = 15
    conv_in_kernel: int = 3
    conv_out_kernel: int = 3
    norm_num_groups: int = 32
    norm_eps: float = 1e-5

    @property
    def latent_size(self) -> int:
        return self.image_size // self.vae_downsample

    @property
    def latent_channels(self) -> int:
        return self.out_channels

    @property
    def tokens_per_set(self) -> int:
        """LCG ids per guidance set (10): the conditional and unconditional halves."""
        return self.num_lcg_ids // 2

    @classmethod
    def from_release(cls, config: Mapping[str, Any]) -> MoebiusConfig:
        """Convert the release's config dict (as stored under `config` in the manifests)."""
        where = "Moebius config"
        for section in ("data", "vae", "model"):
            if not isinstance(config.get(section), Mapping):
                raise ModelError(f"{where}: missing section {section!r}")
        data, vae, model = config["data"], config["vae"], config["model"]

        def need(section: Mapping[str, Any], name: str, key: str) -> Any:
            if key not in section:
                raise ModelError(f"{where}: {name}.{key} is missing")
            return section[key]

        model_type = need(model, "model", "model_type")
        if model_type != RELEASE_MODEL_TYPE:
            raise ModelError(
                f"{where}: model.model_type {model_type!r} is not supported "
                f"(expected {RELEASE_MODEL_TYPE!r})"
            )
        # The published family only: fixed block types, lambda layers on, no mid block.
        expected = {
            "mid_block_type": None,
            "use_lambda_cross_attn": True,
            "use_local_self_attn": True,
            "encoder_hid_dim_type": "text_proj",
        }
        for key, value in expected.items():
            if model.get(key, value) != value:
                raise ModelError(f"{where}: model.{key} = {model[key]!r} is not supported")
        channels = tuple(int(c) for c in need(model, "model", "block_out_channels"))
        for key, block in (
            ("down_block_types", "DWMixTFDownBlock2D"),
            ("up_block_types", "DWMixTFUpBlock2D"),
        ):
            types = list(need(model, "model", key))
            if types != [block] * len(channels):
                raise ModelError(
                    f"{where}: model.{key} must be {len(channels)} x {block!r}, got {types}"
                )
        return cls(
            image_size=int(need(data, "data", "image_size")),
            vae_downsample=int(need(vae, "vae", "downsample_ratio")),
            in_channels=int(need(model, "model", "in_channels")),
            out_channels=int(need(model, "model", "out_channels")),
            block_out_channels=channels,
            num_heads=int(need(model, "model", "attention_head_dim")),
            cross_attention_dim=int(need(model, "model", "cross_attention_dim")),
            lcg_dim=int(need(model, "model", "encoder_hid_dim")),
            mix_mlp_ratio=float(model.get("mix_mlp_ratio", 2.5)),
            conv_in_kernel=int(model.get("conv_in_kernel", 3)),
            conv_out_kernel=int(model.get("conv_out_kernel", 3)),
        )


# --------------------------------------------------------------------------------------------
# Blocks
# --------------------------------------------------------------------------------------------


def _plus(temporary: torch.Tensor, other: torch.Tensor, in_place: bool) -> torch.Tensor:
    """temporary + other; with in_place, written into `temporary` (a fresh result nobody else
    holds), which spares allocating and faulting in a new buffer for every residual sum."""
    return temporary.add_(other) if in_place else temporary + other


class DepthwiseSeparableConv(nn.Module):
    """k x k depthwise conv, BN, ReLU, 1x1 pointwise conv, BN; plus the input when shapes match.

    (timm's DepthwiseSeparableConv with its defaults, as the release uses it.)
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3):
        super().__init__()
        self.conv_dw = nn.Conv2d(
            in_channels,
            in_channels,
            kernel_size,
            padding=kernel_size // 2,
            groups=in_channels,
            bias=False,
        )
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.conv_pw = nn.Conv2d(in_channels, out_channels, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.has_skip = in_channels == out_channels
        self.fast_path = False  # in-place activations and sums (inference only)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv_dw(x)), inplace=self.fast_path)
        y = self.bn2(self.conv_pw(y))
        return _plus(y, x, self.fast_path) if self.has_skip else y


class DWResnetBlock(nn.Module):
    """Pre-norm resnet block with depthwise-separable convs and an additive timestep embedding."""

    def __init__(self, in_channels: int, out_channels: int, temb_channels: int, cfg: MoebiusConfig):
        super().__init__()
        groups, eps = cfg.norm_num_groups, cfg.norm_eps
        self.norm1 = nn.GroupNorm(groups, in_channels, eps=eps)
        self.conv1 = DepthwiseSeparableConv(in_channels, out_channels)
        self.time_emb_proj = nn.Linear(temb_channels, out_channels)
        self.norm2 = nn.GroupNorm(groups, out_channels, eps=eps)
        self.conv2 = DepthwiseSeparableConv(out_channels, out_channels)
        self.conv_shortcut = (
            nn.Conv2d(in_channels, out_channels, 1) if in_channels != out_channels else None
        )
        self.fast_path = False  # in-place activations and sums (inference only)

    def forward(self, x: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        fast = self.fast_path
        h = self.conv1(F.silu(self.norm1(x), inplace=fast))
        h = _plus(h, self.time_emb_proj(F.silu(temb))[:, :, None, None], fast)
        h = self.conv2(F.silu(self.norm2(h), inplace=fast))
        shortcut = self.conv_shortcut(x) if self.conv_shortcut is not None else x
        return _plus(h, shortcut, fast)


def _channel_norm(norm: nn.LayerNorm, x: torch.Tensor) -> torch.Tensor:
    """LayerNorm over the channels of [B, C, H, W] (free of copies when x is channels_last)."""
    return norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class LambdaTransformerBlock(nn.Module):
    """The LλMI block: Local-lambda, Interactive-lambda, Mix-FFN, each pre-norm + residual."""

    def __init__(self, dim: int, cfg: MoebiusConfig, size: int):
        super().__init__()
        dim_k = dim // cfg.num_heads
        self.norm1 = nn.LayerNorm(dim, eps=cfg.norm_eps)
        self.attn1 = LocalLambda(dim, dim_k, cfg.num_heads, kernel_size=cfg.local_kernel)
        self.norm2 = nn.LayerNorm(dim, eps=cfg.norm_eps)
        self.attn2 = InteractiveLambda(
            dim, dim_k, cfg.num_heads, cfg.cross_attention_dim, size, cfg.tokens_per_set
        )
        self.norm3 = nn.LayerNorm(dim, eps=cfg.norm_eps)
        self.ff = MixFFN(dim, int(dim * cfg.mix_mlp_ratio))
        self.fast_path = False  # in-place sums (inference only)

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        fast = self.fast_path
        x = _plus(self.attn1(_channel_norm(self.norm1, x)), x, fast)
        x = _plus(self.attn2(_channel_norm(self.norm2, x), context), x, fast)
        x = _plus(self.ff(_channel_norm(self.norm3, x)), x, fast)
        return x


class LambdaTransformer2D(nn.Module):
    """GroupNorm, 1x1 in, one LλMI block, 1x1 out, plus the input."""

    def __init__(self, dim: int, cfg: MoebiusConfig, size: int):
        super().__init__()
        self.norm = nn.GroupNorm(cfg.norm_num_groups, dim, eps=1e-6)
        self.proj_in = nn.Conv2d(dim, dim, 1)
        self.transformer_blocks = nn.ModuleList([LambdaTransformerBlock(dim, cfg, size)])
        self.proj_out = nn.Conv2d(dim, dim, 1)
        self.fast_path = False  # in-place sum (inference only)

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        h = self.proj_in(self.norm(x))
        for block in self.transformer_blocks:
            h = block(h, context)
        return _plus(self.proj_out(h), x, self.fast_path)


class Downsample(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class Upsample(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class DownBlock(nn.Module):
    """(resnet, LλMI transformer) x layers, then an optional stride-2 conv.

    Returns the output and every intermediate state the up path concatenates back.
    """

    def __init__(
        self, in_ch: int, out_ch: int, temb: int, cfg: MoebiusConfig, size: int, down: bool
    ):
        super().__init__()
        layers = cfg.layers_per_block
        self.resnets = nn.ModuleList(
            [DWResnetBlock(in_ch if i == 0 else out_ch, out_ch, temb, cfg) for i in range(layers)]
        )
        self.attentions = nn.ModuleList(
            [LambdaTransformer2D(out_ch, cfg, size) for _ in range(layers)]
        )
        self.downsamplers = nn.ModuleList([Downsample(out_ch)]) if down else None

    def forward(self, x, temb, context) -> tuple[torch.Tensor, list[torch.Tensor]]:
        skips = []
        for resnet, attention in zip(self.resnets, self.attentions, strict=True):
            x = attention(resnet(x, temb), context)
            skips.append(x)
        if self.downsamplers is not None:
            x = self.downsamplers[0](x)
            skips.append(x)
        return x, skips


class UpBlock(nn.Module):
    """(concat skip, resnet, LλMI transformer) x (layers + 1), then an optional x2 upsampling."""

    def __init__(
        self,
        prev_ch: int,
        out_ch: int,
        skip_in_ch: int,
        temb: int,
        cfg: MoebiusConfig,
        size: int,
        up: bool,
    ):
        super().__init__()
        layers = cfg.layers_per_block + 1
        resnets = []
        for i in range(layers):
            skip_ch = skip_in_ch if i == layers - 1 else out_ch
            in_ch = prev_ch if i == 0 else out_ch
            resnets.append(DWResnetBlock(in_ch + skip_ch, out_ch, temb, cfg))
        self.resnets = nn.ModuleList(resnets)
        self.attentions = nn.ModuleList(
            [LambdaTransformer2D(out_ch, cfg, size) for _ in range(layers)]
        )
        self.upsamplers = nn.ModuleList([Upsample(out_ch)]) if up else None

    def forward(self, x, skips: list[torch.Tensor], temb, context) -> torch.Tensor:
        # skips arrive in down-path order; the deepest one is used first.
        for resnet, attention, skip in zip(
            self.resnets, self.attentions, reversed(skips), strict=True
        ):
            x = attention(resnet(torch.cat([x, skip], dim=1), temb), context)
        if self.upsamplers is not None:
            x = self.upsamplers[0](x)
        return x


class TimestepEmbedding(nn.Module):
    """Sinusoidal features of the timestep (cos half first), then Linear-SiLU-Linear."""

    def __init__(self, features: int, dim: int):
        super().__init__()
        self.features = features
        self.linear_1 = nn.Linear(features, dim)
        self.linear_2 = nn.Linear(dim, dim)

    def sinusoid(self, timesteps: torch.Tensor) -> torch.Tensor:
        half = self.features // 2
        exponent = torch.arange(half, dtype=torch.float32, device=timesteps.device)
        frequencies = torch.exp(-math.log(10000.0) * exponent / half)
        angles = timesteps[:, None].float() * frequencies[None, :]
        return torch.cat([torch.cos(angles), torch.sin(angles)], dim=-1)

    def forward(self, timesteps: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        return self.linear_2(F.silu(self.linear_1(self.sinusoid(timesteps).to(dtype))))


# --------------------------------------------------------------------------------------------
# The U-Net and the released wrapper
# --------------------------------------------------------------------------------------------


class MoebiusUNet(nn.Module):
    """The U-Net: (sample, timesteps, LCG token embeddings) -> epsilon."""

    def __init__(self, cfg: MoebiusConfig):
        super().__init__()
        self.config = cfg
        channels = cfg.block_out_channels
        temb = channels[0] * 4
        levels = len(channels)

        self.conv_in = DepthwiseSeparableConv(cfg.in_channels, channels[0], cfg.conv_in_kernel)
        self.time_embedding = TimestepEmbedding(channels[0], temb)
        self.encoder_hid_proj = nn.Linear(cfg.lcg_dim, cfg.cross_attention_dim)

        size = cfg.latent_size
        self.down_blocks = nn.ModuleList()
        for i, out_ch in enumerate(channels):
            in_ch = channels[max(i - 1, 0)]
            last = i == levels - 1
            self.down_blocks.append(DownBlock(in_ch, out_ch, temb, cfg, size, down=not last))
            if not last:
                size //= 2

        reversed_channels = list(reversed(channels))
        self.up_blocks = nn.ModuleList()
        for i, out_ch in enumerate(reversed_channels):
            prev_ch = reversed_channels[max(i - 1, 0)]
            skip_in_ch = reversed_channels[min(i + 1, levels - 1)]
            last = i == levels - 1
            self.up_blocks.append(
                UpBlock(prev_ch, out_ch, skip_in_ch, temb, cfg, size, up=not last)
            )
            if not last:
                size *= 2

        self.conv_norm_out = nn.GroupNorm(cfg.norm_num_groups, channels[0], eps=cfg.norm_eps)
        self.conv_out = DepthwiseSeparableConv(channels[0], cfg.out_channels, cfg.conv_out_kernel)

    def forward(
        self, sample: torch.Tensor, timesteps: torch.Tensor, lcg_tokens: torch.Tensor
    ) -> torch.Tensor:
        temb = self.time_embedding(timesteps, sample.dtype)
        context = self.encoder_hid_proj(lcg_tokens)

        x = self.conv_in(sample)
        skips = [x]
        for block in self.down_blocks:
            x, block_skips = block(x, temb, context)
            skips.extend(block_skips)

        for block in self.up_blocks:
            count = len(block.resnets)
            block_skips, skips = skips[-count:], skips[:-count]
            x = block(x, block_skips, temb, context)

        return self.conv_out(F.silu(self.conv_norm_out(x)))


class MoebiusDenoiser(nn.Module):
    """The released checkpoint's module: the LCG embedding table plus the U-Net.

    forward(sample [B, 9, h, w], timesteps [B] or [] or int, input_ids [B, 10]) -> eps [B, 4, h, w]
    with h = w = config.latent_size.
    """

    def __init__(self, cfg: MoebiusConfig):
        super().__init__()
        self.config = cfg
        self.embedding_layer = nn.Embedding(cfg.num_lcg_ids, cfg.lcg_dim)
        self.diff_model = MoebiusUNet(cfg)

    def forward(
        self,
        sample: torch.Tensor,
        timesteps: torch.Tensor | int | float,
        input_ids: torch.Tensor,
    ) -> torch.Tensor:
        cfg = self.config
        b, c, h, w = sample.shape
        if c != cfg.in_channels or h != cfg.latent_size or w != cfg.latent_size:
            raise ValueError(
                f"Moebius expects a sample of [B, {cfg.in_channels}, {cfg.latent_size}, "
                f"{cfg.latent_size}], got {list(sample.shape)}"
            )
        if input_ids.shape != (b, cfg.tokens_per_set):
            raise ValueError(
                f"Moebius expects input_ids of [{b}, {cfg.tokens_per_set}], "
                f"got {list(input_ids.shape)}"
            )
        timesteps = torch.as_tensor(timesteps, device=sample.device)
        timesteps = timesteps.reshape(-1).expand(b)
        return self.diff_model(sample, timesteps, self.embedding_layer(input_ids))


def build_moebius(config: Mapping[str, Any] | MoebiusConfig) -> MoebiusDenoiser:
    """Build a Moebius denoiser from the release's config dict (keys data, vae, model).

    The module is in eval mode with randomly initialised weights; load a checkpoint with
    `moebius_video.model.weights.load_checkpoint`. To build without allocating memory (e.g. to
    check names and shapes), call this under `with torch.device("meta"):`.
    """
    cfg = config if isinstance(config, MoebiusConfig) else MoebiusConfig.from_release(config)
    return MoebiusDenoiser(cfg).eval()
