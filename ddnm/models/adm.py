"""The ADM UNet of guided-diffusion (Dhariwal & Nichol 2021, arXiv:2105.05233), written for ddnm-batch.

``create_model`` takes guided-diffusion's ``script_util.create_model`` hyper-parameters and returns a
``UNetModel`` whose ``state_dict`` keys and shapes are upstream's, so checkpoints such as
``256x256_diffusion_uncond.pt`` load with ``strict=True`` and compute the same function.

Shapes: ``forward(x (B, C, H, W), timesteps (B,), y (B,) | None) -> (B, out_channels, H, W)``;
H and W must be divisible by 2^(len(channel_mult) - 1). The network is fully convolutional apart from
where attention sits (fixed by downsampling factor), so other sizes than ``image_size`` work.

``dc_head`` (ddnm-batch's addition, off for upstream checkpoints): every GroupNorm of a narrow UNet (32 channels
in 32 groups: one channel per group) removes each channel's spatial mean, and the output layer normalises too, so
the network cannot say what the per-channel spatial mean (the DC: the photo's global colour) of ε is. At high noise
that mean is almost all noise, and a sampler that cannot subtract it turns it into a saturated single-hue wash
(x0 = (x_t − √(1−ᾱ) ε̂)/√ᾱ divides the unexplained DC by √ᾱ ≈ 0.006 at t = T). The head adds, per output channel,

    ε̂_DC = a(t, h) · mean_hw(x_t) + b(t, h)

from the time embedding and the last feature map's channel means h: the Wiener form of E[ε_DC | x_t_DC] under a
Gaussian prior on photo means (a linear gain on x_t's DC and an offset), with content able to move both. Its last
layer starts at zero, so adding it to a trained network changes nothing until it is trained (fine-tuning resumes).

Precision: ``use_fp16`` is recorded but, as upstream, builds float32 weights; pick the compute dtype
with ``.to(dtype)`` (everything) or ``convert_to_fp16()`` (upstream's torso-only conversion). Each
stage casts its input to its own weight dtype, and GroupNorm always runs in float32.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import partial

import torch
from torch import nn

from .adm_blocks import (AttentionBlock, Downsample, ResBlock, TimestepEmbedSequential, Upsample, normalization,
                         timestep_embedding, zero_module)

NUM_CLASSES = 1000  # ImageNet, for class_cond=True
# Upstream's channel_mult for channel_mult="" by image size.
DEFAULT_CHANNEL_MULT = {
    512: (0.5, 1, 1, 2, 2, 4, 4),
    256: (1, 1, 2, 2, 4, 4),
    128: (1, 1, 2, 3, 4),
    64: (1, 2, 3, 4),
}


@dataclass(frozen=True)
class _Layout:
    """Where the UNet changes width, resamples and attends; shared by the encoder and decoder builders."""

    model_channels: int
    channel_mult: tuple[float, ...]
    num_res_blocks: int
    attention_ds: frozenset[int]  # downsampling factors with attention
    resblock_updown: bool
    conv_resample: bool

    def width(self, mult: float) -> int:
        return int(mult * self.model_channels)


def _encoder(layout: _Layout, res: Callable, attn: Callable, in_channels: int) -> tuple[nn.ModuleList, list[int]]:
    """``input_blocks`` and the channel count of each skip they leave for the decoder."""
    ch = layout.width(layout.channel_mult[0])
    blocks = nn.ModuleList([TimestepEmbedSequential(nn.Conv2d(in_channels, ch, 3, padding=1))])
    skip_channels, ds = [ch], 1
    for level, mult in enumerate(layout.channel_mult):
        for _ in range(layout.num_res_blocks):
            layers: list[nn.Module] = [res(ch, out_channels=layout.width(mult))]
            ch = layout.width(mult)
            if ds in layout.attention_ds:
                layers.append(attn(ch))
            blocks.append(TimestepEmbedSequential(*layers))
            skip_channels.append(ch)
        if level != len(layout.channel_mult) - 1:
            if layout.resblock_updown:
                down = res(ch, out_channels=ch, down=True)
            else:
                down = Downsample(ch, layout.conv_resample)
            blocks.append(TimestepEmbedSequential(down))
            skip_channels.append(ch)
            ds *= 2
    return blocks, skip_channels


def _decoder(layout: _Layout, res: Callable, attn: Callable, skip_channels: list[int]) -> nn.ModuleList:
    """``output_blocks``: each takes one skip (last in, first out); a level's last block upsamples."""
    skip_channels = list(skip_channels)
    ch, ds = skip_channels[-1], 2 ** (len(layout.channel_mult) - 1)
    blocks = nn.ModuleList()
    for level, mult in reversed(list(enumerate(layout.channel_mult))):
        for i in range(layout.num_res_blocks + 1):
            layers: list[nn.Module] = [res(ch + skip_channels.pop(), out_channels=layout.width(mult))]
            ch = layout.width(mult)
            if ds in layout.attention_ds:
                layers.append(attn(ch))
            if level and i == layout.num_res_blocks:
                up = res(ch, out_channels=ch, up=True) if layout.resblock_updown else Upsample(ch, layout.conv_resample)
                layers.append(up)
                ds //= 2
            blocks.append(TimestepEmbedSequential(*layers))
    return blocks


