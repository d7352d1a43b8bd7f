"""The DDPM UNet (Ho et al. 2020, arXiv:2006.11239) in the PyTorch layout of ermongroup/ddim ``models/diffusion.py``.

DDNM's CelebA-HQ prior (``celeba_hq.ckpt``, from SDEdit) uses this layout. Attribute names follow it so
its checkpoints load with ``strict=True``: ``temb.dense.{0,1}``, ``conv_in``, ``down.{i}.block.{j}``
(``norm1``, ``conv1``, ``temb_proj``, ``norm2``, ``conv2``, ``nin_shortcut``), ``down.{i}.attn.{j}``
(``norm``, ``q``, ``k``, ``v``, ``proj_out``), ``down.{i}.downsample.conv``, ``mid.block_1``,
``mid.attn_1``, ``mid.block_2``, ``up.{i}...``, ``up.{i}.upsample.conv``, ``norm_out``, ``conv_out``.

Shapes: ``forward(x (B, in_channels, H, W), t (B,)) -> (B, out_ch, H, W)``, H and W multiples of
2^(len(ch_mult) - 1). Attention sits where the feature map of a ``resolution``-sized input has a size
listed in ``attn_resolutions``; other input sizes keep those positions in the network.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

from .adm_blocks import GroupNorm32


def timestep_embedding(timesteps: torch.Tensor, dim: int) -> torch.Tensor:
    """DDPM's sinusoidal embedding (B,) -> (B, dim), laid out [sin | cos] (tensor2tensor convention)."""
    half = dim // 2
    # Frequencies 10000^(-i/(half-1)), i = 0..half-1: note half - 1, unlike ADM's half
    steps = torch.arange(half, dtype=torch.float32, device=timesteps.device)
    freqs = torch.exp(steps * -(math.log(10000) / (half - 1)))
    args = timesteps.float()[:, None] * freqs[None]
    embedding = torch.cat([torch.sin(args), torch.cos(args)], dim=1)
    return F.pad(embedding, (0, 1)) if dim % 2 else embedding


def normalize(channels: int) -> GroupNorm32:
    """GroupNorm(32, eps=1e-6) as DDPM; evaluated in float32 so half-precision weights stay stable."""
    return GroupNorm32(32, channels, eps=1e-6)


class Upsample(nn.Module):
    def __init__(self, channels: int, with_conv: bool):
        super().__init__()
        if with_conv:
            self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, scale_factor=2, mode="nearest")
        return self.conv(x) if hasattr(self, "conv") else x


