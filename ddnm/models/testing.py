"""Analytic priors with known answers, for tests and benchmarks of the samplers (no weights)."""

from __future__ import annotations

import torch

from ..schedules import alphas_cumprod_from_betas, linear_betas
from .wrapper import EpsModel, ModelInfo, X0Model


def _default_alphas_cumprod(num_timesteps: int) -> torch.Tensor:
    return alphas_cumprod_from_betas(linear_betas(num_timesteps))


class ZeroEpsModel(EpsModel):
    """Predicts ε = 0 everywhere: the crudest prior; useful to exercise the sampler's plumbing."""

    def __init__(self, num_timesteps: int = 1000):
        super().__init__(_default_alphas_cumprod(num_timesteps), ModelInfo("zero-eps", "analytic", None))

    def get_eps(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(x_t)


class GaussianPosteriorModel(X0Model):
    """Exact prior for data x0 ~ N(mean, std² I): returns E[x0 | x_t] or, with ``sample=True``, a draw
    from p(x0 | x_t). With the posterior draw, the DDIM posterior step keeps every marginal q(x_t)
    exactly (DDIM Eq. 7 is built so), which is what the sampler tests check."""

    def __init__(self, mean: float = 0.0, std: float = 0.5, sample: bool = False,
                 num_timesteps: int = 1000, generator: torch.Generator | None = None):
        super().__init__(_default_alphas_cumprod(num_timesteps), ModelInfo("gaussian-oracle", "analytic", None))
        self.mean, self.std, self.sample, self.generator = mean, std, sample, generator

    def get_x0(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        a = self.alpha_bar(t, x_t)
        var_t = a * self.std**2 + (1 - a)  # Var(x_t) per pixel
        gain = a.sqrt() * self.std**2 / var_t
        post_mean = self.mean + gain * (x_t - a.sqrt() * self.mean)
        if not self.sample:
            return post_mean
        post_std = (self.std**2 * (1 - a) / var_t).sqrt()
        noise = torch.randn(x_t.shape, generator=self.generator, dtype=x_t.dtype, device=x_t.device)
        return post_mean + post_std * noise
