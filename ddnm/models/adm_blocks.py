"""Building blocks of the ADM UNet (Dhariwal & Nichol 2021, arXiv:2105.05233; guided-diffusion ``unet.py``).

Module and attribute names follow guided-diffusion so that its checkpoints load with ``strict=True``:
``in_layers.{0,2}``, ``emb_layers.1``, ``out_layers.{0,3}``, ``skip_connection``, ``norm``, ``qkv``,
``proj_out``, ``op`` (strided-conv downsample) and ``conv`` (upsample). The arithmetic is our own and
is written for speed: attention runs through ``scaled_dot_product_attention`` on (B, T, C) tokens,
which is a free view of a channels_last feature map.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

GROUPS = 32  # guided-diffusion's normalization(): GroupNorm with 32 groups


class GroupNorm32(nn.GroupNorm):
    """GroupNorm evaluated in float32 and cast back, so fp16/bf16 activations normalise stably."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = None if self.weight is None else self.weight.float()
        bias = None if self.bias is None else self.bias.float()
        return F.group_norm(x.float(), self.num_groups, weight, bias, self.eps).to(x.dtype)


def normalization(channels: int) -> GroupNorm32:
    if channels % GROUPS:
        raise ValueError(f"{channels} channels cannot be split into {GROUPS} norm groups; use a multiple of 32")
    return GroupNorm32(GROUPS, channels)


def zero_module(module: nn.Module) -> nn.Module:
    """Zero-initialise the last layer of a residual branch, as upstream does (each block starts as identity)."""
    for p in module.parameters():
        nn.init.zeros_(p)
    return module


