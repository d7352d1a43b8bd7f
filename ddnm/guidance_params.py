"""The guidance rules' parameter dataclasses and which rule takes which, torch-free.

``ddnm.settings`` checks a rule's name and parameters with this table, and ``ddnm.guidance``'s rules name their
``params_type`` from it, so the settings never import the rules (no import cycle) and the command line can check
a setting without loading torch. ``tests/test_guidance.py`` keeps :data:`RULE_PARAMS` equal to the rules' own.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace

STEP_SIZE_MODES = ("auto", "fixed", "decaying", "decaying_ls")


@dataclass(frozen=True, slots=True)
class DDPGParams:
    """Parameters of DDPG / IDPG (Garber & Tirer, CVPR 2024, arXiv:2312.16519), named as in the paper's code.

    Each field's ``help`` (shown by ``ddnm-batch run --help``) says what it does; docs/guidance.md has the
    measurements. Without noise δ_t = 0 (pure BP); a decaying step is 0 at the last step, so a noiseless run
    with it ends unprojected.
    """

    gamma: float = field(default=8.0, metadata={"help": "ddpg/idpg γ: δ_t = ᾱ^γ moves back-projection to least "
                                                        "squares; larger keeps BP longer."})
    zeta: float = field(default=0.5, metadata={"help": "ddpg ζ in [0, 1]: share of fresh noise in the injected "
                                                       "noise."})
    eta_tilde: float = field(default=0.7, metadata={"help": "ddpg/idpg η̃: η = max(eta_min, η̃ σ_y²) regularises "
                                                            "back-projection."})
    xi: float | None = field(default=None, metadata={"help": "ddpg/idpg ξ: η = eta_min + ξ (255 σ_y)² instead of "
                                                             "η̃."})
    eta_min: float = field(default=1e-4, metadata={"help": "ddpg/idpg floor of η (0 makes noiseless "
                                                           "back-projection exactly A⁺)."})
    step_size_mode: str = field(default="auto", metadata={"help": "ddpg/idpg step size: auto (the paper's choice: "
                                                                  "fixed for IDPG and for σ_y ≤ 0.02, decaying "
                                                                  "above), fixed, decaying or decaying_ls."})
    ls_scale: float = field(default=1.0, metadata={"help": "ddpg/idpg c, the least-squares guidance scale "
                                                           "(≲ 1/s_max² keeps the step stable)."})

    def __post_init__(self) -> None:
        if self.gamma < 0 or self.eta_tilde < 0 or self.eta_min < 0 or (self.xi is not None and self.xi < 0):
            raise ValueError(
                f"gamma, eta_tilde, eta_min and xi must be >= 0, got {self.gamma}, {self.eta_tilde}, "
                f"{self.eta_min}, {self.xi}"
            )
        if not 0.0 <= self.zeta <= 1.0:
            raise ValueError(f"zeta must be in [0, 1], got {self.zeta}")
        if self.step_size_mode not in STEP_SIZE_MODES:
            raise ValueError(f"step_size_mode {self.step_size_mode!r} is not one of {STEP_SIZE_MODES}")
        if self.ls_scale <= 0:
            raise ValueError(f"ls_scale (c) must be > 0, got {self.ls_scale}")


@dataclass(frozen=True, slots=True)
class GradientParams:
    """Parameters of the gradient rules DPS (Chung et al., ICLR 2023) and MCG (Chung et al., NeurIPS 2022).

    grad_step is ζ' of DPS Algorithm 1: the step is ζ'/‖y − A x̂0‖ · ∇_{x_t}‖y − A x̂0(x_t)‖². 0.5 equals the
    DPS code's ``scale=1`` (it steps along ∇‖·‖, which is ∇‖·‖²/(2‖·‖)). 0 turns the gradient off.
    """

    grad_step: float = field(default=0.5, metadata={"help": "mcg/dps ζ′: gradient step ζ′/‖y − A x̂0‖ (default 0.5 "
                                                            "= the DPS code's scale 1, tuned for 1000 steps; measured "
                                                            "best: ~5 at 100 steps, ~10 at 20, docs/guidance.md)."})

    def __post_init__(self) -> None:
        if self.grad_step < 0:
            raise ValueError(f"grad_step must be >= 0, got {self.grad_step}")


GuidanceParams = DDPGParams | GradientParams

# Each guidance rule's parameter dataclass (None: the rule has none); ddnm.guidance.GUIDANCE's rules agree.
RULE_PARAMS: dict[str, type | None] = {
    "ddnm": None, "ddpg": DDPGParams, "idpg": DDPGParams, "mcg": GradientParams, "dps": GradientParams,
}  # fmt: skip


def param_names(params_type: type | None) -> list[str]:
    """Field names of a guidance rule's parameter dataclass (none for rules without parameters)."""
    return [] if params_type is None else [f.name for f in fields(params_type)]


def check_rule(name: str) -> type | None:
    """The parameter dataclass of rule ``name``; an unknown name is refused with the valid ones."""
    if name not in RULE_PARAMS:
        raise ValueError(f"unknown guidance {name!r}; valid: {sorted(RULE_PARAMS)}")
    return RULE_PARAMS[name]


def default_params(name: str) -> GuidanceParams | None:
    """Rule ``name``'s default parameters (None for a rule without parameters)."""
    params_type = check_rule(name)
    return None if params_type is None else params_type()


def guidance_params_for(name: str, values: dict) -> GuidanceParams | None:
    """The parameter dataclass of guidance ``name`` with ``values`` set (``None`` for a rule without parameters).

    The one place a rule's parameters are checked, for the library and the command line alike:
    ``guidance_params_for("ddpg", {"gamma": 6})`` -> ``DDPGParams(gamma=6, ...)``.
    """
    params_type = check_rule(name)
    names = param_names(params_type)
    unknown = sorted(set(values) - set(names))
    if unknown:
        takes = f"its parameters are {names}" if names else "it takes no parameters"
        owners = sorted(g for g, t in RULE_PARAMS.items() if set(unknown) <= set(param_names(t)))
        hint = f"; {unknown} belong to guidance {owners}" if owners else ""
        raise ValueError(f"{unknown} {'is not a parameter' if len(unknown) == 1 else 'are not parameters'} "
                         f"of guidance {name!r}: {takes}{hint}")
    if params_type is None:
        return None
    return replace(params_type(), **values)


def set_params(params: GuidanceParams | None) -> dict:
    """The parameters that differ from their rule's defaults, as plain data (metadata, provenance, resume key)."""
    if params is None:
        return {}
    default = type(params)()
    return {f.name: getattr(params, f.name) for f in fields(params) if getattr(params, f.name) != getattr(default, f.name)}
