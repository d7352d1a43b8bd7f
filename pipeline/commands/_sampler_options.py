"""Sampling and guidance options shared by ``run``, ``restore`` and ``submit``, declared once.

``@with_sampler_options`` appends the options below to a Typer command's signature and hands the command one
``sampler: SamplerOptions`` instead of twenty keyword arguments, so the three commands spell, document and
validate them the same way. A rule's parameters default to ``None``: unset ones keep the rule's own defaults
(``ddnm.settings.DDPGParams``, ``GradientParams``), and one the chosen rule does not take is refused with the
rules that do take it (``ddnm.restore.guidance_params_for``). Defaults are not repeated here so they cannot drift.
"""

from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass, field
from typing import Annotated

import typer

SAMPLING = "Sampling"
GUIDANCE = "Guidance rule parameters (unset: the rule's defaults, docs/guidance.md)"


@dataclass(frozen=True)
class SamplerOptions:
    steps: int = 100
    eta: float | None = None
    sigma_y: float = 0.0
    travel_length: int = 0
    travel_repeat: int = 1
    guidance: str = "ddnm"
    convention: str = "paper"
    samples: int | None = None
    work_size: int | None = None
    latent_lambda: float | None = None
    rule_params: dict = field(default_factory=dict)  # only the parameters the user set

    def job_fields(self) -> dict:
        """The ``JobSettings`` fields these options set."""
        return dict(steps=self.steps, eta=self.eta, sigma_y=self.sigma_y, travel_length=self.travel_length,
                    travel_repeat=self.travel_repeat, guidance=self.guidance, guidance_params=dict(self.rule_params),
                    convention=self.convention,
                    latent_lambda=self.latent_lambda, samples=self.samples, work_size=self.work_size)  # fmt: skip

    def engine_kwargs(self) -> dict:
        """Keyword arguments of ``pipeline.restore_stage.restore_image`` (the engine's sampler settings)."""
        latent = {} if self.latent_lambda is None else {"latent_lambda": self.latent_lambda}
        return dict(steps=self.steps, eta=self.eta, sigma_y=self.sigma_y, travel_length=self.travel_length,
                    travel_repeat=self.travel_repeat, guidance=self.guidance, convention=self.convention,
                    **self.rule_params, **latent)

    def params_json(self) -> str:
        """The guidance parameters set, as the provenance records them (``pipeline.settings.guidance_params_json``)."""
        from ..settings import JobSettings, guidance_params_json

        return guidance_params_json(JobSettings("-", "-", **self.job_fields()))

    def check(self) -> None:
        """Refuse bad values (a rule parameter the rule does not take, samples < 1, ...) before anything loads,
        with the same checks and messages as a job (``JobSettings``)."""
        from ..settings import JobSettings

        JobSettings("-", "-", **self.job_fields())


def _option(name: str, kind, default, help_text: str, panel: str = SAMPLING) -> inspect.Parameter:
    option = typer.Option(help=help_text, rich_help_panel=panel, show_default=default is not None)
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=Annotated[kind, option])


def _rule(name: str, help_text: str, kind: type = float) -> inspect.Parameter:
    return _option(name, kind | None, None, help_text, GUIDANCE)


OPTIONS = (
    _option("steps", int, 100, "Sampling steps."),
    _option("eta", float | None, None, "eta in [0, 1]; meaning per --convention: paper: DDIM's eta, fresh-noise "
            "std sigma_t = eta*sqrt((1-a')/(1-a)*(1-a/a')); reference: x' = sqrt(a')x0 + sqrt(1-a')(eta*z + "
            "sqrt(1-eta^2)*eps) (a = alpha-bar). Default: the prior's recommendation, else 0.85."),
    _option("convention", str, "paper", "paper: the DDNM/DDIM papers' equations; reference: reproduce the "
            "authors' DDNM code (their eta, grid i*(T//steps), no x0 clamp, their time-travel and DDNM+), "
            "docs/conventions.md."),
    _option("sigma_y", float, 0.0, "Noise level of the scans (DDNM+), in [-1, 1] units."),
    _option("travel_length", int, 0, "Time-travel length L in steps (0 = off)."),
    _option("travel_repeat", int, 1, "Time-travel repeats r."),
    _option("guidance", str, "ddnm", "Guidance rule: ddnm (DDNM/DDNM+), ddpg, idpg (noise-robust), mcg, dps "
            "(gradient through the model)."),
    _option("samples", int | None, None, "Average this many posterior samples per image (K times the time): higher "
            "PSNR, and the spread is recorded as 'uncertainty' (default 1; 8 for colour at the working size)."),
    _option("work_size", int | None, None, "colorize / old_photo: estimate colour on a copy of the scan with this "
            "long side and carry it up to full size exactly (default: the prior's window, 64; 0 = restore at full "
            "size in windows)."),
    _option("latent_lambda", float | None, None, "λ of latent DDNM in [0, 1] (latent SD3 models only; default 0.8)."),
    _rule("gamma", "ddpg/idpg γ: δ_t = ᾱ^γ moves back-projection to least squares; larger keeps BP longer."),
    _rule("zeta", "ddpg ζ in [0, 1]: share of fresh noise in the injected noise."),
    _rule("eta_tilde", "ddpg/idpg η̃: η = max(eta_min, η̃ σ_y²) regularises back-projection."),
    _rule("xi", "ddpg/idpg ξ: η = eta_min + ξ (255 σ_y)² instead of η̃."),
    _rule("eta_min", "ddpg/idpg floor of η (0 makes noiseless back-projection exactly A⁺)."),
    _rule("step_size_mode", "ddpg/idpg step size: auto, fixed, decaying or decaying_ls.", str),
    _rule("ls_scale", "ddpg/idpg c, the least-squares guidance scale."),
    _rule("grad_step", "mcg/dps ζ′: gradient step ζ′/‖y − A x̂0‖ (default 0.5 = the DPS code's scale 1, tuned "
                       "for 1000 steps; measured best: ~5 at 100 steps, ~10 at 20, docs/guidance.md)."),
)
_DIRECT = {"steps", "eta", "sigma_y", "travel_length", "travel_repeat", "guidance", "convention", "samples", "work_size",
           "latent_lambda"}


def with_sampler_options(command):
    """Give ``command`` (which takes ``sampler: SamplerOptions``) the shared options as Typer sees them."""
    own = inspect.signature(command, eval_str=True)
    parameters = [p for name, p in own.parameters.items() if name != "sampler"] + list(OPTIONS)
    signature = own.replace(parameters=parameters)

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        values = {p.name: kwargs.pop(p.name, p.default) for p in OPTIONS}
        rules = {name: v for name, v in values.items() if name not in _DIRECT and v is not None}
        direct = {name: values[name] for name in _DIRECT}
        return command(*args, **kwargs, sampler=SamplerOptions(**direct, rule_params=rules))

    # Typer reads the parameters from __signature__ and the annotations from __annotations__.
    wrapper.__signature__ = signature
    wrapper.__annotations__ = {p.name: p.annotation for p in parameters}
    return wrapper
