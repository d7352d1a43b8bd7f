"""Noise schedules (pure functions). DDPM arXiv:2006.11239 §4; improved DDPM arXiv:2102.09672 Eq. 17."""

from __future__ import annotations

import math

import torch


def linear_betas(num_timesteps: int = 1000, start: float = 1e-4, end: float = 0.02) -> torch.Tensor:
    """DDPM's linear β schedule, scaled so any T keeps the same ᾱ curve as T = 1000 (guided-diffusion)."""
    scale = 1000 / num_timesteps
    return torch.linspace(scale * start, scale * end, num_timesteps, dtype=torch.float64)


def alphas_cumprod_from_betas(betas: torch.Tensor) -> torch.Tensor:
    """ᾱ_t = Π_{s≤t} (1 − β_s)."""
    return torch.cumprod(1 - betas.to(torch.float64), dim=0)


def cosine_alphas_cumprod(num_timesteps: int = 1000, s: float = 0.008) -> torch.Tensor:
    """Improved DDPM Eq. 17, with β clipped at 0.999 as in the paper."""
    steps = torch.arange(num_timesteps + 1, dtype=torch.float64) / num_timesteps
    f = torch.cos((steps + s) / (1 + s) * math.pi / 2) ** 2
    betas = (1 - f[1:] / f[:-1]).clamp(max=0.999)
    return alphas_cumprod_from_betas(betas)
