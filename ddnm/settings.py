"""Frozen, validated settings for the samplers and their guidance rules."""

from __future__ import annotations

from dataclasses import dataclass, fields

STEP_SIZE_MODES = ("auto", "fixed", "decaying", "decaying_ls")
CONVENTIONS = ("paper", "reference")


@dataclass(frozen=True, slots=True)
class DDPGParams:
    """Parameters of DDPG / IDPG (Garber & Tirer, CVPR 2024, arXiv:2312.16519), named as in the paper's code.

    gamma:          δ_t = ᾱ_next^γ sets the mix of back-projection (δ → 0) and least-squares (δ → 1) guidance
                    when σ_y > 0; larger γ keeps BP longer. Without noise δ_t = 0 (pure BP).
    zeta:           ζ, DDPG only: share of fresh noise in the injected noise; 1 − ζ is the estimated ε̂.
    eta_tilde:      η = max(eta_min, η̃·σ_y²) regularises BP's (AAᵀ + ηI)⁻¹.
    xi:             if set, η = eta_min + ξ·(255·σ_y)² instead (the paper code's alternative).
    eta_min:        floor of η (the paper code's 1e-4); 0 makes noiseless BP exactly A⁺.
    step_size_mode: "fixed" (μ_t = 1), "decaying" (μ_t = (1 − ᾱ_next)/(1 − ᾱ_t)), "decaying_ls"
                    (only the LS part decays) or "auto": the paper's choice, fixed for IDPG and for DDPG with
                    σ_y ≤ 0.02 (0.01 on [0, 1]), decaying above. A decaying step is 0 at the last step, so
                    a noiseless run with it ends unprojected.
    ls_scale:       c, the least-squares guidance scale (≲ 1/s_max² keeps the LS step stable).
    """

    gamma: float = 8.0
    zeta: float = 0.5
    eta_tilde: float = 0.7
    xi: float | None = None
    eta_min: float = 1e-4
    step_size_mode: str = "auto"
    ls_scale: float = 1.0

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

    grad_step: ζ' of DPS Algorithm 1: the step is ζ'/‖y − A x̂0‖ · ∇_{x_t}‖y − A x̂0(x_t)‖². 0.5 equals the
               DPS code's ``scale=1`` (it steps along ∇‖·‖, which is ∇‖·‖²/(2‖·‖)). 0 turns the gradient off.
    """

    grad_step: float = 0.5

    def __post_init__(self) -> None:
        if self.grad_step < 0:
            raise ValueError(f"grad_step must be >= 0, got {self.grad_step}")


GuidanceParams = DDPGParams | GradientParams


def param_names(params_type: type | None) -> list[str]:
    """Field names of a guidance rule's parameter dataclass (none for rules without parameters)."""
    return [] if params_type is None else [f.name for f in fields(params_type)]


