"""``ddnm-batch submit MANIFEST --op OP --out OUT``: run a restoration as a job on a Ray cluster."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from ..manifest import ManifestError
from ..settings import DEFAULT_MAX_PIXELS, JobSettings, RestoreSettings, output_format_named
from ._cluster_options import Address, cluster_errors, fail
from ._settings_options import with_restore_options
from ._json_options import parse_storage_options


def register(app: typer.Typer) -> None:
    app.command("submit")(submit)


@with_restore_options
def submit(
    manifest: Annotated[str, typer.Argument(
        help="CSV or Parquet manifest the cluster can read (s3:// or a shared path).")],
    out: Annotated[str, typer.Option("--out", help="Output folder or s3:// prefix (as the cluster sees it).")],
    address: Address = None,
    schedule_slot: Annotated[str | None, typer.Option(
        help="ISO hour of a scheduled run (2026-11-23T02, UTC): a deterministic job id, so a re-fired "
             "schedule returns the job already submitted instead of starting a duplicate.")] = None,
    working_dir: Annotated[str | None, typer.Option(
        help="Upload this source tree as the job's working_dir (default: ddnm-batch is installed in the "
             "cluster image, only the entrypoint travels).")] = None,
    pip: Annotated[list[str] | None, typer.Option(
        help="pip requirement for the job's runtime env (repeatable).")] = None,
    entrypoint_num_cpus: Annotated[float, typer.Option(help="CPUs reserved for the job's driver.")] = 0.0,
    check: Annotated[bool, typer.Option(help="Read and validate the manifest here before submitting.")] = True,
    op: Annotated[str | None, typer.Option(help="Default operator for rows without an 'op' value.")] = None,
    seed: Annotated[int, typer.Option(help="Job seed; each row's seed derives from it and the row id.")] = 0,
    batch_size: Annotated[int, typer.Option(help="Images per model call.")] = 4,
    num_actors: Annotated[int, typer.Option(help="Restore actors (one GPU each on CUDA).")] = 1,
    device: Annotated[str, typer.Option(help="auto (CUDA when the cluster has GPUs), cpu or cuda.")] = "auto",
    storage_options: Annotated[str, typer.Option(
        help='fsspec options as JSON, no credentials: {"endpoint_url": "..."}.')] = "{}",
    max_pixels: Annotated[int, typer.Option(help="Larger images become error rows (bombs).")] = DEFAULT_MAX_PIXELS,
    preview: Annotated[int, typer.Option(help="Write OUT/preview.png with the first N restored rows.")] = 0,
    max_worker_crashes: Annotated[int, typer.Option(
        help="A row whose restore worker died this many times becomes a WorkerCrashed error row.")] = 3,
    output_format: Annotated[str, typer.Option(
        help="Restored images as png, or tiff (lossless, 16 bits where the scan had 16, same metadata).")] = "png",
    negative: Annotated[bool, typer.Option(
        "--negative", help="Scans are of negatives (glass plates, film): restore their positives. "
                           "A row's 'negative' yes/no wins.")] = False,
    restore: RestoreSettings | None = None,
) -> None:
    """Submit a restoration run as a Ray job; print its id (stdout) and dashboard URL.

    Exits 0 when submitted or when the same scheduled run was already submitted, 2 when the
    manifest or options are invalid, 3 when the cluster cannot be reached or refuses the token.
    """
    from ..cluster import dashboard_url, open_client
    from ..manifest import read_manifest
    from ..submit import SubmitRequest
    from ..submit import submit as submit_job

    console = Console(stderr=True)
    try:
        job = JobSettings(manifest_uri=manifest, out_uri=out, op=op, restore=restore,
                          seed=seed, batch_size=batch_size, num_actors=num_actors, device=device,
                          max_pixels=max_pixels, storage_options=parse_storage_options(storage_options),
                          preview=preview, max_worker_crashes=max_worker_crashes,
                          output_format=output_format_named(output_format), negative=negative)  # fmt: skip
        request = SubmitRequest(job=job, schedule_slot=schedule_slot, working_dir=working_dir,
                                pip=tuple(pip or ()), entrypoint_num_cpus=entrypoint_num_cpus)  # fmt: skip
        if check:
            read_manifest(manifest, op, job.storage_options, negative)
    except (ManifestError, ValueError) as exc:
        raise fail(console, str(exc), code=2) from exc
    try:
        client = open_client(address)
        submitted = submit_job(client, request)
    except cluster_errors() as exc:
        raise fail(console, str(exc)) from exc
    if submitted.created:
        console.print(f"submitted job [bold]{submitted.job_id}[/bold]", highlight=False)
    else:
        console.print(f"already submitted as [bold]{submitted.job_id}[/bold] (status {submitted.status}); "
                      "not starting a duplicate", highlight=False, soft_wrap=True)  # fmt: skip
    console.print(f"dashboard: {dashboard_url(client, submitted.job_id)}", highlight=False, soft_wrap=True)
    console.print(f"follow:    ddnm-batch logs {submitted.job_id} --follow", highlight=False, soft_wrap=True)
    typer.echo(submitted.job_id)
