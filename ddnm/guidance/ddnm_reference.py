"""DDNM / DDNM+ as the authors' code steps (github wyhuai/DDNM, functions/svd_ddnm.py), written from its
equations; ``settings.convention = "reference"`` selects it (docs/conventions.md).

Their step is DDRM-style: x_{t-1} = sqrt(ᾱ′)·x̂0 + sqrt(1 − ᾱ′)·(η·z + sqrt(1 − η²)·ε_θ), with the network's raw
ε_θ rather than the ε̂ implied by x̂0 (the paper's DDIM posterior). Their DDNM+ takes the whole sqrt(1 − ᾱ′) as
the budget σ of each component carrying y (singular value s > 0, threshold τ = sqrt(ᾱ′)·σ_y/s):

* σ < τ: λ = sqrt(1 − η²)·σ/τ, fresh noise η·σ, no ε_θ: y's noise fills the ε_θ share, the total is σ;
* σ > τ: λ = 1, fresh noise sqrt(σ² − τ²), no ε_θ;
* σ = τ: λ = 1 and the noiseless split (η·σ fresh, sqrt(1 − η²)·σ of ε_θ), as their code falls through;

components without y keep the noiseless split. At the last step (ᾱ′ = 1, σ = 0) λ = 0: their x̂0 is then the
model's x0|t itself.
"""

from __future__ import annotations

import torch

from ..operators.base import SINGULAR_EPS, SVDOperator
from .base import StepInput, StepUpdate


def reference_split(s: torch.Tensor, sigma: float, a: float, eta: float, sigma_y: float):
    """(λ, d_z, d_ε) per singular value s: the correction's weight and the stds of fresh noise and of ε_θ."""
    has_y = s > SINGULAR_EPS
    tau = a * sigma_y / torch.where(has_y, s, torch.ones_like(s))
    below, above = (sigma < tau) & has_y, (sigma > tau) & has_y
    keep = (1 - eta**2) ** 0.5
    one = torch.ones_like(s)
    # λ = 0 without y: there A⁺(A x0 − y) is 0 in their code; here the correction is written in V's coordinates.
    lambda_t = torch.where(below, keep * sigma / tau, torch.where(has_y, one, torch.zeros_like(s)))
    d_z = torch.where(above, (sigma**2 - tau**2).clamp_min(0.0).sqrt(), eta * sigma * one)
    d_eps = torch.where(below | above, torch.zeros_like(s), keep * sigma * one)
    return lambda_t, d_z, d_eps


def reference_update(step: StepInput, eta: float, sigma_y: float) -> StepUpdate:
    """One step of the authors' loop: x̂0 (Eq. 13, or their Eq. 17 with λ) and the noise of their step."""
    if step.eps is None:
        raise ValueError("the reference convention steps with the network's ε_θ; the step carries none")
    a, sigma = step.alpha_bar_next**0.5, (1 - step.alpha_bar_next) ** 0.5
    z, eps, op, x0 = step.noise(), step.eps, step.op, step.x0
    if sigma_y == 0:
        x0_hat = x0 - op.A_pinv(op.A(x0) - step.y)  # DDNM Eq. 13
        return StepUpdate(x0_hat, a, 0.0, sigma * eta * z + sigma * (1 - eta**2) ** 0.5 * eps)
    if isinstance(op, SVDOperator):
        zc = op.V_t(x0)
        s = op.singulars_batch(zc.shape[0], zc)
        k = s.shape[1]
        lambda_t, d_z, d_eps = reference_split(s, sigma, a, eta, sigma_y)
        y_bar = op.inv_singulars(zc.shape[0], zc) * op.U_t(step.y)
        z_hat = zc.clone()
        z_hat[:, :k] = zc[:, :k] - lambda_t * (zc[:, :k] - y_bar)  # their Eq. 17: x0 − Λ A⁺(A x0 − y)
        full_z, full_eps = torch.full_like(zc, eta * sigma), torch.full_like(zc, (1 - eta**2) ** 0.5 * sigma)
        full_z[:, :k], full_eps[:, :k] = d_z, d_eps
        noise_term = op.V(full_z * op.V_t(z) + full_eps * op.V_t(eps))
        return StepUpdate(op.V(z_hat), a, 0.0, noise_term)
    # Without an SVD: every singular value taken as 1 on the range P = A⁺A, the noiseless split off it.
    lambda_t, d_z, d_eps = (float(v) for v in reference_split(torch.ones(()), sigma, a, eta, sigma_y))
    x0_hat = x0 - lambda_t * op.A_pinv(op.A(x0) - step.y)
    mix_range = op.A_pinv(op.A(d_z * z + d_eps * eps))
    mix_null = eta * sigma * z + (1 - eta**2) ** 0.5 * sigma * eps
    return StepUpdate(x0_hat, a, 0.0, mix_range + mix_null - op.A_pinv(op.A(mix_null)))
