"""One contract for every prior: ``eps, x0 = model(x_t, t)`` on a variance-preserving schedule.

x_t = sqrt(alpha_bar_t) x0 + sqrt(1 - alpha_bar_t) eps   (DDPM Eq. 4, DDIM Eq. 4)

``t`` is a ``(B,)`` long tensor of indices into ``alphas_cumprod``. Each subclass overrides one
hook for what is model-specific (as k-diffusion's ``OpenAIDenoiser.get_eps``):

* ``EpsModel.get_eps``: networks trained to predict ε (ADM, DDPM); x0 is derived.
* ``X0Model.get_x0``: plain denoisers D(x, σ) (FFDNet); ε is derived. Their noise levels are
  written as a VP schedule through alpha_bar = 1 / (1 + σ²), so the same DDIM loop drives them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from .runtime import CompiledNetwork, network_precision


@dataclass(frozen=True)
class ModelInfo:
    """What the provenance record says about a prior."""

    name: str
    arch: str
    image_size: int | None  # native window; None for fully convolutional denoisers
    weights_sha256: str = ""
    license: str = ""
    generative: bool = True  # False for denoisers that cannot invent colour (FFDNet)
    extra: dict = field(default_factory=dict)
    sampling: dict = field(default_factory=dict)  # recommended sampler settings ({"eta": 1.0}), from the config
    colour: dict = field(default_factory=dict)  # colour at the working size: {"prior": companion, "work_size": ...}


class DiffusionModel(nn.Module):
    """Base of the contract. Holds ``alphas_cumprod`` (float64, length T) as a buffer."""

    def __init__(self, alphas_cumprod: torch.Tensor, info: ModelInfo, in_channels: int = 3):
        super().__init__()
        if alphas_cumprod.dim() != 1 or not (alphas_cumprod > 0).all() or not (alphas_cumprod <= 1).all():
            raise ValueError("alphas_cumprod must be a 1-D tensor with values in (0, 1]")
        self.register_buffer("alphas_cumprod", alphas_cumprod.to(torch.float64), persistent=False)
        # The same values on the host: the sampler's per-step scalars come from here, since reading a CUDA buffer
        # element into a Python float is a device sync (two per step otherwise).
        self.alpha_bar_host: tuple[float, ...] = tuple(alphas_cumprod.detach().to(torch.float64).cpu().tolist())
        self.info = info
        self.in_channels = in_channels

    @property
    def num_timesteps(self) -> int:
        return int(self.alphas_cumprod.shape[0])

    def alpha_bar(self, t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """alpha_bar_t broadcast to ``like``'s rank, in float32 (float64 if ``like`` is)."""
        dtype = torch.float64 if like.dtype == torch.float64 else torch.float32
        a = self.alphas_cumprod.to(like.device)[t].to(dtype)
        return a.view(-1, *([1] * (like.dim() - 1)))

    def forward(self, x_t: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError


class EpsModel(DiffusionModel):
    """Wraps a network that predicts ε; ``get_eps`` returns exactly ``in_channels`` channels."""

    def get_eps(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x_t: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        eps = self.get_eps(x_t, t).to(x_t.dtype)
        a = self.alpha_bar(t, x_t)
        # DDIM Eq. 9: predicted x0 = (x_t - sqrt(1 - alpha_bar_t) eps) / sqrt(alpha_bar_t)
        x0 = (x_t - (1 - a).sqrt() * eps) / a.sqrt()
        return eps, x0


class X0Model(DiffusionModel):
    """Wraps a denoiser that returns x0 directly; ε is derived so samplers see one contract."""

    def get_x0(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x_t: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x0 = self.get_x0(x_t, t).to(x_t.dtype)
        a = self.alpha_bar(t, x_t)
        eps = (x_t - a.sqrt() * x0) / (1 - a).clamp_min(1e-12).sqrt()
        return eps, x0


class NetworkEpsModel(EpsModel):
    """The common case: an ε-network ``net(x, t)`` (ADM, DDPM), optionally with learned σ.

    Networks with learned variance output 2C channels; the first C are ε (guided-diffusion's
    ``learn_sigma``). ``t`` is fed as the integer timestep, as both guided-diffusion and DDPM do.
    """

    def __init__(self, net: nn.Module, alphas_cumprod: torch.Tensor, info: ModelInfo, in_channels: int = 3):
        super().__init__(alphas_cumprod, info, in_channels)
        self.net = net
        self.channels_last = False
        self.compiled: CompiledNetwork | None = None

    def optimize(self, *, channels_last: bool = False, compile: bool | str = False) -> NetworkEpsModel:
        """Run the network in channels_last memory layout and/or through ``torch.compile`` (``True`` or a mode such
        as ``"max-autotune"``), falling back to eager with one warning if compiling fails (``ddnm.models.runtime``)."""
        if channels_last:
            self.net.to(memory_format=torch.channels_last)
        self.channels_last = bool(channels_last)
        self.compiled = CompiledNetwork(self.net, "default" if compile is True else compile) if compile else None
        return self

    def get_eps(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        # The network may hold fp16/bf16 weights (then it runs under autocast); the sampler's own arithmetic stays
        # in x_t's dtype (EpsModel.forward casts ε back).
        weight_dtype = next(self.net.parameters()).dtype
        x = x_t.to(weight_dtype)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with network_precision(x.device, weight_dtype):
            out = (self.compiled or self.net)(x, t)
        eps = out[:, : self.in_channels]
        # Back to the standard layout so the operator maths sum in the same order as in the default path.
        return eps.contiguous() if self.channels_last else eps
