"""Sampler and guidance options shared by ``run``, ``restore`` and ``submit``.

One definition of each option, so the three commands spell and document them the same way. A rule's
parameters default to ``None`` here: unset options keep the rule's own defaults (``ddnm.settings.DDPGParams``,
``GradientParams``), and an option the chosen rule does not take is refused with the rules that do take it
(``ddnm.restore.guidance_params_for``). Defaults are not repeated here so they cannot drift from the dataclasses.
"""

from __future__ import annotations

from typing import Annotated

import typer

SAMPLING = "Sampling"
GUIDANCE = "Guidance rule parameters (unset: the rule's defaults, docs/guidance.md)"


def _rule(help_text: str, kind: type = float):
    return Annotated[kind | None, typer.Option(help=help_text, rich_help_panel=GUIDANCE, show_default=False)]


TravelLength = Annotated[int, typer.Option(help="Time-travel length L in steps (0 = off).", rich_help_panel=SAMPLING)]
TravelRepeat = Annotated[int, typer.Option(help="Time-travel repeats r.", rich_help_panel=SAMPLING)]
Guidance = Annotated[str, typer.Option(
    help="Guidance rule: ddnm (DDNM/DDNM+), ddpg, idpg (noise-robust), mcg, dps (gradient through the model).",
    rich_help_panel=SAMPLING)]
Samples = Annotated[int, typer.Option(
    help="Average this many posterior samples per image (K times the time): higher PSNR, and the spread is "
         "recorded as 'uncertainty'.", rich_help_panel=SAMPLING)]
LatentLambda = Annotated[float | None, typer.Option(
    help="λ of latent DDNM in [0, 1] (latent SD3 models only; default 0.8).", rich_help_panel=SAMPLING,
    show_default=False)]

Gamma = _rule("ddpg/idpg γ: δ_t = ᾱ^γ moves back-projection to least squares; larger keeps BP longer.")
Zeta = _rule("ddpg ζ in [0, 1]: share of fresh noise in the injected noise.")
EtaTilde = _rule("ddpg/idpg η̃: η = max(eta_min, η̃ σ_y²) regularises back-projection.")
Xi = _rule("ddpg/idpg ξ: η = eta_min + ξ (255 σ_y)² instead of η̃.")
EtaMin = _rule("ddpg/idpg floor of η (0 makes noiseless back-projection exactly A⁺).")
StepSizeMode = _rule("ddpg/idpg step size: auto, fixed, decaying or decaying_ls.", str)
LsScale = _rule("ddpg/idpg c, the least-squares guidance scale.")
GradStep = _rule("mcg/dps ζ′: gradient step ζ′/‖y − A x̂0‖ (0.5 = the DPS code's scale 1).")

RULE_PARAMETERS = ("gamma", "zeta", "eta_tilde", "xi", "eta_min", "step_size_mode", "ls_scale", "grad_step")


def guidance_params(options: dict) -> dict:
    """The rule parameters among a command's options that the user set (``options`` is its ``locals()``)."""
    return {name: options[name] for name in RULE_PARAMETERS if options.get(name) is not None}
