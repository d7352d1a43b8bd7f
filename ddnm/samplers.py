"""DDNM and DDNM+ (Wang, Yu, Zhang, arXiv:2212.00490) on the DDIM update (Song et al., arXiv:2010.02502), with
the correction swappable for other guidance rules (``ddnm.guidance``: DDPG, IDPG, MCG, DPS).

Notation, code → paper:

================  ==============================================================
``x_t``           x_t, the current noisy sample
``alpha_bar_t``   ᾱ_t (DDIM's α_t), ``alpha_bar_next`` for the timestep visited next
``x0``            x_{0|t}, the model's estimate of the clean image (DDNM Eq. 11)
``x0_hat``        x̂_{0|t}, after the guidance rule's correction (DDNM Eq. 13 / Eq. 17)
``eps_hat``       ε̂, the noise direction implied by x_t and x̂_{0|t}
``sigma_t``       σ_t(η), DDIM Eq. 16
``a_t``           coefficient of x̂_{0|t} in the posterior mean (DDNM Eq. 18's a_t)
``c_t``           coefficient of x_t in the posterior mean
``lambda_t``      λ_t, DDNM+ Eq. 17, one value per singular value of A
``gamma_t``       γ_t, DDNM+ Eq. 19, the noise std added so the total stays σ_t
``sigma_y``       σ_y, noise std of y in [-1, 1] units
================  ==============================================================

The stochastic step is the DDIM posterior q_σ(x_{t-1} | x_t, x̂_0) exactly (DDIM Eq. 7), evaluated at
the corrected x̂_{0|t}: its mean uses the ε̂ that x_t and x̂_{0|t} imply, not the network's raw ε.
The loop below is the only one: a guidance rule changes how x̂_{0|t} and the step's coefficients are made.

``settings.convention = "reference"`` follows the authors' code instead (docs/conventions.md): their grid
(``timesteps.reference_grid``), no clamp, their η step with the raw ε (``guidance.ddnm_reference``) and a
time-travel that re-noises the last uncorrected x_{0|t} (``ddim.reference_renoise``).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from contextlib import contextmanager, nullcontext

import torch

from .ddim import Generators, NoiseSampler, ddim_coefficients, randn_like, reference_renoise, renoise
from .guidance import GUIDANCE, GuidanceRule, StepInput
from .guidance.base import implements
from .guidance.ddnm import ddnm_plus_lambda_gamma, ddnm_plus_step_terms, range_space_correction
from .models.wrapper import DiffusionModel
from .operators.base import LinearOperator
from .settings import SamplerSettings
from .timesteps import reference_grid, time_travel_pairs, timestep_grid

__all__ = [
    "Generators", "ddim_coefficients", "ddnm_plus_lambda_gamma", "ddnm_plus_step_terms", "ddnm_step",
    "randn_like", "range_space_correction", "renoise", "sample_ddnm",
]


def predict(model: DiffusionModel, x_t: torch.Tensor, t: int, clip: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """(ε_θ, x_{0|t}) (DDNM Eq. 11) in float32, x_{0|t} optionally clamped to the image range."""
    eps, x0 = model(x_t, torch.full((x_t.shape[0],), t, device=x_t.device, dtype=torch.long))
    x0 = x0.float()
    return eps.float(), (x0.clamp(-1, 1) if clip else x0)


def grid_for(model: DiffusionModel, settings: SamplerSettings) -> list[int]:
    """The timesteps visited: the paper convention's rounded grid or the authors' i·(T // steps)."""
    if settings.convention == "reference":
        return reference_grid(model.num_timesteps, settings.steps)
    return timestep_grid(model.num_timesteps, settings.steps, settings.start_t)


def ddnm_step(model, op, y, x_t, t, t_next, settings: SamplerSettings, generator: Generators,
              rule: GuidanceRule | None = None):
    """One guided denoising step t → t_next < t. Returns (x_next, x0, x0_hat)."""
    rule = GUIDANCE[settings.guidance](settings) if rule is None else rule
    alpha_bar = model.alpha_bar_host
    # A fresh leaf for autograd (a clone, so an inference tensor from the caller can take requires_grad).
    x_in = x_t.detach().clone().requires_grad_(True) if rule.differentiable else x_t
    with torch.enable_grad() if rule.differentiable else nullcontext():  # DPS / MCG differentiate x0(x_t)
        eps, x0 = predict(model, x_in, t, settings.clips_x0)
        step = StepInput(
            op, y, x_in, x0, t, t_next, alpha_bar[t], alpha_bar[t_next] if t_next >= 0 else 1.0,
            noise=lambda: randn_like(x0, generator) if t_next >= 0 else torch.zeros_like(x0),
            generator=generator, eps=eps,
        )
        update = rule.update(step)
    # DDIM Eq. 7 / Eq. 12: x_next = a_t x̂0 + c_t x_t + σ_t z  (each rule sets a_t, c_t and its noise term)
    x_next = update.a_t * update.x0_hat + update.c_t * x_t + update.noise_term + update.shift
    return rule.project(step, x_next), x0.detach(), update.x0_hat


def initial_sample(model, op, y, settings: SamplerSettings, grid: list[int], generator: Generators, x_init):
    """x_T ~ N(0, I), or for a warm start (CCDF) x_init (default A⁺y) noised to ᾱ_start."""
    noise = randn_like(torch.empty((y.shape[0], *op.x_shape), device=y.device), generator)
    if settings.start_t is None:
        return noise
    x_start = op.A_pinv(y) if x_init is None else x_init.float()
    alpha_bar_start = model.alpha_bar_host[grid[-1]]
    return alpha_bar_start**0.5 * x_start + (1 - alpha_bar_start) ** 0.5 * noise


@contextmanager
def grad_mode(differentiable: bool):
    """inference_mode for rules without gradients; otherwise no_grad, also leaving a caller's inference_mode
    (a Ray stage runs under one), since autograd cannot record inside it."""
    if not differentiable:
        with torch.inference_mode():
            yield
        return
    with torch.inference_mode(False), torch.no_grad():
        yield


def _has_inference_tensors(module: torch.nn.Module) -> bool:
    # alphas_cumprod is only indexed into floats, never saved for backward, so it may be an inference tensor.
    buffers = (b for name, b in module.named_buffers() if not name.endswith("alphas_cumprod"))
    return any(t.is_inference() for t in (*module.parameters(), *buffers))


def autograd_ready(
    model: DiffusionModel, op: LinearOperator, y: torch.Tensor
) -> tuple[LinearOperator, torch.Tensor]:
    """Copies of op and y that autograd may use: tensors made under inference_mode cannot be saved for backward.

    The operator (small buffers) is copied when needed; a model built under inference_mode is refused, as
    copying its weights could double the memory in use.
    """
    if _has_inference_tensors(model):
        raise ValueError(
            "gradient guidance differentiates through the network, but the model's weights were created under "
            "torch.inference_mode; build or load the model outside inference_mode"
        )
    if _has_inference_tensors(op):
        op = copy.deepcopy(op)  # deepcopy clones every buffer into an ordinary tensor
    return op, y.clone()


def build_rule(op: LinearOperator, settings: SamplerSettings, x_init: torch.Tensor | None) -> GuidanceRule:
    """The settings' guidance rule, checked against the operator before any sampling."""
    rule = GUIDANCE[settings.guidance](settings)
    rule.check(op)
    if settings.start_t is not None and x_init is None and not implements(op, "A_pinv"):
        raise ValueError(
            f"a warm start (start_t={settings.start_t}) begins from A⁺y, but {type(op).__name__} has no A_pinv; "
            "pass x_init or start from noise (start_t=None)"
        )
    return rule


def sample_ddnm(
    model: DiffusionModel,
    op: LinearOperator,
    y: torch.Tensor,
    settings: SamplerSettings = SamplerSettings(),
    *,
    generator: Generators = None,
    x_init: torch.Tensor | None = None,
    callback: Callable[[dict], None] | None = None,
    noise_sampler: NoiseSampler | None = None,
) -> torch.Tensor:
    """DDNM Algorithm 1 (DDNM+ Algorithm 2 when σ_y > 0), or ``settings.guidance``'s rule, with DDIM steps and
    time-travel. y → x̂ (B, C, H, W).

    A warm start (``settings.start_t``) begins from x_init (default A⁺y) noised to ᾱ_start, as CCDF does.
    ``callback`` gets a dict after every denoising step: ``i`` (index into the time-travel path), ``steps`` (how
    many denoising steps this run makes, for progress bars), ``t``, ``t_next``, ``x_t``, ``x0``, ``x0_hat``.
    Gradient rules (DPS, MCG) run under ``no_grad`` with autograd enabled only around the network call
    (even inside a caller's ``inference_mode``); the others run under ``inference_mode``.
    ``noise_sampler(x)`` (k-diffusion style), if given, supplies every z ~ N(0, I) instead of ``generator``, in
    the order the loop uses them: x_T, then one per step (none at the last) and one per time-travel jump.
    ``settings.steps`` / ``eta`` left None take the model's recommendation (``SamplerSettings.for_model``).
    """
    settings = settings.for_model(model)
    if noise_sampler is not None:
        if generator is not None:
            raise ValueError("give either generator or noise_sampler, not both")
        generator = noise_sampler
    rule = build_rule(op, settings, x_init)
    with grad_mode(rule.differentiable):
        if rule.differentiable:
            op, y = autograd_ready(model, op, y)
        y = y.float()
        grid = grid_for(model, settings)
        x_t = initial_sample(model, op, y, settings, grid, generator, x_init)
        x0 = x0_hat = x_t
        pairs = time_travel_pairs(grid, settings.travel_length, settings.travel_repeat)
        steps = sum(1 for t, t_next in pairs if t_next < t)  # model calls, time-travel repeats included
        for i, (t, t_next) in enumerate(pairs):
            if t_next > t and settings.convention == "reference":
                x_t = reference_renoise(x0, model.alpha_bar_host[t_next], generator)  # q(x_t' | x0|t)
                continue
            if t_next > t:
                x_t = renoise(x_t, model.alpha_bar_host[t], model.alpha_bar_host[t_next], generator)
                continue
            x_t, x0, x0_hat = ddnm_step(model, op, y, x_t, t, t_next, settings, generator, rule)
            if callback is not None:
                callback({"i": i, "steps": steps, "t": t, "t_next": t_next, "x_t": x_t, "x0": x0, "x0_hat": x0_hat})
        return rule.result(x_t, x0, x0_hat)
