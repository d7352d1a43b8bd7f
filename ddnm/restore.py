"""The public one-call API: restore the user's own measurement y with DDNM / DDNM+ (or another guidance rule)."""

from __future__ import annotations

from dataclasses import fields, replace

import torch

from .guidance import GUIDANCE
from .latent_ddnm import latent_settings, sample_latent_ddnm
from .metrics import consistency
from .models.wrapper import DiffusionModel
from .operators.base import LinearOperator
from .packing import repeat_batch, repeat_rows, samples_per_call
from .posterior import posterior_mean
from .samplers import sample_ddnm
from .settings import SamplerSettings, param_names

_SETTING_NAMES = {f.name for f in fields(SamplerSettings)}


# η when neither the caller nor the prior gives one, per convention (docs/conventions.md). 0.85 is the authors'
# number under their meaning (fresh noise 0.85·sqrt(1 − ᾱ′)); under "paper" it is kept as DDIM's η (fresh noise
# σ_t(0.85)), the default before conventions existed, so runs without a prior's recommendation stay as they were.
DEFAULT_ETA = {"paper": 0.85, "reference": 0.85}
# The key of a prior's config ("sampling") that recommends η for each convention.
ETA_KEY = {"paper": "eta", "reference": "eta_reference"}


def effective_eta(model, eta: float | None, convention: str = "paper") -> float:
    """``eta`` if given, else the prior's recommended η for the convention (``model.info.sampling``: "eta" for
    "paper", "eta_reference" for "reference"), else ``DEFAULT_ETA[convention]``."""
    if eta is not None:
        return eta
    if convention not in DEFAULT_ETA:
        raise ValueError(f"unknown convention {convention!r}; valid: {sorted(DEFAULT_ETA)}")
    info = getattr(model, "info", None)
    return float(getattr(info, "sampling", {}).get(ETA_KEY[convention], DEFAULT_ETA[convention]))


def generators_for(seeds: list[int], device: torch.device) -> list[torch.Generator]:
    """One generator per image, so each result depends only on its own seed, never on its batch."""
    gens = []
    for seed in seeds:
        g = torch.Generator(device=device)
        g.manual_seed(int(seed))
        gens.append(g)
    return gens


def guidance_params_for(name: str, values: dict):
    """The parameter dataclass of guidance ``name`` with ``values`` set (``None`` for a rule without parameters).

    The one place a rule's parameters are checked, for the library and the command line alike:
    ``guidance_params_for("ddpg", {"gamma": 6})`` -> ``DDPGParams(gamma=6, ...)``.
    """
    if name not in GUIDANCE:
        raise ValueError(f"unknown guidance {name!r}; valid: {sorted(GUIDANCE)}")
    rule = GUIDANCE[name]
    names = param_names(rule.params_type)
    unknown = sorted(set(values) - set(names))
    if unknown:
        takes = f"its parameters are {names}" if names else "it takes no parameters"
        owners = sorted(g for g, r in GUIDANCE.items() if set(unknown) <= set(param_names(r.params_type)))
        hint = f"; {unknown} belong to guidance {owners}" if owners else ""
        raise ValueError(f"{unknown} {'is not a parameter' if len(unknown) == 1 else 'are not parameters'} "
                         f"of guidance {name!r}: {takes}{hint}")
    if rule.params_type is None:
        return None
    return replace(rule.default_params(), **values)


def with_guidance_params(settings: dict) -> dict:
    """Gather keyword arguments that belong to the guidance rule's parameter dataclass into ``guidance_params``."""
    name = settings.get("guidance", "ddnm")
    if name not in GUIDANCE:
        raise ValueError(f"unknown guidance {name!r}; valid: {sorted(GUIDANCE)}")
    rule_names = param_names(GUIDANCE[name].params_type)
    unknown = set(settings) - _SETTING_NAMES - set(rule_names)
    if unknown:
        raise TypeError(
            f"unknown sampler settings {sorted(unknown)}; valid: {sorted(_SETTING_NAMES)}"
            + (f" and, for guidance {name!r}, {rule_names}" if rule_names else "")
        )
    params = {k: settings[k] for k in rule_names if k in settings}
    if not params:
        return settings
    if settings.get("guidance_params") is not None:
        raise TypeError(f"give either guidance_params or its fields {sorted(params)}, not both")
    rest = {k: v for k, v in settings.items() if k not in params}
    return {**rest, "guidance_params": guidance_params_for(name, params)}


