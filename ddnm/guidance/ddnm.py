"""DDNM and DDNM+ (Wang, Yu, Zhang, arXiv:2212.00490): hard range-space projection, softened per singular value
when y is noisy. The default guidance rule."""

from __future__ import annotations

import torch

from ..ddim import ddim_coefficients
from ..operators.base import SINGULAR_EPS, LinearOperator, SVDOperator
from .base import GuidanceRule, StepInput, StepUpdate


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


class DDNMRule(GuidanceRule):
    """DDNM Algorithm 1 (σ_y = 0) / DDNM+ Algorithm 2 (σ_y > 0) on the DDIM posterior with η = settings.eta."""

    name = "ddnm"

    def check(self, op: LinearOperator) -> None:
        self._need_pinv(op)

    def update(self, step: StepInput) -> StepUpdate:
        sigma_y = self.settings.sigma_y
        sigma_t, a_t, c_t = ddim_coefficients(step.alpha_bar_t, step.alpha_bar_next, self.settings.eta)
        noise = step.noise()
        if sigma_y > 0 and isinstance(step.op, SVDOperator):
            x0_hat, noise_term = ddnm_plus_step_terms(step.op, step.x0, step.y, sigma_t, a_t, sigma_y, noise)
        elif sigma_y > 0:
            # Operators without an SVD: DDNM+ with one scalar λ_t, as if every singular value were 1.
            lambda_t = 1.0 if a_t * sigma_y <= sigma_t else sigma_t / (a_t * sigma_y)
            x0_hat = step.x0 - lambda_t * step.op.A_pinv(step.op.A(step.x0) - step.y)  # DDNM+ Eq. 17 (scalar λ_t)
            gamma_t = max(sigma_t**2 - (a_t * lambda_t * sigma_y) ** 2, 0.0) ** 0.5  # DDNM+ Eq. 19
            noise_term = gamma_t * noise
        else:
            x0_hat = range_space_correction(step.op, step.x0, step.y)  # DDNM Eq. 13
            noise_term = sigma_t * noise
        return StepUpdate(x0_hat, a_t, c_t, noise_term)

    def result(self, x_next: torch.Tensor, x0: torch.Tensor, x0_hat: torch.Tensor) -> torch.Tensor:
        # The last DDIM step (ᾱ_next = 1) lands exactly on x̂0; return it without the arithmetic.
        return x0_hat
