"""DDNM and DDNM+ (Wang, Yu, Zhang, arXiv:2212.00490) on the DDIM update (Song et al., arXiv:2010.02502).

Notation, code → paper:

================  ==============================================================
``x_t``           x_t, the current noisy sample
``alpha_bar_t``   ᾱ_t (DDIM's α_t), ``alpha_bar_next`` for the timestep visited next
``x0``            x_{0|t}, the model's estimate of the clean image (DDNM Eq. 11)
``x0_hat``        x̂_{0|t}, after the range-space correction (DDNM Eq. 13 / Eq. 17)
``eps_hat``       ε̂, the noise direction implied by x_t and x̂_{0|t}
``sigma_t``       σ_t(η), DDIM Eq. 16
``a_t``           coefficient of x̂_{0|t} in the posterior mean (DDNM Eq. 18's a_t)
``lambda_t``      λ_t, DDNM+ Eq. 17, one value per singular value of A
``gamma_t``       γ_t, DDNM+ Eq. 19, the noise std added so the total stays σ_t
``sigma_y``       σ_y, noise std of y in [-1, 1] units
================  ==============================================================

The stochastic step is the DDIM posterior q_σ(x_{t-1} | x_t, x̂_0) exactly (DDIM Eq. 7), evaluated at
the corrected x̂_{0|t}: its mean uses the ε̂ that x_t and x̂_{0|t} imply, not the network's raw ε.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from .models.wrapper import DiffusionModel
from .operators.base import SINGULAR_EPS, LinearOperator, SVDOperator
from .settings import SamplerSettings
from .timesteps import time_travel_pairs, timestep_grid

Generators = torch.Generator | Sequence[torch.Generator] | None


def randn_like(x: torch.Tensor, generator: Generators) -> torch.Tensor:
    """Standard normal noise; with one generator per batch item each row is reproducible on its own,
    whatever else shares its batch."""
    if generator is None or isinstance(generator, torch.Generator):
        return torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
    if len(generator) != x.shape[0]:
        raise ValueError(f"got {len(generator)} generators for a batch of {x.shape[0]}")
    return torch.stack([torch.randn(x.shape[1:], generator=g, dtype=x.dtype, device=x.device) for g in generator])


def range_space_correction(op: LinearOperator, x0: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """DDNM Eq. 13: x̂_{0|t} = x_{0|t} − A⁺(A x_{0|t} − y); keeps the range space equal to A⁺y."""
    return x0 - op.A_pinv(op.A(x0) - y)


def ddnm_plus_lambda_gamma(
    s: torch.Tensor, sigma_t: float, a_t: float, sigma_y: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """DDNM+ Eq. 17 and Eq. 19 per singular value s_i.

    The correction brings a_t·λ_i·σ_y/s_i of y's noise into x_{t-1}. Take λ_i = 1 while that fits in
    the step's noise budget σ_t, else shrink λ_i so it exactly fills it; γ_i tops the noise up to σ_t.
    Zero singular values carry no measurement: λ = 0, γ = σ_t.
    """
    has_y = s > SINGULAR_EPS
    noise_per_unit = a_t * sigma_y / torch.where(has_y, s, torch.ones_like(s))  # a_t σ_y / s_i
    lambda_t = torch.where(noise_per_unit <= sigma_t, torch.ones_like(s), sigma_t / noise_per_unit)
    lambda_t = torch.where(has_y, lambda_t, torch.zeros_like(s))
    gamma_sq = (sigma_t**2 - (lambda_t * noise_per_unit) ** 2).clamp_min(0.0)
    return lambda_t, gamma_sq.sqrt()


def ddnm_plus_step_terms(
    op: SVDOperator, x0: torch.Tensor, y: torch.Tensor, sigma_t: float, a_t: float, sigma_y: float, noise: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """DDNM+ in the spectral domain: returns (x̂_{0|t}, the noise term γ_t·ε) for the posterior step.

    In V's coordinates the correction and the noise are diagonal, so both are scaled per singular value.
    """
    z = op.V_t(x0)
    s = op.singulars_batch(z.shape[0], z)
    k = s.shape[1]
    lambda_t, gamma_t = ddnm_plus_lambda_gamma(s, sigma_t, a_t, sigma_y)
    y_bar = op.inv_singulars(z.shape[0], z) * op.U_t(y)  # Σ⁺Uᵀy: the measurement in V's coordinates
    z_hat = z.clone()
    z_hat[:, :k] = z[:, :k] - lambda_t * (z[:, :k] - y_bar)  # DDNM+ Eq. 17
    gamma = torch.full_like(z, sigma_t)
    gamma[:, :k] = gamma_t  # DDNM+ Eq. 19
    return op.V(z_hat), op.V(gamma * op.V_t(noise))


def ddim_coefficients(alpha_bar_t: float, alpha_bar_next: float, eta: float) -> tuple[float, float, float]:
    """(σ_t, a_t, c_t) so that x_next = a_t·x̂0 + c_t·x_t + σ_t·z is the DDIM posterior (Eq. 7, Eq. 16)."""
    # DDIM Eq. 16: σ_t(η) = η · sqrt((1 − ᾱ_next)/(1 − ᾱ_t)) · sqrt(1 − ᾱ_t/ᾱ_next)
    sigma_t = eta * ((1 - alpha_bar_next) / (1 - alpha_bar_t) * (1 - alpha_bar_t / alpha_bar_next)) ** 0.5
    # DDIM Eq. 12 with ε̂ = (x_t − sqrt(ᾱ_t) x̂0)/sqrt(1 − ᾱ_t): the x_t coefficient c_t and x̂0 coefficient a_t
    c_t = max(1 - alpha_bar_next - sigma_t**2, 0.0) ** 0.5 / (1 - alpha_bar_t) ** 0.5
    a_t = alpha_bar_next**0.5 - c_t * alpha_bar_t**0.5
    return sigma_t, a_t, c_t


def renoise(x_t: torch.Tensor, alpha_bar_t: float, alpha_bar_up: float, generator: Generators) -> torch.Tensor:
    """Time-travel jump t → t' > t: sample q(x_t' | x_t) = N(sqrt(ᾱ_t'/ᾱ_t) x_t, (1 − ᾱ_t'/ᾱ_t) I)."""
    ratio = alpha_bar_up / alpha_bar_t
    return ratio**0.5 * x_t + (1 - ratio) ** 0.5 * randn_like(x_t, generator)


def ddnm_step(model, op, y, x_t, t, t_next, settings: SamplerSettings, generator: Generators):
    """One DDNM(+) denoising step t → t_next < t. Returns (x_next, x0, x0_hat)."""
    alpha_bar = model.alphas_cumprod
    alpha_bar_t = float(alpha_bar[t])
    alpha_bar_next = float(alpha_bar[t_next]) if t_next >= 0 else 1.0
    _, x0 = model(x_t, torch.full((x_t.shape[0],), t, device=x_t.device, dtype=torch.long))
    x0 = x0.float()
    if settings.clip_x0:
        x0 = x0.clamp(-1, 1)
    sigma_t, a_t, c_t = ddim_coefficients(alpha_bar_t, alpha_bar_next, settings.eta)
    noise = randn_like(x0, generator) if t_next >= 0 else torch.zeros_like(x0)
    if settings.is_noisy and isinstance(op, SVDOperator):
        x0_hat, noise_term = ddnm_plus_step_terms(op, x0, y, sigma_t, a_t, settings.sigma_y, noise)
    elif settings.is_noisy:
        # Operators without an SVD: DDNM+ with one scalar λ_t, as if every singular value were 1.
        lambda_t = 1.0 if a_t * settings.sigma_y <= sigma_t else sigma_t / (a_t * settings.sigma_y)
        x0_hat = x0 - lambda_t * op.A_pinv(op.A(x0) - y)  # DDNM+ Eq. 17 (scalar λ_t)
        gamma_t = max(sigma_t**2 - (a_t * lambda_t * settings.sigma_y) ** 2, 0.0) ** 0.5  # DDNM+ Eq. 19
        noise_term = gamma_t * noise
    else:
        x0_hat = range_space_correction(op, x0, y)  # DDNM Eq. 13
        noise_term = sigma_t * noise
    # DDIM Eq. 7 / Eq. 12: x_next = a_t x̂0 + c_t x_t + σ_t z  (with DDNM+, σ_t z → γ_t-scaled noise)
    x_next = a_t * x0_hat + c_t * x_t + noise_term
    return x_next, x0, x0_hat


@torch.inference_mode()
def sample_ddnm(
    model: DiffusionModel,
    op: LinearOperator,
    y: torch.Tensor,
    settings: SamplerSettings = SamplerSettings(),
    *,
    generator: Generators = None,
    x_init: torch.Tensor | None = None,
    callback: Callable[[dict], None] | None = None,
) -> torch.Tensor:
    """DDNM Algorithm 1 (DDNM+ Algorithm 2 when σ_y > 0) with DDIM steps and time-travel. y → x̂ (B, C, H, W).

    A warm start (``settings.start_t``) begins from x_init (default A⁺y) noised to ᾱ_start, as CCDF does.
    """
    y = y.float()
    grid = timestep_grid(model.num_timesteps, settings.steps, settings.start_t)
    shape = (y.shape[0], *op.x_shape)
    noise = randn_like(torch.empty(shape, device=y.device), generator)
    if settings.start_t is None:
        x_t = noise
    else:
        x_start = op.A_pinv(y) if x_init is None else x_init.float()
        alpha_bar_start = float(model.alphas_cumprod[grid[-1]])
        x_t = alpha_bar_start**0.5 * x_start + (1 - alpha_bar_start) ** 0.5 * noise
    x0_hat = x_t
    for i, (t, t_next) in enumerate(time_travel_pairs(grid, settings.travel_length, settings.travel_repeat)):
        if t_next > t:
            x_t = renoise(x_t, float(model.alphas_cumprod[t]), float(model.alphas_cumprod[t_next]), generator)
            continue
        x_t, x0, x0_hat = ddnm_step(model, op, y, x_t, t, t_next, settings, generator)
        if callback is not None:
            callback({"i": i, "t": t, "t_next": t_next, "x_t": x_t, "x0": x0, "x0_hat": x0_hat})
    return x0_hat
