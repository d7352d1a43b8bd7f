"""DDNM and DDNM+ (Wang, Yu, Zhang, arXiv:2212.00490): hard range-space projection, softened per singular value
when y is noisy. The default guidance rule.

DDNM+ at any η ("paper" convention). Eq. 17-19 are written for the DDPM posterior, whose fresh noise σ_t is the
budget that y's noise (a_t·λ_i·σ_y/s_i in x_{t-1}) must fit in. DDIM's σ_t(η) shrinks that budget to 0 at η = 0,
where λ = 0 and y would be ignored. So the components that carry y (s_i > 0, σ_y > 0) always step with the DDPM
posterior (η = 1): a_t, c_t and the budget σ_t of Eq. 19 at η = 1; η only sets the step of the null space. Each
component still follows a DDIM posterior, so the marginal of x_t stays on the schedule; at η = 1 nothing changes.
"""

from __future__ import annotations

import torch

from ..ddim import ddim_coefficients
from ..operators.base import SINGULAR_EPS, LinearOperator, SVDOperator
from .base import GuidanceRule, StepInput, StepUpdate
from .ddnm_reference import reference_update


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
    """DDNM+ in the spectral domain with the step's budget (σ_t, a_t): returns (x̂_{0|t}, the noise term).

    In V's coordinates the correction and the noise are diagonal, so both are scaled per singular value;
    components without y get σ_t·z.
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


def ddnm_plus_update(step: StepInput, eta: float, sigma_y: float) -> StepUpdate:
    """DDNM+ (Algorithm 2) at any η: components carrying y step with the DDPM posterior (see the module doc)."""
    sigma_t, a_t, c_t = ddim_coefficients(step.alpha_bar_t, step.alpha_bar_next, eta)
    sigma_1, a_1, c_1 = ddim_coefficients(step.alpha_bar_t, step.alpha_bar_next, 1.0)
    noise, op = step.noise(), step.op
    if isinstance(op, SVDOperator):
        x0_hat, y_noise = ddnm_plus_step_terms(op, step.x0, step.y, sigma_1, a_1, sigma_y, noise)
        if eta == 1.0:
            return StepUpdate(x0_hat, a_t, c_t, y_noise)
        # x_next = V(a_i ẑ_i + c_i (Vᵀx_t)_i + g_i (Vᵀz)_i): η = 1's a, c, γ where s_i > 0, η's a, c, σ elsewhere.
        zc = op.V_t(x0_hat)
        s = op.singulars_batch(zc.shape[0], zc)
        has_y = torch.zeros_like(zc)
        has_y[:, : s.shape[1]] = (s > SINGULAR_EPS).to(zc.dtype)
        shift = op.V(has_y * ((a_1 - a_t) * zc + (c_1 - c_t) * op.V_t(step.x_t)))
        noise_term = op.V(has_y * op.V_t(y_noise) + (1 - has_y) * sigma_t * op.V_t(noise))
        return StepUpdate(x0_hat, a_t, c_t, noise_term, shift)
    # Operators without an SVD: one scalar λ_t, as if every singular value were 1, on the range P = A⁺A.
    lambda_t = 1.0 if a_1 * sigma_y <= sigma_1 else sigma_1 / (a_1 * sigma_y)
    x0_hat = step.x0 - lambda_t * op.A_pinv(op.A(step.x0) - step.y)  # DDNM+ Eq. 17 (scalar λ_t)
    gamma_t = max(sigma_1**2 - (a_1 * lambda_t * sigma_y) ** 2, 0.0) ** 0.5  # DDNM+ Eq. 19
    project = lambda v: op.A_pinv(op.A(v))  # noqa: E731
    shift = project((a_1 - a_t) * x0_hat + (c_1 - c_t) * step.x_t) if eta != 1.0 else 0.0
    noise_range = project(noise)
    return StepUpdate(x0_hat, a_t, c_t, gamma_t * noise_range + sigma_t * (noise - noise_range), shift)


class DDNMRule(GuidanceRule):
    """DDNM Algorithm 1 (σ_y = 0) / DDNM+ Algorithm 2 (σ_y > 0) on the DDIM posterior with η = settings.eta,
    or the authors' code's step under ``convention="reference"`` (``ddnm_reference``)."""

    name = "ddnm"

    def check(self, op: LinearOperator) -> None:
        self._need_pinv(op)

    def update(self, step: StepInput) -> StepUpdate:
        sigma_y, eta = self.settings.sigma_y, self.settings.eta
        if self.settings.convention == "reference":
            return reference_update(step, eta, sigma_y)
        if sigma_y > 0:
            return ddnm_plus_update(step, eta, sigma_y)
        sigma_t, a_t, c_t = ddim_coefficients(step.alpha_bar_t, step.alpha_bar_next, eta)
        x0_hat = range_space_correction(step.op, step.x0, step.y)  # DDNM Eq. 13
        # σ_t = 0 (η = 0) multiplies the noise away: draw none, so no stream moves for nothing.
        noise_term = sigma_t * step.noise() if sigma_t > 0 else torch.zeros_like(step.x0)
        return StepUpdate(x0_hat, a_t, c_t, noise_term)

    def result(self, x_next: torch.Tensor, x0: torch.Tensor, x0_hat: torch.Tensor) -> torch.Tensor:
        # The last DDIM step (ᾱ_next = 1) lands exactly on x̂0; return it without the arithmetic.
        return x0_hat
