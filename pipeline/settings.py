"""Job settings: one frozen dataclass that every stage receives, validated once on construction."""

from __future__ import annotations

from dataclasses import dataclass, field

DEVICES = ("auto", "cpu", "cuda")

# Pillow's own default ceiling is 89 Mpx; archives hold large scans, so allow a little more by
# default. A bigger image becomes an error row (DecompressionBomb), never a crash.
DEFAULT_MAX_PIXELS = 100_000_000


@dataclass(frozen=True, slots=True)
class JobSettings:
    """Everything a ``ddnm-batch run`` needs.

    ``op`` is the default operator for manifest rows without an ``op`` column value.
    ``model`` is ``"bundled"`` (the prior shipped in ``ddnm/weights``), ``"ffdnet"`` or a path.
    ``storage_options`` are passed to fsspec (e.g. ``{"endpoint_url": ...}``); treat them as
    read-only, and they are kept out of ``repr`` so credentials never reach logs.
    ``seed`` is the job seed; each row's seed is derived from it and the row id
    (:func:`pipeline.restore_stage.row_seed`), so results do not depend on batching.
    ``actor_cpus`` is the CPU share of one restore actor; ``None`` picks 1 on CPU (torch uses
    the core) and 0.5 on GPU (leaves cores for decode/encode tasks).
    ``fixed_batch`` pads every model call to ``batch_size`` images: a network's float results for
    one image change (~1e-6) with the batch size, which flips a few 8-bit pixels; a fixed size makes
    each output independent of which rows shared its batch, so re-runs are byte-identical (on CPU;
    GPU kernels may still vary). It costs compute only for partly filled batches.
    ``num_cpus`` sizes a local Ray started by the job (``None``: all cores); ignored when
    connecting to a cluster.
    ``guidance`` names the rule (``ddnm.guidance.GUIDANCE``) and ``guidance_params`` sets fields of its
    parameter dataclass (``{"gamma": 6}`` for ``ddpg``), checked here so a bad option fails before Ray starts.
    ``samples`` > 1 writes the mean of that many posterior samples per image (``ddnm.posterior``; K times
    the compute) and records their spread as ``uncertainty``; ``None`` is 1, or 8 for colour at the working size.
    ``work_size`` is the long side of the working image that colorize and old_photo estimate colour on
    (``ddnm.colour``: colour carried up to full size exactly); ``None`` takes the prior's window, 0 restores at
    full size in windows instead.
    ``latent_lambda`` is λ of latent DDNM, for latent (SD3) models only; ``None`` keeps the model's default.
    ``max_worker_crashes``: a row whose restore worker died this many times (at least once with the row restored
    alone) becomes a ``WorkerCrashed`` error row and the run goes on (:mod:`pipeline.worker_crashes`).
    """

    manifest_uri: str
    out_uri: str
    op: str | None = None
    model: str = "bundled"
    steps: int = 100
    eta: float | None = None  # None: the prior's recommended η (ddnm.restore.effective_eta)
    sigma_y: float = 0.0
    travel_length: int = 0
    travel_repeat: int = 1
    guidance: str = "ddnm"
    guidance_params: dict = field(default_factory=dict)
    convention: str = "paper"  # "paper" | "reference" (ddnm.settings.SamplerSettings.convention)
    latent_lambda: float | None = None
    samples: int | None = None
    work_size: int | None = None
    seed: int = 0
    batch_size: int = 4
    fixed_batch: bool = True
    num_actors: int = 1
    device: str = "auto"
    max_pixels: int = DEFAULT_MAX_PIXELS
    storage_options: dict = field(default_factory=dict, repr=False)
    preview: int = 0
    actor_cpus: float | None = None
    num_cpus: int | None = None
    dashboard: bool = False
    max_worker_crashes: int = 3

    def __post_init__(self) -> None:
        problems = _problems(self)
        if problems:
            raise ValueError("invalid job settings: " + "; ".join(problems))

    @property
    def model_path(self) -> str | None:
        """The argument for ``ddnm.models.load``: ``None`` selects the bundled prior."""
        return None if self.model == "bundled" else self.model

    @property
    def restore(self):
        """The job's ``ddnm.settings.RestoreSettings``: what ``ddnm.restore`` gets for every row."""
        from ddnm.overrides import with_overrides
        from ddnm.settings import ModelSpec, RestoreSettings

        flat = dict(steps=self.steps, eta=self.eta, sigma_y=self.sigma_y, travel_length=self.travel_length,
                    travel_repeat=self.travel_repeat, guidance=self.guidance, convention=self.convention,
                    samples=self.samples, work_size=self.work_size, latent_lambda=self.latent_lambda,
                    **self.guidance_params)  # fmt: skip
        return with_overrides(RestoreSettings(model=ModelSpec(self.model_path)), flat)


