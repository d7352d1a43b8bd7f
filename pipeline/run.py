"""``run_job(settings)``: validate the manifest and OUT, skip finished rows, run the Ray Data graph, record.

Graph: manifest rows (``from_items``) → ``decode_batch`` tasks → ``RestoreStage`` actor pool →
``encode_batch`` tasks (write PNGs through fsspec) → metadata rows streamed to the driver, which
writes Parquet parts (:class:`pipeline.sink.MetadataSink`) and reports progress via a callback.

On a CPU-only job Ray fuses the decode tasks into the restore actors (same resources, one copy
less); with ``num_gpus=1`` the actors differ in resources, so decoding stays in CPU tasks that feed
the GPU actors.

Ray: with ``RAY_ADDRESS`` set the job joins that cluster (workers must have ddnm-batch
installed); otherwise it starts a local Ray and stops it at the end. Actors keep Ray Data's
defaults ``max_restarts=-1, max_task_retries=-1``, so a crashed worker is replaced and its
batch re-run (tests/test_pipeline_faults.py SIGKILLs the restore worker mid-run and gets every row,
byte-identical to an undisturbed run); a row that kills its worker every time ends as a ``WorkerCrashed``
error row after ``max_worker_crashes`` (:mod:`pipeline.worker_crashes`). Tasks keep Ray's 3 retries for
system failures, and a block that still fails is dropped: its rows go through the graph once more, then are recorded
as ``BlockFailed`` error rows.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from . import io, metadata
from .cluster import protect_token_file
from .interrupt import RunInterrupted, stop_on_signals
from .manifest import ManifestRow
from .plan import prepare
from .preview import contact_sheet
from .rows import STATUS_OK
from .settings import JobSettings
from .sink import MetadataSink, OutputUnwritable, Progress

# Ray Data fails a job after 30 min without progress; one batched model call on a CPU, or a
# cluster waiting for GPUs, can legitimately take longer. Six hours still catches real hangs.
NO_PROGRESS_TIMEOUT_S = 6 * 3600
GPU_ACTOR_CPUS = 0.5  # leaves cores free for the decode/encode tasks that feed a GPU actor
# Rows whose Ray Data block failed for good (a node lost at the wrong moment can take an actor's streamed output with
# it: ActorUnavailableError) go through the graph once more before they are recorded as BlockFailed error rows.
LOST_ROW_PASSES = 1


@dataclass(frozen=True, slots=True)
class JobSummary:
    run_id: str
    total: int
    ok: int
    errors: int
    skipped: int
    errors_by_type: dict = field(default_factory=dict)
    elapsed_s: float = 0.0
    metadata_parts: tuple = ()
    preview_uri: str = ""
    ledger_parts: int = 0  # part files under OUT/metadata after the run (every run's; ``ddnm-batch compact``)
    out_uri: str = ""


def run_job(settings: JobSettings, on_progress: Callable[[Progress], None] | None = None) -> JobSummary:
    """Run one job end to end; rows that fail become error rows, the job itself goes on.

    Refused before any work (:class:`pipeline.preflight.PreflightError`, a ValueError): an unreadable
    manifest, an OUT that cannot be written, a model that does not load. Ends early with
    :class:`pipeline.sink.OutputUnwritable` (OUT stopped taking writes; the unrecorded rows are in its
    ``fallback`` file) or :class:`pipeline.interrupt.RunInterrupted` (SIGINT/SIGTERM; finished rows recorded).
    """
    started = time.time()
    prepared, _ = prepare(settings)
    settings, rows, items = prepared.settings, prepared.rows, prepared.items
    sink = MetadataSink(settings, metadata.new_run_id(), total=len(rows), skipped=0, on_progress=on_progress,
                        job_fingerprint=prepared.job_fingerprint, op_keys=prepared.op_keys)  # fmt: skip
    try:
        _execute(items, settings, sink)
    except OutputUnwritable as exc:
        exc.rows, exc.fallback = sink.unrecorded, _fallback(sink)
        raise
    except RunInterrupted as exc:
        exc.recorded, exc.out_uri = sink.recorded, settings.out_uri
        raise
    preview_uri = write_preview(rows, settings) if settings.preview else ""
    return JobSummary(
        run_id=sink.run_id,
        total=len(rows),
        ok=sink.ok,
        errors=sink.errors,
        skipped=sink.skipped,
        errors_by_type=dict(sink.errors_by_type),
        elapsed_s=time.time() - started,
        metadata_parts=tuple(sink.parts),
        preview_uri=preview_uri,
        ledger_parts=len(metadata.part_uris(settings.out_uri, settings.storage_options)),
        out_uri=settings.out_uri,
    )


def _fallback(sink: MetadataSink) -> str:
    try:
        return sink.write_fallback()
    except OSError:
        return ""


def _execute(items: list[dict], settings: JobSettings, sink: MetadataSink) -> None:
    import ray

    started_ray = connect_ray(settings)
    try:
        settings = with_device(settings)
        if started_ray:
            check_local_capacity(settings)
        # After ray.init, which sets its own SIGTERM handler (sys.exit without a word).
        with stop_on_signals(), sink:  # the sink flushes on the way out, whatever the way
            for attempt in range(1 + LOST_ROW_PASSES):
                to_do = sink.missing(items) if attempt else items
                if not to_do:
                    break
                dataset = build_dataset(to_do, settings, quiet=sink.on_progress is not None)
                # No prefetching: a block is handed on when it arrives, not when the next one has (pipeline.batch_plan).
                for batch in dataset.iter_batches(batch_format="numpy", batch_size=None, prefetch_batches=0):
                    sink.add(batch)
            sink.record_lost(items)
    finally:
        if started_ray:
            ray.shutdown()


def connect_ray(settings: JobSettings) -> bool:
    """Join RAY_ADDRESS or an already running session, else start a local Ray; True if started."""
    import logging

    import ray

    if ray.is_initialized():
        return False
    protect_token_file()  # ray.init may write a token to ~/.ray/auth_token, readable by all by default
    address, started = os.environ.get("RAY_ADDRESS"), time.monotonic()
    try:
        if address:
            ray.init(logging_level=logging.WARNING)  # ray.init reads RAY_ADDRESS itself
            return False
        ray.init(num_cpus=settings.num_cpus, include_dashboard=settings.dashboard, logging_level=logging.WARNING)
        return True
    except Exception as exc:  # noqa: BLE001 - Ray raises anything from a timeout to a missing folder here
        raise RayUnavailable(address, time.monotonic() - started, exc) from exc
    finally:
        protect_token_file()


class RayUnavailable(RuntimeError):
    """``ray.init`` failed before any work (a local start timed out under load, a cluster did not answer)."""

    def __init__(self, address: str | None, seconds: float, cause: BaseException):
        what = f"join the Ray cluster at {address}" if address else "start a local Ray cluster"
        reason = (str(cause).strip().splitlines() or [""])[0]
        super().__init__(f"could not {what} in {seconds:.0f} s: {type(cause).__name__}: {reason}")


def check_local_capacity(settings: JobSettings) -> None:
    """A local Ray needs one core for decode/encode tasks besides the restore actors' share."""
    import ray

    cpus = ray.cluster_resources().get("CPU", 0)
    needed = settings.num_actors * actor_cpus_for(settings) + 1
    if cpus < needed:
        raise ValueError(
            f"{settings.num_actors} restore actor(s) at {actor_cpus_for(settings)} CPU each plus one CPU for "
            f"decoding need {needed} CPUs, but the local Ray has {cpus}; lower --num-actors or raise --num-cpus"
        )


