"""Lambda layers and the Mix-FFN of the Moebius LλMI block.

Moebius (arXiv 2606.19195; weights and reference code: github.com/hustvl/Moebius, Apache-2.0)
replaces the self- and cross-attention of a diffusion U-Net with lambda layers (Bello 2021,
"LambdaNetworks"): instead of an N x N attention map, the context is summarised into small
linear functions ("lambdas", k x v matrices) that every query position applies to itself.

Symbols used below (LambdaNetworks' notation; intra-depth u = 1 as in the release):

| code | paper | meaning |
|---|---|---|
| `q` | Q | queries, `heads` x `dim_k` per position, batch-normalised |
| `keys` | K | one `dim_k` key per context position, softmax-normalised over positions |
| `values` | V | one `dim_v` value per context position, batch-normalised |
| `content_lambda` | λc = softmax(K) Vᵀ | dim_k x dim_v, shared by every query position |
| `position_lambda` | λp_n | dim_k x dim_v, one per query position n |
| output | y_n = q_nᵀ (λc + λp_n) | heads x dim_v per position |

Local-lambda (`LocalLambda`, self-interaction): λp_n is a 15 x 15 convolution of the values
around n, one kernel per key channel. Interactive-lambda (`InteractiveLambda`, cross-interaction)
reads its context from the 10 Latent-Categories-Guidance tokens and learns one embedding per
(query position, token) pair, which ties it to a 64 x 64 latent (512 x 512 pixels).

Each layer has two ways to evaluate the same formula:
- the literal one (default): build λc and λp as tensors, then apply them with einsum; this is
  the paper's formula as written and the reference the parity tests check;
- the channels-last one (`fast_path = True`, switched on by `optimize.prepare_for_inference`):
  the same products arranged as batched matrix multiplications over [B, H, W, C] memory, so no
  large tensor is transposed; the Interactive-lambda also contracts the queries with the
  position embedding before the values, which needs fewer multiplications.
Both paths are tested against the release's outputs.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class LocalLambda(nn.Module):
    """Local-lambda: a lambda layer over the feature map, with 15 x 15 local position lambdas.

    Input and output: [B, dim, H, W]. Works at any H, W (the position lambda is a convolution).
    """

    def __init__(self, dim: int, dim_k: int, heads: int, kernel_size: int = 15):
        super().__init__()
        if dim % heads:
            raise ValueError(f"LocalLambda: dim {dim} is not divisible by heads {heads}")
        if kernel_size % 2 == 0:
            raise ValueError(f"LocalLambda: kernel_size must be odd, got {kernel_size}")
        self.heads = heads
        self.dim_k = dim_k
        self.dim_v = dim // heads
        self.kernel_size = kernel_size
        self.fast_path = False

        self.to_q = nn.Conv2d(dim, dim_k * heads, 1, bias=False)
        self.to_k = nn.Conv2d(dim, dim_k, 1, bias=False)
        self.to_v = nn.Conv2d(dim, self.dim_v, 1, bias=False)
        self.norm_q = nn.BatchNorm2d(dim_k * heads)
        self.norm_v = nn.BatchNorm2d(self.dim_v)
        # Stored as the release's Conv3d (u=1 input channel, kernel 1 x r x r) so checkpoints load;
        # it is applied as a 2D convolution of each value channel separately.
        self.pos_conv = nn.Conv3d(1, dim_k, (1, kernel_size, kernel_size))
        # q, k and v projections as one conv, set by optimize.fuse_projections once the
        # BatchNorms are folded (None: use to_q, to_k, to_v).
        self.to_qkv: nn.Conv2d | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        n = h * w
        if self.to_qkv is not None:
            sizes = [self.heads * self.dim_k, self.dim_k, self.dim_v]
            q, keys, values = self.to_qkv(x).split(sizes, dim=1)
        else:
            q = self.norm_q(self.to_q(x))  # [b, heads*k, h, w]
            keys = self.to_k(x)
            values = self.norm_v(self.to_v(x))  # [b, v, h, w]
        keys = keys.reshape(b, self.dim_k, n).softmax(dim=-1)

        # λc = softmax(K) Vᵀ: what the whole map holds, independent of position. [b, k, v]
        content_lambda = torch.bmm(keys, values.reshape(b, self.dim_v, n).transpose(1, 2))
        if self.fast_path:
            return self._apply_lambdas_channels_last(q, content_lambda, values)

        # λp_n: every value channel convolved with one r x r kernel per key channel.
        # [b*v, 1, h, w] -> [b, v, k, n]
        position_lambda = F.conv2d(
            values.reshape(b * self.dim_v, 1, h, w),
            self.pos_conv.weight[:, :, 0],
            self.pos_conv.bias,
            padding=self.kernel_size // 2,
        ).reshape(b, self.dim_v, self.dim_k, n)
        q = q.reshape(b, self.heads, self.dim_k, n)
        # y_n = q_nᵀ (λc + λp_n)
        y = torch.einsum("bhkn,bkv->bhvn", q, content_lambda)
        y = y + torch.einsum("bhkn,bvkn->bhvn", q, position_lambda)
        return y.reshape(b, self.heads * self.dim_v, h, w)

    def _apply_lambdas_channels_last(self, q, content_lambda, values):
        """y_n = q_nᵀ (λc + λp_n) as batched matmuls over [B, H, W, C] memory (channels_last).

        Two ways to the position term, whichever needs less work at this layer's size:
        - build λp with the convolution, then one k x v matrix product per position;
        - `_position_term_by_offsets`: contract the queries with the kernels first.
        """
        b, v, h, w = values.shape
        n, k, heads, r = h * w, self.dim_k, self.heads, self.kernel_size
        # One heads x k query matrix per position: a view when q is channels_last.
        queries = q.permute(0, 2, 3, 1).reshape(b * n, heads, k)
        if self.by_offsets:
            y = self._position_term_by_offsets(queries.reshape(b, h, w, heads, k), values)
            y = y.reshape(b, n * heads, v)
            # The kernels' biases add the same value for every v: fold them into λc.
            content_lambda = content_lambda + self.pos_conv.bias[:, None]
        else:
            # The kernel as a channels_last [k, 1, r, r] view (same memory: the input channel
            # dimension has size 1), so that the convolution writes channels_last output,
            # [v, b, h, w, k] in memory: one column-major k x v matrix per position.
            kernel = self.pos_conv.weight.contiguous().as_strided((k, 1, r, r), (r * r, 1, r, 1))
            values_by_channel = values.transpose(0, 1).reshape(v * b, 1, h, w)
            position_lambda = F.conv2d(
                values_by_channel, kernel, self.pos_conv.bias, padding=r // 2
            )
            lambdas = position_lambda.permute(0, 2, 3, 1).reshape(v, b * n, k).permute(1, 2, 0)
            y = torch.bmm(queries, lambdas).reshape(b, n * heads, v)
        y = y.baddbmm_(queries.reshape(b, n * heads, k), content_lambda)
        return y.reshape(b, h, w, heads * v).permute(0, 3, 1, 2)

    @property
    def by_offsets(self) -> bool:
        # Per position, the convolution route costs k*v*r² multiplications, the offsets route
        # heads*(k+v)*r² plus 2*r small strided matmuls. Measured on a Xeon (AVX-512), the
        # offsets route wins from k*v >= 4*heads*(k+v) on (the 32x32 and 16x16 levels of
        # Moebius). On a GPU the convolution is one kernel launch against 2*r: keep it there.
        if self.pos_conv.weight.device.type != "cpu":
            return False
        return self.dim_k * self.dim_v >= 4 * self.heads * (self.dim_k + self.dim_v)

    def _position_term_by_offsets(self, queries: torch.Tensor, values: torch.Tensor):
        """Σ_k q[h,k] λp[k,v] (without the kernel bias), reordered as
        Σ_o (Σ_k q[h,k] P[k,o]) V[v, n+o] over the r x r window offsets o.

        queries [b, h, w, heads, k]; values [b, v, h, w]; returns [b, h, w, heads, v].
        The values sit in a zero-padded map as wide as the window row needs (w + r - 1). On a
        grid that wide, the r values of one window row are r consecutive pixels, so each window
        row is a single batched matmul over a strided view of the map, without copying it.
        """
        b, v, h, w = values.shape
        k, heads, r = self.dim_k, self.heads, self.kernel_size
        pad = r // 2
        grid_w = w + 2 * pad
        # Each query's weight for each window offset, on the wide grid: [b, h*grid_w, heads, r*r]
        wide = F.pad(queries, (0, 0, 0, 0, 0, 2 * pad))
        weights = self.pos_conv.weight.reshape(k, r * r)
        offsets = torch.matmul(wide, weights).reshape(b, h * grid_w, heads, r * r)
        # [b, h + 2*pad + 1, grid_w, v]: one spare row keeps the last window row's view inside.
        padded = F.pad(values.permute(0, 2, 3, 1), (0, 0, pad, pad, pad, pad + 1)).contiguous()
        out = values.new_zeros(b, h * grid_w, heads, v)
        for i in range(b):
            start = padded[i].storage_offset()
            for dy in range(r):
                window_row = padded.as_strided(
                    (h * grid_w, r, v), (v, v, 1), start + dy * grid_w * v
                )
                out[i].baddbmm_(offsets[i, :, :, dy * r : (dy + 1) * r], window_row)
        return out.reshape(b, h, grid_w, heads, v)[:, :, :w]


class InteractiveLambda(nn.Module):
    """Interactive-lambda: queries from the feature map, context from the LCG tokens.

    Input [B, dim, H, W] with H * W == size * size, context [B, num_tokens, context_dim];
    output [B, dim, H, W]. The learned position embedding has one dim_k vector for every
    (query position, token) pair, so the layer only runs at the size it was trained at.
    """

    def __init__(
        self,
        dim: int,
        dim_k: int,
        heads: int,
        context_dim: int,
        size: int,
        num_tokens: int,
    ):
        super().__init__()
        if dim % heads:
            raise ValueError(f"InteractiveLambda: dim {dim} is not divisible by heads {heads}")
        self.heads = heads
        self.dim_k = dim_k
        self.dim_v = dim // heads
        self.size = size
        self.num_tokens = num_tokens
        self.fast_path = False

        self.to_q = nn.Conv2d(dim, dim_k * heads, 1, bias=False)
        self.to_k = nn.Linear(context_dim, dim_k, bias=False)
        self.to_v = nn.Linear(context_dim, self.dim_v, bias=False)
        self.norm_q = nn.BatchNorm2d(dim_k * heads)
        self.norm_v = nn.BatchNorm1d(self.dim_v)
        # [query position, token, k, u=1], as stored in the release's checkpoints.
        self.rel_pos_emb = nn.Parameter(torch.randn(size * size, num_tokens, dim_k, 1))

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        n = h * w
        if n != self.size * self.size:
            raise ValueError(
                f"InteractiveLambda: feature map {h}x{w} does not match the trained size "
                f"{self.size}x{self.size}"
            )
        q = self.norm_q(self.to_q(x))  # [b, heads*k, h, w]
        keys = self.to_k(context).transpose(1, 2).softmax(dim=-1)  # [b, k, m]
        values = self.norm_v(self.to_v(context).transpose(1, 2))  # [b, v, m]
        embedding = self.rel_pos_emb[..., 0]  # [n, m, k]

        if self.fast_path:
            return self._apply_lambdas_channels_last(q, keys, values, embedding)

        content_lambda = torch.bmm(keys, values.transpose(1, 2))  # [b, k, v]
        position_lambda = torch.einsum("nmk,bvm->bnkv", embedding, values)
        q = q.reshape(b, self.heads, self.dim_k, n)
        y = torch.einsum("bhkn,bkv->bhvn", q, content_lambda)
        y = y + torch.einsum("bhkn,bnkv->bhvn", q, position_lambda)
        return y.reshape(b, self.heads * self.dim_v, h, w)

    def _apply_lambdas_channels_last(self, q, keys, values, embedding):
        """y_n = q_nᵀ (λc + λp_n) with the values applied last; returns channels_last.

        λc + λp_n = Σ_m (K[:, m] + E[n, m]) V[:, m]ᵀ, so the queries are first scored against
        the m tokens' keys plus position embeddings (heads x m per position), then the scores
        are applied to the values: heads*m*(k+v) multiplications per position instead of
        m*k*v + heads*k*v.
        """
        b, _, h, w = q.shape
        n, k, heads = h * w, self.dim_k, self.heads
        queries = q.permute(0, 2, 3, 1).reshape(b, n, heads, k)  # a view when channels_last
        scores = torch.matmul(queries, embedding.transpose(1, 2))  # [b, n, heads, m]
        scores = scores.reshape(b, n * heads, -1).baddbmm_(queries.reshape(b, n * heads, k), keys)
        y = torch.bmm(scores, values.transpose(1, 2))  # [b, n*heads, v]
        return y.reshape(b, h, w, heads * self.dim_v).permute(0, 3, 1, 2)


class _Conv(nn.Module):
    """A convolution held under `.conv`, so checkpoint names read `ff.inverted_conv.conv.weight`."""

    def __init__(self, conv: nn.Conv2d):
        super().__init__()
        self.conv = conv

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class MixFFN(nn.Module):
    """The gated depthwise-conv feed-forward of SANA (GLUMBConv), on [B, dim, H, W].

    1x1 expand to 2 x hidden + SiLU, 3x3 depthwise, split into value and gate,
    value * SiLU(gate), 1x1 project back.
    """

    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.inverted_conv = _Conv(nn.Conv2d(dim, hidden * 2, 1))
        self.depth_conv = _Conv(nn.Conv2d(hidden * 2, hidden * 2, 3, padding=1, groups=hidden * 2))
        self.point_conv = _Conv(nn.Conv2d(hidden, dim, 1, bias=False))
        self.fast_path = False  # in-place activations (inference only)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.silu(self.inverted_conv(x), inplace=self.fast_path)
        x = self.depth_conv(x)
        x, gate = x.chunk(2, dim=1)
        return self.point_conv(x * F.silu(gate, inplace=self.fast_path))
