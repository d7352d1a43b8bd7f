"""DDPG and IDPG (Garber & Tirer, CVPR 2024, arXiv:2312.16519): iteratively preconditioned guidance.

The guidance is a preconditioned least-squares gradient, g_t = Aᵀ W_t (A x0 − y), with

    W_t = (1 − δ_t)(AAᵀ + ηI)⁻¹ + δ_t·c·I                       (the paper's W_t, §3)

so δ_t = 0 is back-projection (BP; with η → 0 exactly DDNM's A⁺) and δ_t = 1 is least squares (LS, a scaled
Aᵀ, which does not amplify y's noise through small singular values). With σ_y > 0 the schedule is
δ_t = ᾱ_next^γ: BP while the sample is still noisy, LS near the end. Without noise δ_t = 0 throughout.

For A = U Σ Vᵀ, Aᵀ(AAᵀ + ηI)⁻¹ = V Σᵀ(ΣΣᵀ + ηI)⁻¹ Uᵀ, so the whole correction is diagonal in V's coordinates:
each singular value s gets the filter (1 − δ_t)·s/(s² + η) + δ_t·c·s (``ddpg_filter``).

Constants and options follow the paper's released code (tirer-lab/DDPG, ``functions/ddpg_scheme.py``):
η = max(η_min, η̃·σ_y²), step-size modes 0/1/2 = fixed/decaying/decaying_ls, DDPG's injected noise
sqrt(1 − ᾱ_next)·(sqrt(ζ)·z + sqrt(1 − ζ)·w_t·ε̂) with w_t = δ_t under noise, and, under noise, the final
answer is the denoiser's x0 at the last step. IDPG (Algorithm 1 there) is the same without injected noise:
x_next = sqrt(ᾱ_next)·x̂0, a deterministic iterative-denoising scheme.
"""

from __future__ import annotations

import torch

from ..ddim import direction_coefficients
from ..operators.base import SINGULAR_EPS, SVDOperator
from ..guidance_params import DDPGParams
from .base import GuidanceRule, StepInput, StepUpdate


def ddpg_filter(s: torch.Tensor, eta: float, w_bp: float, w_ls: float) -> torch.Tensor:
    """Per-singular-value gain of Aᵀ W_t: w_bp·s/(s² + η) + w_ls·s; zero where s carries no measurement.

    With η = 0, w_bp = 1, w_ls = 0 this is exactly Σ⁺ (1/s for s > SINGULAR_EPS), i.e. DDNM's A⁺.
    """
    has_y = s > SINGULAR_EPS
    safe = torch.where(has_y, s, torch.ones_like(s))
    gain = w_bp * safe / (safe**2 + eta) + w_ls * safe  # W_t in U's coordinates, times Σᵀ
    return torch.where(has_y, gain, torch.zeros_like(s))


def preconditioned_correction(
    op: SVDOperator, x0: torch.Tensor, y: torch.Tensor, eta: float, w_bp: float, w_ls: float
) -> torch.Tensor:
    """x̂0 = x0 − Aᵀ W_t (A x0 − y), computed per singular value (step sizes folded into w_bp, w_ls)."""
    z = op.V_t(x0)
    s = op.singulars_batch(z.shape[0], z)
    k = s.shape[1]
    residual = s * z[:, :k] - op.U_t(y)  # Uᵀ(A x0 − y)
    z_hat = z.clone()
    z_hat[:, :k] = z[:, :k] - ddpg_filter(s, eta, w_bp, w_ls) * residual  # x0 − μ_t g_{δ_t}
    return op.V(z_hat)


def ddpg_eta(params: DDPGParams, sigma_y: float) -> float:
    """η, BP's regulariser: η_min + ξ(255σ_y)² if ξ is given, else max(η_min, η̃σ_y²) (the paper's code)."""
    if params.xi is not None:
        return params.eta_min + params.xi * (255.0 * sigma_y) ** 2
    return max(params.eta_min, params.eta_tilde * sigma_y**2)


def ddpg_weights(
    params: DDPGParams, mode: str, delta_t: float, alpha_bar_t: float, alpha_bar_next: float
) -> tuple[float, float]:
    """(w_bp, w_ls): μ_t(1 − δ_t) and μ_t·δ_t·c, with μ_t from the step-size mode."""
    decay = (1 - alpha_bar_next) / (1 - alpha_bar_t)  # the paper's decaying step, (1 − ᾱ_{t-1})/(1 − ᾱ_t)
    mu = decay if mode == "decaying" else 1.0
    mu_ls = decay if mode == "decaying_ls" else 1.0
    return mu * (1 - delta_t), mu * mu_ls * delta_t * params.ls_scale


class DDPGRule(GuidanceRule):
    """DDPG: preconditioned guidance inside a DDIM-like sampler with ζ-mixed injected noise."""

    name = "ddpg"
    params_type = DDPGParams
    inject_noise = True

    def check(self, op) -> None:
        self._need_svd(op)

    @property
    def step_size_mode(self) -> str:
        """The mode in use; "auto" is what the paper's scripts pick (fixed up to σ_y = 0.01 on [0, 1])."""
        if self.params.step_size_mode != "auto":
            return self.params.step_size_mode
        return "decaying" if self.inject_noise and self.settings.sigma_y > 0.02 else "fixed"

    def update(self, step: StepInput) -> StepUpdate:
        p, sigma_y = self.params, self.settings.sigma_y
        noisy = sigma_y > 0
        delta_t = step.alpha_bar_next**p.gamma if noisy else 0.0  # δ_t = ᾱ_{t-1}^γ: BP early, LS late
        w_bp, w_ls = ddpg_weights(p, self.step_size_mode, delta_t, step.alpha_bar_t, step.alpha_bar_next)
        x0_hat = preconditioned_correction(step.op, step.x0, step.y, ddpg_eta(p, sigma_y), w_bp, w_ls)
        if not self.inject_noise:  # IDPG: x_next = sqrt(ᾱ_next)·x̂0
            return StepUpdate(x0_hat, step.alpha_bar_next**0.5, 0.0)
        # DDPG: x_next = sqrt(ᾱ_next) x̂0 + sqrt(1 − ᾱ_next)(sqrt(1 − ζ) w_t ε̂ + sqrt(ζ) z), w_t = δ_t if noisy
        w_t = delta_t if noisy else 1.0
        d_t = ((1 - step.alpha_bar_next) * (1 - p.zeta)) ** 0.5 * w_t
        sigma_t = ((1 - step.alpha_bar_next) * p.zeta) ** 0.5
        a_t, c_t = direction_coefficients(step.alpha_bar_t, step.alpha_bar_next, d_t)
        noise_term = sigma_t * step.noise() if sigma_t > 0 else 0.0
        return StepUpdate(x0_hat, a_t, c_t, noise_term)

    def result(self, x_next: torch.Tensor, x0: torch.Tensor, x0_hat: torch.Tensor) -> torch.Tensor:
        # Under noise the last guidance step is pure LS on a noisy y; the paper's code returns the denoised x0.
        return x0 if self.settings.sigma_y > 0 else x0_hat


class IDPGRule(DDPGRule):
    """IDPG: the same guidance in a deterministic iterative-denoising scheme (no injected noise); its "auto"
    step size is fixed, as in every IDPG run of the paper's scripts."""

    name = "idpg"
    inject_noise = False