def _problems(s: JobSettings) -> list[str]:
    checks = [
        (bool(s.manifest_uri), f"manifest_uri must be a path or URI, got {s.manifest_uri!r}"),
        (bool(s.out_uri), f"out_uri must be a path or URI, got {s.out_uri!r}"),
        (bool(s.model), "model must be 'bundled', 'ffdnet' or a weights path"),
        (s.steps >= 1, f"steps must be >= 1, got {s.steps}"),
        (s.eta is None or 0.0 <= s.eta <= 1.0, f"eta must be in [0, 1], got {s.eta}"),
        (s.sigma_y >= 0.0, f"sigma_y must be >= 0, got {s.sigma_y}"),
        (s.travel_length >= 0, f"travel_length must be >= 0, got {s.travel_length}"),
        (s.samples is None or s.samples >= 1, f"samples must be >= 1, got {s.samples}"),
        (s.work_size is None or s.work_size == 0 or s.work_size >= 8,
         f"work_size must be 0 (off) or >= 8 pixels, got {s.work_size}"),
        (s.travel_repeat >= 1, f"travel_repeat must be >= 1, got {s.travel_repeat}"),
        (0 <= s.seed < 2**63, f"seed must be in [0, 2**63), got {s.seed}"),
        (s.batch_size >= 1, f"batch_size must be >= 1, got {s.batch_size}"),
        (s.num_actors >= 1, f"num_actors must be >= 1, got {s.num_actors}"),
        (s.device in DEVICES, f"device must be one of {DEVICES}, got {s.device!r}"),
        (isinstance(s.guidance_params, dict), "guidance_params must be a dict (a JSON object)"),
        (s.max_pixels >= 1, f"max_pixels must be >= 1, got {s.max_pixels}"),
        (isinstance(s.storage_options, dict), "storage_options must be a dict (a JSON object)"),
        (s.preview >= 0, f"preview must be >= 0, got {s.preview}"),
        (s.actor_cpus is None or s.actor_cpus > 0, f"actor_cpus must be > 0, got {s.actor_cpus}"),
        (s.num_cpus is None or s.num_cpus >= 1, f"num_cpus must be >= 1, got {s.num_cpus}"),
        (s.max_worker_crashes >= 1, f"max_worker_crashes must be >= 1, got {s.max_worker_crashes}"),
    ]
    problems = [message for ok, message in checks if not ok]
    problems += _convention_problems(s)
    if isinstance(s.guidance_params, dict):
        problems += _guidance_problems(s.guidance, s.guidance_params)
    if s.latent_lambda is not None and not 0.0 <= s.latent_lambda <= 1.0:
        problems.append(f"latent_lambda must be in [0, 1], got {s.latent_lambda}")
    return problems


def _convention_problems(s: JobSettings) -> list[str]:
    from ddnm.settings import CONVENTIONS

    if s.convention not in CONVENTIONS:
        return [f"convention must be one of {list(CONVENTIONS)}, got {s.convention!r}"]
    if s.convention == "reference" and s.guidance != "ddnm":
        return [f"convention 'reference' reproduces the authors' DDNM code and needs guidance 'ddnm', got {s.guidance!r}"]
    return []


def _guidance_problems(guidance: str, params: dict) -> list[str]:
    # Imported here: the engine (and torch) loads only when a job is really being set up.
    from ddnm.guidance_params import guidance_params_for

    try:
        guidance_params_for(guidance, params)
    except (TypeError, ValueError) as exc:
        return [str(exc)]
    return []


def guidance_params_json(settings: JobSettings) -> str:
    """The run's guidance parameters as stable text (sorted keys), for metadata and PNG provenance."""
    import json

    params = dict(settings.guidance_params)
    if settings.latent_lambda is not None:
        params["latent_lambda"] = settings.latent_lambda
    return json.dumps(params, sort_keys=True)