class UNetModel(nn.Module):
    """ADM UNet; arguments as guided-diffusion's ``UNetModel`` (2-D only; ``attention_resolutions`` are
    downsampling factors, e.g. (8, 16, 32) for attention at 32², 16², 8² of a 256² input)."""

    def __init__(self, image_size: int, in_channels: int, model_channels: int, out_channels: int,
                 num_res_blocks: int, attention_resolutions: Iterable[int], dropout: float = 0.0,
                 channel_mult: Sequence[float] = (1, 2, 4, 8), conv_resample: bool = True,
                 num_classes: int | None = None, use_checkpoint: bool = False, use_fp16: bool = False,
                 num_heads: int = 1, num_head_channels: int = -1, num_heads_upsample: int = -1,
                 use_scale_shift_norm: bool = False, resblock_updown: bool = False,
                 use_new_attention_order: bool = False, dc_head: bool = False):
        super().__init__()
        self.image_size, self.in_channels, self.out_channels = image_size, in_channels, out_channels
        self.model_channels, self.num_classes, self.use_fp16 = model_channels, num_classes, use_fp16
        self.channel_mult = tuple(channel_mult)
        emb_dim = 4 * model_channels
        self.time_embed = nn.Sequential(nn.Linear(model_channels, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        if num_classes is not None:
            self.label_emb = nn.Embedding(num_classes, emb_dim)

        res = partial(ResBlock, emb_channels=emb_dim, dropout=dropout, use_scale_shift_norm=use_scale_shift_norm,
                      use_checkpoint=use_checkpoint)
        attn = partial(AttentionBlock, num_head_channels=num_head_channels, use_checkpoint=use_checkpoint,
                       use_new_attention_order=use_new_attention_order)
        layout = _Layout(model_channels, self.channel_mult, num_res_blocks, frozenset(attention_resolutions),
                         resblock_updown, conv_resample)
        self.input_blocks, skip_channels = _encoder(layout, res, partial(attn, num_heads=num_heads), in_channels)
        ch = skip_channels[-1]
        self.middle_block = TimestepEmbedSequential(res(ch, out_channels=ch), attn(ch, num_heads=num_heads),
                                                    res(ch, out_channels=ch))
        heads_up = num_heads if num_heads_upsample == -1 else num_heads_upsample
        self.output_blocks = _decoder(layout, res, partial(attn, num_heads=heads_up), skip_channels)
        first_ch = layout.width(self.channel_mult[0])
        self.out = nn.Sequential(normalization(first_ch), nn.SiLU(),
                                 zero_module(nn.Conv2d(first_ch, out_channels, 3, padding=1)))
        if dc_head and out_channels != in_channels:
            raise ValueError("dc_head predicts ε's channel means; it needs out_channels == in_channels (no learn_sigma)")
        # (a, b) per output channel from [h's channel means, time embedding]; zero-initialised (see the module doc)
        self.dc_head = zero_module(nn.Linear(first_ch + emb_dim, 2 * out_channels)) if dc_head else None

    @property
    def spatial_multiple(self) -> int:
        """H and W must be multiples of this (one halving per level but the last)."""
        return 2 ** (len(self.channel_mult) - 1)

    def convert_to_fp16(self) -> None:
        """Upstream's mixed precision: only the torso's convolutions in float16."""
        self._convert_torso(torch.float16)

    def convert_to_fp32(self) -> None:
        self._convert_torso(torch.float32)

    def _convert_torso(self, dtype: torch.dtype) -> None:
        for part in (self.input_blocks, self.middle_block, self.output_blocks):
            for module in part.modules():
                if isinstance(module, (nn.Conv1d, nn.Conv2d)):
                    module.to(dtype)

    def forward(self, x: torch.Tensor, timesteps: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        self._check_inputs(x, timesteps, y)
        time_dtype = self.time_embed[0].weight.dtype
        emb = self.time_embed(timestep_embedding(timesteps, self.model_channels).to(time_dtype))
        if self.num_classes is not None:
            emb = emb + self.label_emb(y)
        h = x.to(self.input_blocks[0][0].weight.dtype)
        skips = []
        for block in self.input_blocks:
            h = block(h, emb)
            skips.append(h)
        h = self.middle_block(h, emb)
        for block in self.output_blocks:
            h = block(torch.cat([h, skips.pop()], dim=1), emb)
        out = self.out(h.to(self.out[2].weight.dtype))
        if self.dc_head is None:
            return out
        cond = torch.cat([h.float().mean(dim=(2, 3)), emb.float()], dim=1)
        gain, offset = self.dc_head(nn.functional.silu(cond).to(self.dc_head.weight.dtype)).float().chunk(2, dim=1)
        dc = gain * x.float().mean(dim=(2, 3)) + offset  # ε̂_DC = a · mean_hw(x_t) + b, added to every pixel
        return out + dc[:, :, None, None].to(out.dtype)

    def _check_inputs(self, x: torch.Tensor, timesteps: torch.Tensor, y: torch.Tensor | None) -> None:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"x has shape {tuple(x.shape)}; expected (B, {self.in_channels}, H, W)")
        m = self.spatial_multiple
        if x.shape[2] % m or x.shape[3] % m:
            raise ValueError(f"x is {x.shape[2]}×{x.shape[3]}; H and W must be multiples of {m} for this UNet "
                             f"({len(self.channel_mult)} levels); pad the input")
        if timesteps.shape != (x.shape[0],):
            raise ValueError(f"timesteps has shape {tuple(timesteps.shape)}; expected ({x.shape[0]},)")
        if (y is None) != (self.num_classes is None):
            need = "needs class labels y of shape (B,)" if self.num_classes is not None else "takes no labels y"
            raise ValueError(f"this UNet {need}")


def _parse_channel_mult(channel_mult: str | Sequence[float], image_size: int) -> tuple[float, ...]:
    if isinstance(channel_mult, str) and channel_mult == "":
        if image_size not in DEFAULT_CHANNEL_MULT:
            raise ValueError(f"no default channel_mult for image_size={image_size}; "
                             f"pass channel_mult (e.g. \"1,2,2\") or use one of {sorted(DEFAULT_CHANNEL_MULT)}")
        return DEFAULT_CHANNEL_MULT[image_size]
    if isinstance(channel_mult, str):
        return tuple(int(m) for m in channel_mult.split(","))
    return tuple(channel_mult)


def _parse_attention(attention_resolutions: str | Iterable[int], image_size: int) -> tuple[int, ...]:
    """Resolutions such as "32,16,8" -> downsampling factors image_size // res (upstream's convention)."""
    if isinstance(attention_resolutions, str):
        attention_resolutions = [int(r) for r in attention_resolutions.split(",") if r.strip()]
    return tuple(image_size // int(r) for r in attention_resolutions)


def create_model(image_size: int, num_channels: int, num_res_blocks: int, channel_mult: str = "",
                 learn_sigma: bool = False, class_cond: bool = False, use_checkpoint: bool = False,
                 attention_resolutions: str = "16", num_heads: int = 1, num_head_channels: int = -1,
                 num_heads_upsample: int = -1, use_scale_shift_norm: bool = False, dropout: float = 0.0,
                 resblock_updown: bool = False, use_fp16: bool = False,
                 use_new_attention_order: bool = False, dc_head: bool = False) -> UNetModel:
    """guided-diffusion's ``script_util.create_model``: same arguments, same defaults, same network
    (``dc_head``, ours and off by default, adds the ε channel-mean head of the module doc)."""
    return UNetModel(
        image_size=image_size, in_channels=3, model_channels=num_channels,
        out_channels=6 if learn_sigma else 3,  # learned σ: ε and the variance interpolation v (IDDPM Eq. 15)
        num_res_blocks=num_res_blocks,
        attention_resolutions=_parse_attention(attention_resolutions, image_size), dropout=dropout,
        channel_mult=_parse_channel_mult(channel_mult, image_size),
        num_classes=NUM_CLASSES if class_cond else None, use_checkpoint=use_checkpoint, use_fp16=use_fp16,
        num_heads=num_heads, num_head_channels=num_head_channels, num_heads_upsample=num_heads_upsample,
        use_scale_shift_norm=use_scale_shift_norm, resblock_updown=resblock_updown,
        use_new_attention_order=use_new_attention_order, dc_head=dc_head,
    )
