"""Frozen, validated settings of a restoration, torch-free (the command line builds them before loading torch).

``SamplerSettings`` says how DDNM samples; ``ModelSpec`` which prior and how it runs; ``RestoreSettings`` holds
both plus the tiling, posterior samples and colour working size: the one object that travels from the command
line (``pipeline.commands._settings_options`` makes the options from these fields and their ``help``) through
``pipeline.settings.JobSettings`` to :func:`ddnm.restore`. A field left ``None`` means "the model's own
recommendation"; :meth:`RestoreSettings.for_model` resolves it against a loaded model and runs the checks that
need the resolved values (travel length < steps). Validation lives only in these ``__post_init__`` methods and
that step, so a setting the sampler would refuse is refused the same way before any work starts.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from .guidance_params import (  # noqa: F401 - these names are also ddnm.settings'
    STEP_SIZE_MODES,
    DDPGParams,
    GradientParams,
    GuidanceParams,
    check_rule,
    default_params,
    param_names,
)
from .model_spec import DTYPES, ModelSpec  # noqa: F401 - both were defined here; still importable from here
from .tiling.settings import TileSettings

CONVENTIONS = ("paper", "reference")
# What a prior without a recommendation gets (``model.info.sampling`` overrides them: "steps", "eta" for the
# "paper" convention, "eta_reference" for "reference", "samples"). η 0.85 is the authors' number under their
# meaning (fresh noise 0.85·sqrt(1 − ᾱ′)); under "paper" it is kept as DDIM's η, the default before conventions.
DEFAULT_STEPS = 100
DEFAULT_ETA = {"paper": 0.85, "reference": 0.85}
ETA_KEY = {"paper": "eta", "reference": "eta_reference"}


def recommendations(model, task: str | None = None) -> dict:
    """The prior's recommended sampler settings (its config's ``sampling`` block); {} for none.

    The block may recommend per task: ``"tasks": {"sr_avgpool": {"samples": 4}}``, keyed by the operator's registry
    name, because what pays depends on the null space (the posterior mean of a few samples beats one sample on SR's
    missing detail, docs/model_card.md). With ``task``, its entries override the prior-wide ones.
    """
    sampling = dict(getattr(getattr(model, "info", None), "sampling", None) or {})
    by_task = sampling.pop("tasks", None) or {}
    return {**sampling, **(by_task.get(task) or {})}


def task_of(op) -> str | None:
    """The registry name of ``op`` (None for a hand-built operator): the key of a per-task recommendation."""
    if op is None:
        return None
    from .operators.registry import name_of  # lazily: this module stays torch-free

    return name_of(op)


def colour_recommendations(model) -> dict:
    """How the prior colours at the working size (its config's ``colour`` block: ``prior``, a companion that colours
    for it; ``work_size``, ``samples`` and ``ddnm.colour.WorkingSize``'s fields); {} for none."""
    return dict(getattr(getattr(model, "info", None), "colour", None) or {})


@dataclass(frozen=True, slots=True)
class SamplerSettings:
    """How to run DDNM / DDNM+ (arXiv:2212.00490) on a DDIM schedule (arXiv:2010.02502).

    steps:          number of distinct timesteps visited on the way down (before time-travel); None: the prior's
                    recommendation (``model.info.sampling``), else 100.
    eta:            η (None: the prior's recommendation for the convention, else 0.85), whose meaning depends on ``convention`` (docs/conventions.md):
                    "paper": DDIM's η (Eq. 16), the fresh-noise std σ_t(η) = η·sqrt((1−ᾱ′)/(1−ᾱ_t)·(1−ᾱ_t/ᾱ′))
                    of the posterior step; 0 is deterministic DDIM, 1 the DDPM posterior.
                    "reference": the authors' code's (DDRM-style) η, the share of fresh noise in the step's whole
                    noise: x′ = sqrt(ᾱ′)·x̂0 + sqrt(1−ᾱ′)·(η·z + sqrt(1−η²)·ε_θ); 0.85 is their default.
    sigma_y:        standard deviation of the noise in y, in [-1, 1] image units; > 0 selects DDNM+.
    travel_length:  time-travel length L in steps (DDNM §3.4); 0 disables time-travel.
    travel_repeat:  how many times each travelled segment is sampled (r); 1 means once.
    start_t:        warm start (CCDF, arXiv:2112.05146): begin at this timestep index from the noised initial
                    image (``x_init``, else the task's classical estimate ``ddnm.initial.initial_image``) instead of
                    pure noise at T-1; None: the prior's recommendation for the task, else pure noise at T-1.
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

    steps: int | None = field(default=None, metadata={"help": "Sampling steps (default: the prior's "
                                                             "recommendation, 20 for the bundled prior (5 for the "
                                                             "warm-started tasks); else 100)."})
    eta: float | None = field(default=None, metadata={"help": "eta in [0, 1]; meaning per --convention: paper: DDIM's "
        "eta, fresh-noise std sigma_t = eta*sqrt((1-a')/(1-a)*(1-a/a')); reference: x' = sqrt(a')x0 + "
        "sqrt(1-a')(eta*z + sqrt(1-eta^2)*eps) (a = alpha-bar). Default: the prior's recommendation, else 0.85."})
    sigma_y: float = field(default=0.0, metadata={"help": "Noise level of the scans (DDNM+), in [-1, 1] units."})
    travel_length: int = field(default=0, metadata={"help": "Time-travel length L in steps (0 = off)."})
    travel_repeat: int = field(default=1, metadata={"help": "Time-travel repeats r."})
    start_t: int | None = field(default=None, metadata={"help": "Warm start (CCDF) at this timestep from the "
        "task's classical estimate: bicubic for SR, harmonic fill for inpainting, else A+y. Default: the prior's "
        "recommendation (the bundled prior: 100 for SR and denoising, 50 for inpainting, 200 for deblurring), else from "
        "noise; 999 starts from noise."})
    clip_x0: bool | None = None
    guidance: str = field(default="ddnm", metadata={"help": "Guidance rule: ddnm (DDNM/DDNM+), ddpg, idpg "
                                                            "(noise-robust), mcg, dps (gradient through the model)."})
    guidance_params: GuidanceParams | None = None
    convention: str = field(default="paper", metadata={"help": "paper: the DDNM/DDIM papers' equations; reference: "
        "reproduce the authors' DDNM code (their eta, grid i*(T//steps), no x0 clamp, their time-travel and DDNM+), "
        "docs/conventions.md."})

    def __post_init__(self) -> None:
        if self.steps is not None and self.steps < 1:
            raise ValueError(f"steps must be >= 1, got {self.steps}")
        if self.eta is not None and not 0.0 <= self.eta <= 1.0:
            raise ValueError(f"eta must be in [0, 1], got {self.eta}")
        if self.sigma_y < 0:
            raise ValueError(f"sigma_y must be >= 0, got {self.sigma_y}")
        if self.travel_length < 0 or self.travel_repeat < 1:
            raise ValueError(
                f"travel_length must be >= 0 and travel_repeat >= 1, got {self.travel_length}, {self.travel_repeat}"
            )
        if self.travel_length and self.steps is not None and self.travel_length >= self.steps:
            raise ValueError(f"travel_length {self.travel_length} must be smaller than steps {self.steps}")
        if self.start_t is not None and self.start_t < 0:
            raise ValueError(f"start_t must be a timestep index >= 0, got {self.start_t}")
        self._check_guidance()
        self._check_convention()

    def _check_guidance(self) -> None:
        params_type = check_rule(self.guidance)
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
        return self.guidance_params if self.guidance_params is not None else default_params(self.guidance)

    @property
    def is_noisy(self) -> bool:
        """DDNM+ (Eq. 17-19) is needed only when y carries noise."""
        return self.sigma_y > 0

    def for_model(self, model=None, task: str | None = None) -> SamplerSettings:
        """These settings with ``steps``, ``eta`` and ``start_t`` filled in from ``model``'s recommendations for
        ``task`` (an operator's registry name; else 100, 0.85 and a start from noise), checked again with the values
        in force (time-travel shorter than the steps). A recommended warm start applies to the "paper" convention
        only (the authors' code has none)."""
        sampling = recommendations(model, task)
        steps = self.steps if self.steps is not None else int(sampling.get("steps", DEFAULT_STEPS))
        eta = self.eta
        if eta is None:
            eta = float(sampling.get(ETA_KEY[self.convention], DEFAULT_ETA[self.convention]))
        start_t = self.start_t
        if start_t is None and self.convention == "paper" and sampling.get("start_t") is not None:
            start_t = int(sampling["start_t"])
        if (steps, eta, start_t) == (self.steps, self.eta, self.start_t):
            return self
        return replace(self, steps=steps, eta=eta, start_t=start_t)


@dataclass(frozen=True, slots=True)
class RestoreSettings:
    """Everything :func:`ddnm.restore` needs besides y, A, the model and the seeds (docs/CONTRACTS.md).

    None means the model's recommendation: ``samples`` its config's "samples" (1 without one; 8 for colour at
    the working size, ``ddnm.colour.WorkingSize``), ``work_size`` its window for colorize and old photo.
    ``max_batch`` packs that many images (posterior samples of the batch) into one network call and splits a
    larger batch into parts (``ddnm.packing``; None: the whole batch, one sample at a time); ``tiles.max_batch``
    bounds the windows per call instead.
    ``latent_lambda``, ``latent_eta``, ``project_output`` are for latent (SD3) models only (``ddnm.latent_ddnm``).
    ``estimate_sigma_y`` runs DDNM+ at each image's own noise level, estimated from y (``ddnm.noise``), in place of
    one ``sampler.sigma_y`` for all. ``colour_strength`` scales a colour task's chroma around the per-pixel channel
    mean (``ddnm.colour.with_strength``), which A keeps, so the result stays exactly as consistent.
    """

    sampler: SamplerSettings = field(default_factory=SamplerSettings)
    tiles: TileSettings = field(default_factory=TileSettings)
    model: ModelSpec = field(default_factory=ModelSpec)
    samples: int | None = field(default=None, metadata={"help": "Average this many posterior samples per image (K "
        "times the time): higher PSNR, and the spread is recorded as 'uncertainty' (default: the prior's "
        "recommendation for the task: with the bundled prior 4 for SR, inpainting, deblurring and denoising, 16 for "
        "colour at the working size, else 1)."})
    work_size: int | None = field(default=None, metadata={"help": "colorize / old_photo: estimate colour on a copy "
        "of the scan with this long side and carry it up to full size exactly (default: the colour prior's, 32; "
        "0 = restore at full size in windows)."})  # fmt: skip
    max_batch: int | None = field(default=None, metadata={"help": "Images per network call: that many --samples "
        "run together, and a larger batch runs in parts (default: the batch, one sample at a time)."})  # fmt: skip
    latent_lambda: float | None = field(default=None, metadata={"help": "λ of latent DDNM in [0, 1] (latent SD3 "
                                                                        "models only; default 0.8)."})
    latent_eta: float | None = None
    project_output: bool | None = None
    estimate_sigma_y: bool = field(default=False, metadata={"help": "DDNM+ at each scan's own noise level, "
        "estimated from the scan (in place of --sigma-y; not for colour at the working size)."})  # fmt: skip
    colour_strength: float = field(default=1.0, metadata={"help": "colorize / old_photo: the restored colour times "
        "this, around each pixel's gray, which stays the scan's: 1 the prior's colour, 0.5 half as saturated, 0 "
        "gray; at most 2. For archives that prefer less colour to wrong colour."})  # fmt: skip

    def __post_init__(self) -> None:
        if self.estimate_sigma_y and self.sampler.sigma_y > 0:
            raise ValueError(f"estimate_sigma_y estimates the noise level that sigma_y ({self.sampler.sigma_y}) "
                             "states; give one of them")
        if not 0.0 <= self.colour_strength <= 2.0:
            raise ValueError(f"colour_strength must be in [0, 2] (1 keeps the prior's colour), "
                             f"got {self.colour_strength}")
        if self.samples is not None and self.samples < 1:
            raise ValueError(f"samples must be >= 1, got {self.samples}")
        if self.work_size is not None and self.work_size != 0 and self.work_size < 8:
            raise ValueError(f"work_size must be 0 (off) or >= 8 pixels, got {self.work_size}")
        if self.max_batch is not None and self.max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {self.max_batch}")
        for name in ("latent_lambda", "latent_eta"):
            value = getattr(self, name)
            if value is not None and not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value}")

    @property
    def latent_options(self) -> dict:
        """The latent-only settings that are set, as ``ddnm.latent_ddnm.latent_settings`` takes them."""
        names = ("latent_lambda", "latent_eta", "project_output")
        return {n: getattr(self, n) for n in names if getattr(self, n) is not None}

    def for_model(self, model, op=None) -> RestoreSettings:
        """These settings with every None that ``model`` decides filled in, checked with the values in force.

        Steps and η from the prior's recommendation (for ``op``'s task, ``recommendations``), a denoiser's warm
        start (``start_t`` at most its ``max_t``, FFDNet); with ``op``, also the colour working size (colorize and
        old photo on a windowed pixel prior: its config's ``colour.work_size``, else its window; 0 = full size) and
        the number of samples (there: its ``colour.samples``, else ``WorkingSize().samples``; elsewhere the task's
        recommendation, else 1). For colour, ``model`` is the prior that colours (``ddnm.restore.restoring_prior``:
        the companion the main prior's config names). A latent-only setting on
        a pixel prior is refused, as are pixel-only settings on a latent one.
        """
        latent = getattr(model, "is_latent", False)
        if self.latent_options and not latent:
            raise ValueError(f"{sorted(self.latent_options)} are for latent (SD3) models; "
                             f"{model.info.name!r} is a pixel-space prior")
        if latent:
            from .latent_ddnm import latent_settings  # checks what latent DDNM refuses

            sampler = self.sampler.for_model(model)
            sigma_y = sampler.sigma_y or float(self.estimate_sigma_y)  # an estimate would be a sigma_y: refused alike
            latent_settings(sampler.steps, sigma_y, sampler.travel_length, self._latent_view(sampler))
        else:
            sampler = self.sampler.for_model(model, task_of(op))
            max_t = getattr(model, "max_t", None)  # a denoiser (FFDNet) cannot start above its noise range
            if max_t is not None:
                sampler = replace(sampler, start_t=max_t if sampler.start_t is None else min(sampler.start_t, max_t))
        resolved = replace(self, sampler=sampler)
        if op is None:
            return resolved
        from .colour import WorkingSize, is_colour_task

        work_size = self.work_size
        if latent or not is_colour_task(op):
            work_size = 0
        elif work_size is None:
            work_size = int(colour_recommendations(model).get("work_size") or getattr(model.info, "image_size", None)
                            or 0)  # fmt: skip
        samples = self.samples
        if samples is None and work_size:
            samples = int(colour_recommendations(model).get("samples", WorkingSize().samples))
        elif samples is None:
            samples = int(recommendations(model, task_of(op)).get("samples", 1))
        return replace(resolved, work_size=work_size, samples=samples)

    def _latent_view(self, sampler: SamplerSettings) -> dict:
        refused = {"start_t": sampler.start_t, "clip_x0": sampler.clip_x0, "guidance_params": sampler.guidance_params}
        return {"guidance": sampler.guidance, "convention": sampler.convention, **self.latent_options,
                **{k: v for k, v in refused.items() if v is not None}}
