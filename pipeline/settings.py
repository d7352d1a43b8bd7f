"""Job settings: one frozen dataclass that every stage receives, validated once on construction.

What a restored image depends on is ``JobSettings.restore``, a ``ddnm.settings.RestoreSettings``: the same
object ``ddnm.restore`` takes, validated by its own dataclasses (there is no second set of checks here). The
other fields say where and how the job runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from ddnm.settings import ModelSpec, RestoreSettings

DEVICES = ("auto", "cpu", "cuda")
OUTPUT_FORMATS = {"png": ".png", "tiff": ".tif"}  # --output-format → the restored images' file suffix
OUTPUT_SUFFIXES = {".png": "png", ".tif": "tiff", ".tiff": "tiff"}  # restore OUT's suffix → the format written


def output_format_named(text: str) -> str:
    """``--output-format`` as a person writes it: any case, ``tif`` for ``tiff``."""
    name = text.strip().lower()
    return "tiff" if name == "tif" else name

# Pillow's own default ceiling is 89 Mpx; archives hold large scans, so allow a little more by
# default. A bigger image becomes an error row (DecompressionBomb), never a crash.
DEFAULT_MAX_PIXELS = 100_000_000


@dataclass(frozen=True, slots=True)
class JobSettings:
    """Everything a ``ddnm-batch run`` needs.

    ``restore`` is how every image is restored (sampler, model, samples, working size; ``ddnm.restore``'s settings).
    ``op`` is the default operator for manifest rows without an ``op`` column value.
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
    ``max_worker_crashes``: a row whose restore worker died this many times (at least once with the row restored
    alone) becomes a ``WorkerCrashed`` error row and the run goes on (:mod:`pipeline.worker_crashes`).
    ``output_format``: ``png``, or ``tiff`` (lossless, as archives keep production masters; ``pipeline.tiff_out``).
    ``negative``: rows whose ``negative`` cell is empty are scans of negatives (a box of glass plates), restored as
    their positives (``pipeline.decode.inverted``); a row's own yes/no wins.
    """

    manifest_uri: str
    out_uri: str
    # A field with a "help" is a command-line option of `run` and `submit` (pipeline.commands._job_options), with
    # this help and default; "run_only" ones have no meaning for a job sent to a cluster.
    op: str | None = field(default=None, metadata={"help": "Default operator for rows without an 'op' value."})
    restore: RestoreSettings = field(default_factory=RestoreSettings)
    seed: int = field(default=0, metadata={"help": "Job seed; each row's seed derives from it and the row id."})
    batch_size: int = field(default=4, metadata={"help": "Images per model call."})
    fixed_batch: bool = field(default=True, metadata={
        "help": "Pad model calls to --batch-size (byte-identical re-runs).", "run_only": True})
    num_actors: int = field(default=1, metadata={"help": "Restore actors (one model each; one GPU each on CUDA)."})
    device: str = field(default="auto", metadata={"help": "auto (CUDA where Ray has GPUs), cpu or cuda."})
    storage_options: dict = field(default_factory=dict, repr=False, metadata={
        "help": 'fsspec options as JSON: {"endpoint_url": "..."}. Credentials belong in the environment '
                "(submit sends these options to the cluster in the job's spec)."})
    max_pixels: int = field(default=DEFAULT_MAX_PIXELS, metadata={
        "help": "Larger inputs or outputs become error rows (decompression bombs), never a crash."})
    preview: int = field(default=0, metadata={"help": "Write OUT/preview.png with the first N restored rows."})
    max_worker_crashes: int = field(default=3, metadata={
        "help": "A row whose restore worker died this many times becomes a WorkerCrashed error row."})
    actor_cpus: float | None = None
    num_cpus: int | None = field(default=None, metadata={
        "help": "CPUs for a local Ray (default: all).", "run_only": True})
    dashboard: bool = field(default=False, metadata={
        "help": "Start the Ray dashboard with a local Ray.", "run_only": True})
    output_format: str = field(default="png", metadata={
        "help": "Restored images as png, or tiff (lossless, 16 bits where the scan had 16, same metadata)."})
    negative: bool = field(default=False, metadata={
        "help": "Scans are of negatives (glass plates, film): restore their positives. A row's 'negative' yes/no "
                "wins.", "flag": "--negative"})

    def __post_init__(self) -> None:
        problems = _problems(self)
        if problems:
            raise ValueError("invalid job settings: " + "; ".join(problems))

    @classmethod
    def of(cls, manifest_uri: str, out_uri: str, **values) -> JobSettings:
        """Settings from flat names, as jobs were once written: the job's own fields, ``model`` (a path,
        "bundled" or "ffdnet"), ``guidance_params`` (a dict of the rule's parameters), and any flat name
        ``ddnm.restore`` takes (``steps``, ``sigma_y``, ``samples``, ...), which set ``restore``."""
        from ddnm.overrides import with_overrides

        own = {f.name for f in fields(cls)} - {"restore"}
        job = {k: values.pop(k) for k in list(values) if k in own}
        restore = values.pop("restore", None) or RestoreSettings()
        if "model" in values:
            restore = _with_model(restore, path=values.pop("model"))
        values.update(values.pop("guidance_params", None) or {})
        return cls(manifest_uri, out_uri, restore=with_overrides(restore, values), **job)

    @property
    def model(self) -> str:
        """The model as the command line names it: "bundled", "ffdnet" or a path."""
        return self.restore.model.label


def _with_model(restore: RestoreSettings, **spec) -> RestoreSettings:
    from dataclasses import replace

    return replace(restore, model=replace(restore.model, **spec))


def _problems(s: JobSettings) -> list[str]:
    checks = [
        (bool(s.manifest_uri), f"manifest_uri must be a path or URI, got {s.manifest_uri!r}"),
        (bool(s.out_uri), f"out_uri must be a path or URI, got {s.out_uri!r}"),
        (isinstance(s.restore, RestoreSettings), "restore must be a ddnm.settings.RestoreSettings"),
        (s.max_worker_crashes >= 1, f"max_worker_crashes must be >= 1, got {s.max_worker_crashes}"),
        (0 <= s.seed < 2**63, f"seed must be in [0, 2**63), got {s.seed}"),
        (s.batch_size >= 1, f"batch_size must be >= 1, got {s.batch_size}"),
        (s.num_actors >= 1, f"num_actors must be >= 1, got {s.num_actors}"),
        (s.device in DEVICES, f"device must be one of {DEVICES}, got {s.device!r}"),
        (s.max_pixels >= 1, f"max_pixels must be >= 1, got {s.max_pixels}"),
        (isinstance(s.storage_options, dict), "storage_options must be a dict (a JSON object)"),
        (s.preview >= 0, f"preview must be >= 0, got {s.preview}"),
        (s.actor_cpus is None or s.actor_cpus > 0, f"actor_cpus must be > 0, got {s.actor_cpus}"),
        (s.num_cpus is None or s.num_cpus >= 1, f"num_cpus must be >= 1, got {s.num_cpus}"),
        (s.output_format in OUTPUT_FORMATS, f"output_format must be one of {sorted(OUTPUT_FORMATS)}, "
                                            f"got {s.output_format!r}"),
    ]
    return [message for ok, message in checks if not ok]


def guidance_params_json(settings: JobSettings) -> str:
    """The run's guidance parameters that differ from the rule's defaults (and λ of latent DDNM when set), as
    stable text (sorted keys), for metadata and PNG provenance."""
    import json

    from ddnm.guidance_params import set_params

    params = set_params(settings.restore.sampler.guidance_params)
    if settings.restore.latent_lambda is not None:
        params["latent_lambda"] = settings.restore.latent_lambda
    return json.dumps(params, sort_keys=True)


__all__ = ["DEFAULT_MAX_PIXELS", "DEVICES", "JobSettings", "ModelSpec", "RestoreSettings", "guidance_params_json"]
