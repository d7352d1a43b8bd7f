"""An analytic prior with long-range correlation, for tests and benchmarks of tiling (no weights).

``GaussianPosteriorModel`` treats pixels independently, so no tiling can make a seam with it. Here every
channel of an image carries one random offset shared by all its pixels:

    x0 = mean + o·1 + e,   o ~ N(0, offset_std²) per channel,   e ~ N(0, std² I)

A window of n pixels sees the same family with the same offset, so the posterior mean below is exact for any
window size. Windows restored independently draw different offsets (a step at every window edge); windows that
share information (mask-shift's known overlap, joint blending) must agree on one.
"""

from __future__ import annotations

import torch

from ..schedules import alphas_cumprod_from_betas, linear_betas
from .wrapper import ModelInfo, X0Model


class SharedOffsetModel(X0Model):
    """E[x0 | x_t] for the shared-offset Gaussian prior above, per channel, on whatever window it is given."""

    def __init__(self, mean: float = 0.0, std: float = 0.1, offset_std: float = 0.5, num_timesteps: int = 1000):
        super().__init__(alphas_cumprod_from_betas(linear_betas(num_timesteps)),
                         ModelInfo("shared-offset-oracle", "analytic", None))
        self.mean, self.std, self.offset_std = mean, std, offset_std

    def get_x0(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        a = self.alpha_bar(t, x_t)
        n = x_t.shape[-2] * x_t.shape[-1]
        centred = x_t - a.sqrt() * self.mean
        along_ones = centred.mean(dim=(-2, -1), keepdim=True)  # the projection on the all-ones direction
        rest = centred - along_ones
        # Cov(x0) has eigenvalue offset_std²·n + std² along 1 and std² across it; x_t adds (1 − ᾱ) I.
        prior_ones = self.offset_std**2 * n + self.std**2
        gain_ones = a.sqrt() * prior_ones / (a * prior_ones + 1 - a)
        gain_rest = a.sqrt() * self.std**2 / (a * self.std**2 + 1 - a)
        return self.mean + gain_ones * along_ones + gain_rest * rest