class Downsample(nn.Module):
    def __init__(self, channels: int, with_conv: bool):
        super().__init__()
        if with_conv:
            self.conv = nn.Conv2d(channels, channels, 3, stride=2, padding=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if hasattr(self, "conv"):
            # Pad right/bottom only (TensorFlow "SAME" for stride 2), as the original DDPM does.
            return self.conv(F.pad(x, (0, 1, 0, 1)))
        return F.avg_pool2d(x, kernel_size=2, stride=2)


class ResnetBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, temb_channels: int, dropout: float):
        super().__init__()
        self.norm1 = normalize(in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.temb_proj = nn.Linear(temb_channels, out_channels)
        self.norm2 = normalize(out_channels)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        if in_channels != out_channels:
            self.nin_shortcut = nn.Conv2d(in_channels, out_channels, 1)

    def forward(self, x: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.temb_proj(F.silu(temb)).to(h.dtype)[:, :, None, None]
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        skip = self.nin_shortcut(x) if hasattr(self, "nin_shortcut") else x
        return skip + h


class AttnBlock(nn.Module):
    """Single-head self-attention with 1×1 Conv2d q, k, v, proj_out."""

    def __init__(self, channels: int):
        super().__init__()
        self.norm = normalize(channels)
        self.q = nn.Conv2d(channels, channels, 1)
        self.k = nn.Conv2d(channels, channels, 1)
        self.v = nn.Conv2d(channels, channels, 1)
        self.proj_out = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, channels, height, width = x.shape
        tokens = self.norm(x).flatten(2).transpose(1, 2)  # (B, T, C): a view when x is channels_last

        def project(conv: nn.Conv2d, z: torch.Tensor) -> torch.Tensor:
            return F.linear(z, conv.weight.flatten(1), conv.bias)

        q, k, v = (project(conv, tokens)[:, None] for conv in (self.q, self.k, self.v))  # (B, 1, T, C)
        # softmax(q kᵀ / sqrt(C)) v  (Vaswani et al. Eq. 1)
        attended = F.scaled_dot_product_attention(q, k, v)[:, 0]
        out = project(self.proj_out, attended)
        return x + out.transpose(1, 2).reshape(batch, channels, height, width)


def _level(blocks: list[nn.Module], attns: list[nn.Module]) -> nn.Module:
    level = nn.Module()
    level.block = nn.ModuleList(blocks)
    level.attn = nn.ModuleList(attns)
    return level


def _down_levels(ch: int, ch_mult: tuple[int, ...], num_res_blocks: int, attn_resolutions: set[int],
                 resolution: int, res: Callable, resamp_with_conv: bool) -> nn.ModuleList:
    """``down``: per level, ``num_res_blocks`` blocks (+ attention at listed sizes), then a 2× downsample."""
    size, block_in, levels = resolution, ch, nn.ModuleList()
    for i, mult in enumerate(ch_mult):
        blocks, attns = [], []
        for _ in range(num_res_blocks):
            blocks.append(res(block_in, ch * mult))
            block_in = ch * mult
            if size in attn_resolutions:
                attns.append(AttnBlock(block_in))
        level = _level(blocks, attns)
        if i != len(ch_mult) - 1:
            level.downsample = Downsample(block_in, resamp_with_conv)
            size //= 2
        levels.append(level)
    return levels


def _up_levels(ch: int, ch_mult: tuple[int, ...], num_res_blocks: int, attn_resolutions: set[int],
               lowest: int, res: Callable, resamp_with_conv: bool) -> nn.ModuleList:
    """``up``: per level, ``num_res_blocks + 1`` blocks each eating one skip, then a 2× upsample."""
    in_mult = (1, *ch_mult)
    size, block_in, levels = lowest, ch * ch_mult[-1], []
    for i, mult in reversed(list(enumerate(ch_mult))):
        blocks, attns = [], []
        for j in range(num_res_blocks + 1):
            # The last block of a level takes the skip from before that level's first block.
            skip_in = ch * (in_mult[i] if j == num_res_blocks else mult)
            blocks.append(res(block_in + skip_in, ch * mult))
            block_in = ch * mult
            if size in attn_resolutions:
                attns.append(AttnBlock(block_in))
        level = _level(blocks, attns)
        if i != 0:
            level.upsample = Upsample(block_in, resamp_with_conv)
            size *= 2
        levels.insert(0, level)  # up[i] serves level i, as upstream indexes it
    return nn.ModuleList(levels)


class Model(nn.Module):
    """DDPM ε-network; hyper-parameters as the ``model:`` section of a DDIM/DDNM config (``resolution`` =
    ``data.image_size``)."""

    def __init__(self, ch: int = 128, out_ch: int = 3, ch_mult: Sequence[int] = (1, 1, 2, 2, 4, 4),
                 num_res_blocks: int = 2, attn_resolutions: Sequence[int] = (16,), dropout: float = 0.0,
                 resamp_with_conv: bool = True, in_channels: int = 3, resolution: int = 256):
        super().__init__()
        self.ch, self.in_channels, self.out_channels, self.resolution = ch, in_channels, out_ch, resolution
        self.ch_mult, self.num_res_blocks = tuple(ch_mult), num_res_blocks
        temb_ch = 4 * ch
        self.temb = nn.Module()
        self.temb.dense = nn.ModuleList([nn.Linear(ch, temb_ch), nn.Linear(temb_ch, temb_ch)])
        self.conv_in = nn.Conv2d(in_channels, ch, 3, padding=1)

        res = partial(ResnetBlock, temb_channels=temb_ch, dropout=dropout)
        self.down = _down_levels(ch, self.ch_mult, num_res_blocks, set(attn_resolutions), resolution, res,
                                 resamp_with_conv)
        block_in = ch * self.ch_mult[-1]
        self.mid = nn.Module()
        self.mid.block_1 = res(block_in, block_in)
        self.mid.attn_1 = AttnBlock(block_in)
        self.mid.block_2 = res(block_in, block_in)
        lowest = resolution // 2 ** (len(self.ch_mult) - 1)
        self.up = _up_levels(ch, self.ch_mult, num_res_blocks, set(attn_resolutions), lowest, res, resamp_with_conv)
        block_in = ch * self.ch_mult[0]
        self.norm_out = normalize(block_in)
        self.conv_out = nn.Conv2d(block_in, out_ch, 3, padding=1)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        self._check_inputs(x, t)
        dense0, dense1 = self.temb.dense
        temb = dense1(F.silu(dense0(timestep_embedding(t, self.ch).to(dense0.weight.dtype))))
        skips = [self.conv_in(x.to(self.conv_in.weight.dtype))]
        for i, level in enumerate(self.down):
            for j, block in enumerate(level.block):
                h = block(skips[-1], temb)
                skips.append(level.attn[j](h) if len(level.attn) else h)
            if hasattr(level, "downsample"):
                skips.append(level.downsample(skips[-1]))
        h = self.mid.block_2(self.mid.attn_1(self.mid.block_1(skips[-1], temb)), temb)
        for level in reversed(self.up):
            for j, block in enumerate(level.block):
                h = block(torch.cat([h, skips.pop()], dim=1), temb)
                h = level.attn[j](h) if len(level.attn) else h
            if hasattr(level, "upsample"):
                h = level.upsample(h)
        return self.conv_out(F.silu(self.norm_out(h)))

    def _check_inputs(self, x: torch.Tensor, t: torch.Tensor) -> None:
        m = 2 ** (len(self.ch_mult) - 1)
        if x.dim() != 4 or x.shape[1] != self.in_channels or x.shape[2] % m or x.shape[3] % m:
            raise ValueError(f"x has shape {tuple(x.shape)}; expected (B, {self.in_channels}, H, W) with H and W "
                             f"multiples of {m} (this model is built for {self.resolution}²); pad the input")
        if t.shape != (x.shape[0],):
            raise ValueError(f"t has shape {tuple(t.shape)}; expected ({x.shape[0]},)")