def timestep_embedding(timesteps: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding (B,) -> (B, dim), laid out [cos | sin] as in guided-diffusion."""
    half = dim // 2
    # Frequencies max_period^(-i/half), i = 0..half-1 (Transformer positional code, Vaswani et al. §3.5)
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=timesteps.device) / half)
    args = timesteps[:, None].float() * freqs[None]
    embedding = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    if dim % 2:
        embedding = F.pad(embedding, (0, 1))
    return embedding


def resample(x: torch.Tensor, direction: str | None) -> torch.Tensor:
    """Parameter-free 2× resampling used inside up/down ResBlocks: nearest up, 2×2 average down."""
    if direction == "up":
        return F.interpolate(x, scale_factor=2, mode="nearest")
    if direction == "down":
        return F.avg_pool2d(x, kernel_size=2, stride=2)
    return x


class Upsample(nn.Module):
    """Nearest 2× upsampling, then an optional 3×3 conv (key ``conv``)."""

    def __init__(self, channels: int, use_conv: bool, out_channels: int | None = None):
        super().__init__()
        self.channels = channels
        if use_conv:
            self.conv = nn.Conv2d(channels, out_channels or channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = resample(x, "up")
        return self.conv(x) if hasattr(self, "conv") else x


class Downsample(nn.Module):
    """Strided 3×3 conv (key ``op``) or 2×2 average pooling."""

    def __init__(self, channels: int, use_conv: bool, out_channels: int | None = None):
        super().__init__()
        out_channels = out_channels or channels
        if use_conv:
            self.op = nn.Conv2d(channels, out_channels, 3, stride=2, padding=1)
        elif out_channels != channels:
            raise ValueError(f"average-pool downsampling keeps channels; got {channels} -> {out_channels}")
        else:
            self.op = nn.AvgPool2d(kernel_size=2, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class ResBlock(nn.Module):
    """Residual block conditioned on the timestep embedding, optionally resampling (``up``/``down``)."""

    takes_emb = True

    def __init__(self, channels: int, emb_channels: int, dropout: float, out_channels: int | None = None,
                 use_scale_shift_norm: bool = False, use_checkpoint: bool = False,
                 up: bool = False, down: bool = False):
        super().__init__()
        out_channels = out_channels or channels
        self.use_scale_shift_norm = use_scale_shift_norm
        self.use_checkpoint = use_checkpoint
        self.direction = "up" if up else "down" if down else None
        self.in_layers = nn.Sequential(normalization(channels), nn.SiLU(),
                                       nn.Conv2d(channels, out_channels, 3, padding=1))
        emb_out = 2 * out_channels if use_scale_shift_norm else out_channels  # (scale, shift) or a bias
        self.emb_layers = nn.Sequential(nn.SiLU(), nn.Linear(emb_channels, emb_out))
        self.out_layers = nn.Sequential(normalization(out_channels), nn.SiLU(), nn.Dropout(p=dropout),
                                        zero_module(nn.Conv2d(out_channels, out_channels, 3, padding=1)))
        if out_channels == channels:
            self.skip_connection = nn.Identity()
        else:
            self.skip_connection = nn.Conv2d(channels, out_channels, 1)

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        if self.use_checkpoint and torch.is_grad_enabled():
            return checkpoint(self._forward, x, emb, use_reentrant=False)
        return self._forward(x, emb)

    def _forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        in_norm, in_act, in_conv = self.in_layers
        # Resample between the activation and the conv, on both paths (upstream's resblock_updown order).
        h = resample(in_act(in_norm(x)), self.direction)
        x = resample(x, self.direction)
        h = in_conv(h)
        emb_out = self.emb_layers(emb).to(h.dtype)[:, :, None, None]
        out_norm, out_act, out_drop, out_conv = self.out_layers
        if self.use_scale_shift_norm:
            scale, shift = emb_out.chunk(2, dim=1)
            h = out_norm(h) * (1 + scale) + shift  # ADM §3 "adaptive group normalization": GN(h)(1 + y_s) + y_b
        else:
            h = out_norm(h + emb_out)
        h = out_conv(out_drop(out_act(h)))
        return self.skip_connection(x) + h


class AttentionBlock(nn.Module):
    """Multi-head self-attention over all positions, with 1×1 Conv1d ``qkv``/``proj_out`` as upstream.

    ``use_new_attention_order=False`` (legacy) reads the 3C qkv channels as (head, q/k/v, ch);
    ``True`` reads them as (q/k/v, head, ch). Both write heads back as (head, ch).
    """

    def __init__(self, channels: int, num_heads: int = 1, num_head_channels: int = -1,
                 use_checkpoint: bool = False, use_new_attention_order: bool = False):
        super().__init__()
        if num_head_channels != -1:
            if channels % num_head_channels:
                raise ValueError(f"{channels} attention channels are not divisible by "
                                 f"num_head_channels={num_head_channels}")
            num_heads = channels // num_head_channels
        if channels % num_heads:
            raise ValueError(f"{channels} attention channels are not divisible by num_heads={num_heads}")
        self.num_heads = num_heads
        self.use_checkpoint = use_checkpoint
        self.new_order = use_new_attention_order
        self.norm = normalization(channels)
        self.qkv = nn.Conv1d(channels, 3 * channels, 1)
        self.proj_out = zero_module(nn.Conv1d(channels, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.use_checkpoint and torch.is_grad_enabled():
            return checkpoint(self._forward, x, use_reentrant=False)
        return self._forward(x)

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, channels, height, width = x.shape
        length, heads = height * width, self.num_heads
        tokens = self.norm(x).flatten(2).transpose(1, 2)  # (B, T, C): a view when x is channels_last
        qkv = F.linear(tokens, self.qkv.weight.squeeze(-1), self.qkv.bias)  # (B, T, 3C)
        if self.new_order:
            qkv = qkv.view(batch, length, 3, heads, channels // heads)
        else:
            qkv = qkv.view(batch, length, heads, 3, channels // heads).transpose(2, 3)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each (B, heads, T, ch)
        # softmax(q kᵀ / sqrt(ch)) v  (Vaswani et al. Eq. 1); upstream scales q and k by ch^(-1/4) each
        attended = F.scaled_dot_product_attention(q, k, v)
        attended = attended.transpose(1, 2).reshape(batch, length, channels)
        out = F.linear(attended, self.proj_out.weight.squeeze(-1), self.proj_out.bias)
        return x + out.transpose(1, 2).reshape(batch, channels, height, width)


class TimestepEmbedSequential(nn.Sequential):
    """Sequential whose ResBlocks also receive the timestep embedding."""

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        for layer in self:
            x = layer(x, emb) if getattr(layer, "takes_emb", False) else layer(x)
        return x
