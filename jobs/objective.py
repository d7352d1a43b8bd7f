"""The training objective of the bundled prior: DDPM's ε-MSE (arXiv:2006.11239, Algorithm 1) and the EMA weights.

``jobs.train_prior`` runs the loop; these are the pieces of one step that tests and ``jobs.fit_dc_head`` use alone.
"""

from __future__ import annotations

import torch
from torch import nn


def diffusion_loss(net: nn.Module, x0: torch.Tensor, alphas_cumprod: torch.Tensor,
                   generator: torch.Generator) -> torch.Tensor:
    """ε-MSE at uniform t (DDPM Algorithm 1)."""
    t = torch.randint(0, alphas_cumprod.shape[0], (x0.shape[0],), generator=generator, device=x0.device)
    eps = torch.randn(x0.shape, generator=generator, device=x0.device)
    return fixed_t_loss(net, x0, t, eps, alphas_cumprod)


def noised(x0: torch.Tensor, t: torch.Tensor, eps: torch.Tensor, alphas_cumprod: torch.Tensor) -> torch.Tensor:
    """DDPM Eq. 4: x_t = sqrt(alpha_bar_t) x0 + sqrt(1 - alpha_bar_t) eps."""
    alpha_bar_t = alphas_cumprod[t].float().view(-1, 1, 1, 1)
    return alpha_bar_t.sqrt() * x0 + (1 - alpha_bar_t).sqrt() * eps


def fixed_t_loss(net: nn.Module, x0: torch.Tensor, t: torch.Tensor, eps: torch.Tensor,
                 alphas_cumprod: torch.Tensor) -> torch.Tensor:
    # DDPM Eq. 14: simple loss ||eps - eps_theta(x_t, t)||^2
    return (net(noised(x0, t, eps, alphas_cumprod), t) - eps).float().pow(2).mean()


@torch.no_grad()
def ema_update(ema: nn.Module, net: nn.Module, decay: float) -> None:
    """ema ← decay·ema + (1 − decay)·net, in place on the EMA copy the loop owns."""
    # one fused launch per dtype group instead of one per tensor (~200 here): it matters on a GPU
    torch._foreach_lerp_(list(ema.parameters()), list(net.parameters()), 1 - decay)


def ema_decay_at(step: int, decay: float) -> float:
    # Early on the EMA would mostly remember the random init; ramp it as (1 + n) / (10 + n) (as in many DDPM codes).
    return min(decay, (1 + step) / (10 + step))