def restore(
    y: torch.Tensor,
    op: LinearOperator,
    model: DiffusionModel | None = None,
    steps: int = 100,
    eta: float | None = None,
    sigma_y: float = 0.0,
    travel_length: int = 0,
    travel_repeat: int = 1,
    seed: int | list[int] = 0,
    *,
    samples: int = 1,
    max_batch: int | None = None,
    x_init: torch.Tensor | None = None,
    callback=None,
    **settings,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Restore x from y = A x (+ n). y is ``(B, *op.y_shape())`` in [-1, 1]; returns ``(x, residual)``.

    x is ``(B, C, H, W)`` in [-1, 1]; residual is ``(B,)``: ‖A x − y‖ / ‖y‖, the consistency certificate.
    ``eta``'s meaning follows ``convention`` (``SamplerSettings``): "paper" (default), DDIM's η, the fresh-noise
    std σ_t(η) = η·sqrt((1−ᾱ′)/(1−ᾱ_t)·(1−ᾱ_t/ᾱ′)); "reference", the authors' code's η, x′ = sqrt(ᾱ′)·x̂0 +
    sqrt(1−ᾱ′)·(η·z + sqrt(1−η²)·ε_θ). ``None`` takes the prior's recommendation for the convention
    (``model.info.sampling``), else ``DEFAULT_ETA[convention]`` (0.85 for both).
    ``seed`` is one int for the batch (image i gets seed + i) or one int per image. ``samples`` > 1 returns
    the mean of that many posterior samples (``ddnm.posterior``: higher PSNR, K times the cost); ``max_batch``
    (images per network call) runs as many samples together as fit (``ddnm.packing``; None: one at a time). Extra keyword
    arguments are fields of :class:`SamplerSettings` (``start_t``, ``clip_x0``, ``guidance``, ``convention``) or of the
    guidance rule's parameters (``guidance="ddpg", gamma=8, zeta=0.5``; see ``ddnm.settings.DDPGParams``).
    A latent model (``ddnm.models.load(folder, arch="sd3")``) runs latent DDNM instead
    (``ddnm.latent_ddnm``: ``latent_lambda``, ``latent_eta``, ``project_output``).

    >>> import torch, ddnm
    >>> from ddnm.models.testing import ZeroEpsModel
    >>> op = ddnm.operators.make("sr_avgpool", (3, 8, 8), scale=2)
    >>> x, res = ddnm.restore(op.A(torch.full((1, 3, 8, 8), 0.5)), op, ZeroEpsModel(), steps=3)
    >>> x.shape, bool(res[0] < 1e-4)
    (torch.Size([1, 3, 8, 8]), True)
    """
    if model is None:
        from .models import load

        model = load(device=y.device)
    expected = (y.shape[0], *op.y_shape())
    if tuple(y.shape) != expected:
        raise ValueError(f"y has shape {tuple(y.shape)} but the operator measures {expected}")
    seeds = [seed + i for i in range(y.shape[0])] if isinstance(seed, int) else list(seed)
    if len(seeds) != y.shape[0]:
        raise ValueError(f"got {len(seeds)} seeds for {y.shape[0]} images")
    op = op.to(y.device)
    per_call = samples_per_call(y.shape[0], samples, max_batch)
    packed_ops = {1: op}

    def packed(sample_seeds: list[int]):
        """y, op and x_init for the len(sample_seeds) / B samples packed in this call."""
        copies = len(sample_seeds) // y.shape[0]
        if copies not in packed_ops:
            packed_ops[copies] = repeat_batch(op, copies)
        return repeat_rows(y, copies) if copies > 1 else y, packed_ops[copies], repeat_rows(x_init, copies)

    if getattr(model, "is_latent", False):  # SD3-type latent flow models: ddnm.latent_ddnm
        if x_init is not None:
            raise ValueError("latent DDNM starts from noise; x_init is for the pixel samplers' warm start")
        latent = latent_settings(steps, sigma_y, travel_length, settings)

        def one_sample(sample_seeds: list[int]) -> torch.Tensor:
            y_c, op_c, _ = packed(sample_seeds)
            return sample_latent_ddnm(model, op_c, y_c, latent, generators_for(sample_seeds, y.device))

    else:
        eta = effective_eta(model, eta, settings.get("convention", "paper"))
        sampler_settings = SamplerSettings(steps=steps, eta=eta, sigma_y=sigma_y, travel_length=travel_length,
                                           travel_repeat=travel_repeat, **with_guidance_params(settings))

        def one_sample(sample_seeds: list[int]) -> torch.Tensor:
            generator = generators_for(sample_seeds, y.device)
            y_c, op_c, x_init_c = packed(sample_seeds)
            return sample_ddnm(model, op_c, y_c, sampler_settings, generator=generator, x_init=x_init_c,
                               callback=callback)

    x, _ = posterior_mean(one_sample, seeds, samples, per_call)
    return x, consistency(op, x, y.float())