@dataclass(frozen=True, slots=True)
class SamplerSettings:
    """How to run DDNM / DDNM+ (arXiv:2212.00490) on a DDIM schedule (arXiv:2010.02502).

    steps:          number of distinct timesteps visited on the way down (before time-travel).
    eta:            η, whose meaning depends on ``convention`` (docs/conventions.md):
                    "paper": DDIM's η (Eq. 16), the fresh-noise std σ_t(η) = η·sqrt((1−ᾱ′)/(1−ᾱ_t)·(1−ᾱ_t/ᾱ′))
                    of the posterior step; 0 is deterministic DDIM, 1 the DDPM posterior.
                    "reference": the authors' code's (DDRM-style) η, the share of fresh noise in the step's whole
                    noise: x′ = sqrt(ᾱ′)·x̂0 + sqrt(1−ᾱ′)·(η·z + sqrt(1−η²)·ε_θ); 0.85 is their default.
    sigma_y:        standard deviation of the noise in y, in [-1, 1] image units; > 0 selects DDNM+.
    travel_length:  time-travel length L in steps (DDNM §3.4); 0 disables time-travel.
    travel_repeat:  how many times each travelled segment is sampled (r); 1 means once.
    start_t:        warm start (CCDF, arXiv:2112.05146): begin at this timestep index from a noised
                    initial image instead of pure noise at T-1; None starts at T-1.
    clip_x0:        clamp the model's x0 estimate to [-1, 1] before the range-space correction; None (default)
                    takes the convention's choice: the paper's sampler clamps, the authors' code does not.
    guidance:       how x0 is pulled towards y: "ddnm" (DDNM / DDNM+, default), "ddpg", "idpg", "mcg", "dps";
                    see ``ddnm.guidance.GUIDANCE``.
    guidance_params: the rule's parameters (``DDPGParams`` for ddpg/idpg, ``GradientParams`` for mcg/dps);
                    None takes the rule's defaults. DDNM has none.
    convention:     "paper" (default): the equations of the DDNM and DDIM papers (DDIM posterior step with the
                    ε̂ implied by x̂0, rounded grid reaching T−1, x0 clamped, time-travel forward-noises x_t).
                    "reference": the authors' code (github wyhuai/DDNM, functions/svd_ddnm.py): DDRM-style η with
                    the network's raw ε, grid t_i = i·(T // steps), no clamp, time-travel re-noises the last
                    uncorrected x0|t, and their DDNM+ noise split. DDNM guidance only.
    """

    steps: int = 100
    eta: float = 0.85
    sigma_y: float = 0.0
    travel_length: int = 0
    travel_repeat: int = 1
    start_t: int | None = None
    clip_x0: bool | None = None
    guidance: str = "ddnm"
    guidance_params: GuidanceParams | None = None
    convention: str = "paper"

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise ValueError(f"steps must be >= 1, got {self.steps}")
        if not 0.0 <= self.eta <= 1.0:
            raise ValueError(f"eta must be in [0, 1], got {self.eta}")
        if self.sigma_y < 0:
            raise ValueError(f"sigma_y must be >= 0, got {self.sigma_y}")
        if self.travel_length < 0 or self.travel_repeat < 1:
            raise ValueError(
                f"travel_length must be >= 0 and travel_repeat >= 1, got {self.travel_length}, {self.travel_repeat}"
            )
        if self.travel_length and self.travel_length >= self.steps:
            raise ValueError(f"travel_length {self.travel_length} must be smaller than steps {self.steps}")
        if self.start_t is not None and self.start_t < 0:
            raise ValueError(f"start_t must be a timestep index >= 0, got {self.start_t}")
        self._check_guidance()
        self._check_convention()

    def _check_guidance(self) -> None:
        from .guidance import GUIDANCE  # the registry imports this module; look it up only when validating

        if self.guidance not in GUIDANCE:
            raise ValueError(f"unknown guidance {self.guidance!r}; valid: {sorted(GUIDANCE)}")
        params_type = GUIDANCE[self.guidance].params_type
        if self.guidance_params is not None and not isinstance(self.guidance_params, params_type or ()):
            expected = "no parameters" if params_type is None else params_type.__name__
            raise ValueError(
                f"guidance {self.guidance!r} takes {expected}, got {type(self.guidance_params).__name__}"
            )

    def _check_convention(self) -> None:
        if self.convention not in CONVENTIONS:
            raise ValueError(f"unknown convention {self.convention!r}; valid: {list(CONVENTIONS)}")
        if self.convention == "reference" and self.guidance != "ddnm":
            raise ValueError(
                f"convention 'reference' reproduces the authors' DDNM code and needs guidance 'ddnm', "
                f"got {self.guidance!r}; use convention 'paper' for other rules"
            )
        if self.convention == "reference" and self.start_t is not None:
            raise ValueError("convention 'reference' has no warm start (the authors' code starts from noise at T); "
                             "use convention 'paper' with start_t")

    @property
    def clips_x0(self) -> bool:
        """Whether x0|t is clamped to [-1, 1]: as asked, else the convention's choice (paper: yes)."""
        return self.convention == "paper" if self.clip_x0 is None else self.clip_x0

    @property
    def params(self) -> GuidanceParams | None:
        """The guidance rule's parameters: the given ones, else the rule's defaults."""
        if self.guidance_params is not None:
            return self.guidance_params
        from .guidance import GUIDANCE

        return GUIDANCE[self.guidance].default_params()

    @property
    def is_noisy(self) -> bool:
        """DDNM+ (Eq. 17-19) is needed only when y carries noise."""
        return self.sigma_y > 0