def actor_cpus_for(settings: JobSettings) -> float:
    return settings.actor_cpus or (GPU_ACTOR_CPUS if settings.device == "cuda" else 1.0)


def with_device(settings: JobSettings) -> JobSettings:
    """Resolve ``device="auto"`` against the cluster: CUDA when it has GPUs."""
    import ray

    if settings.device != "auto":
        return settings
    has_gpu = ray.cluster_resources().get("GPU", 0) >= 1
    return dataclasses.replace(settings, device="cuda" if has_gpu else "cpu")


def build_dataset(to_do: list[dict], settings: JobSettings, quiet: bool = True):
    """The Ray Data graph (lazy) over work items (:func:`pipeline.ledger.work_items`, or ``ManifestRow.to_item()``);
    ``settings.device`` must be resolved ("cpu" or "cuda")."""
    import ray
    from ray.data import ActorPoolStrategy

    from .decode import decode_batch
    from .encode import encode_batch
    from .worker_crashes import GuardedRestoreStage, start_journal, test_hook_env

    gpu = settings.device == "cuda"
    blocks = max(1, math.ceil(len(to_do) / settings.batch_size))
    dataset = ray.data.from_items(list(to_do), override_num_blocks=blocks)
    dataset = dataset.map_batches(decode_batch, fn_kwargs={"settings": settings}, batch_size=settings.batch_size)
    hook = test_hook_env()
    dataset = dataset.map_batches(
        GuardedRestoreStage,
        fn_constructor_kwargs={"settings": settings, "journal": start_journal()},
        compute=ActorPoolStrategy(size=settings.num_actors),
        num_gpus=1 if gpu else 0,
        num_cpus=actor_cpus_for(settings),
        batch_size=settings.batch_size,
        **({"runtime_env": {"env_vars": hook}} if hook else {}),
    )
    # Encode whatever the restore stage hands on (batch_size None: no waiting for batch_size rows), and make each
    # part it yields a block of its own (a target block size of 1 byte), so a small image's row reaches OUT while a
    # large batch-mate is still being restored (pipeline.batch_plan).
    dataset = dataset.map_batches(encode_batch, fn_kwargs={"settings": settings}, batch_size=None)
    dataset.context.target_max_block_size = 1
    dataset.context.execution_no_progress_timeout_s = NO_PROGRESS_TIMEOUT_S
    # A block whose task fails for good (after Ray's retries) is dropped instead of ending the run; the sink records
    # its rows as BlockFailed error rows (MetadataSink.record_lost), so nothing is left unrecorded.
    dataset.context.max_errored_blocks = -1
    if quiet:  # the CLI draws its own progress bar
        dataset.context.enable_progress_bars = False
        dataset.context.print_on_execution_start = False
    return dataset


def write_preview(rows: list[ManifestRow], settings: JobSettings) -> str:
    """Contact sheet of the first ``settings.preview`` ok rows (manifest order) → OUT/preview.png."""
    latest = metadata.latest_rows(metadata.read_all(settings.out_uri, settings.storage_options))
    done = {r[metadata.ID]: r for r in latest.to_pylist() if r[metadata.STATUS] == STATUS_OK}
    chosen = [done[r.id] for r in rows if r.id in done][: settings.preview]
    if not chosen:
        return ""
    options = settings.storage_options
    pairs = [(io.read_bytes(r[metadata.SOURCE_URI], options), io.read_bytes(r[metadata.OUTPUT_URI], options))
             for r in chosen]  # fmt: skip
    pages = [r.get(metadata.INPUT_PAGE) or 1 for r in chosen]
    negatives = [bool(r.get(metadata.INPUT_NEGATIVE)) for r in chosen]
    sheet = contact_sheet(pairs, settings.max_pixels, pages, negatives)
    uri = io.join(settings.out_uri, "preview.png")
    io.write_bytes_atomic(uri, sheet, settings.storage_options)
    return uri
