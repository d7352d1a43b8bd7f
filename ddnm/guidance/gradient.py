"""Gradient guidance through the network: DPS (Chung et al., ICLR 2023, arXiv:2209.14687) and MCG
(Chung et al., NeurIPS 2022, arXiv:2206.00941).

Both take the plain DDIM step with the network's x̂0, then step x_next against the gradient of the
measurement error of x̂0(x_t) with respect to x_t (autograd through the network):

    x_next ← x_next − ζ_t ∇_{x_t} ‖y − A x̂0(x_t)‖²,   ζ_t = ζ' / ‖y − A x̂0(x_t)‖     (DPS Algorithm 1)

MCG follows that with the projection onto the noisy measurement set, x_next ← x_next − A⁺(A x_next − y_next),
y_next = sqrt(ᾱ_next)·y + sqrt(1 − ᾱ_next)·A z (MCG Algorithm 1: the measurement diffused to t_next); at the last
step y_next = y, so noiseless results are consistent. Both use W = I in ‖W(y − A x̂0)‖.
"""

from __future__ import annotations

import torch

from ..ddim import ddim_coefficients, randn_like
from ..guidance_params import GradientParams
from .base import GuidanceRule, StepInput, StepUpdate


def measurement_gradient(step: StepInput, grad_step: float) -> torch.Tensor:
    """−ζ'/‖y − A x̂0‖ · ∇_{x_t}‖y − A x̂0(x_t)‖² per image (DPS Algorithm 1, line 7)."""
    residual = (step.y - step.op.A(step.x0)).flatten(1)
    norm_sq = residual.pow(2).sum(dim=1)
    # Summing over the batch keeps images independent: each x_t row only reaches its own residual.
    (grad,) = torch.autograd.grad(norm_sq.sum(), step.x_t)
    zeta_t = grad_step / norm_sq.detach().sqrt().clamp_min(1e-12)  # ζ_t = ζ'/‖y − A x̂0‖
    return -zeta_t.view(-1, *([1] * (grad.dim() - 1))) * grad


class DPSRule(GuidanceRule):
    """DPS: DDIM step (η = settings.eta; the paper uses ancestral DDPM steps) plus the measurement gradient."""

    name = "dps"
    params_type = GradientParams
    differentiable = True

    def update(self, step: StepInput) -> StepUpdate:
        sigma_t, a_t, c_t = ddim_coefficients(step.alpha_bar_t, step.alpha_bar_next, self.settings.eta)
        shift = measurement_gradient(step, self.params.grad_step) if self.params.grad_step > 0 else 0.0
        return StepUpdate(step.x0.detach(), a_t, c_t, sigma_t * step.noise(), shift)


class MCGRule(DPSRule):
    """MCG: the DPS gradient step followed by the projection onto {x : A x = y_next}."""

    name = "mcg"

    def check(self, op) -> None:
        self._need_pinv(op)

    def project(self, step: StepInput, x_next: torch.Tensor) -> torch.Tensor:
        y_next = step.y
        if step.t_next >= 0:  # MCG: y_i = sqrt(ᾱ_i) y + sqrt(1 − ᾱ_i) A z, the forward diffusion of y
            a = step.alpha_bar_next
            y_next = a**0.5 * step.y + (1 - a) ** 0.5 * step.op.A(randn_like(x_next, step.generator))
        return x_next - step.op.A_pinv(step.op.A(x_next) - y_next)  # DDNM Eq. 13 on x_next instead of x̂0
