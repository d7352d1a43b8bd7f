"""``ddnm-batch submit MANIFEST --op OP --out OUT``: run a restoration as a job on a Ray cluster."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from ..manifest import ManifestError
from ..settings import RestoreSettings
from ._cluster_options import Address, cluster_errors, fail
from ._job_options import JobOptions, with_job_options
from ._settings_options import with_restore_options


def register(app: typer.Typer) -> None:
    app.command("submit")(submit)


@with_restore_options
@with_job_options(cluster=True)
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
    job: JobOptions | None = None,
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
        settings = job.settings(manifest, out, restore)
        request = SubmitRequest(job=settings, schedule_slot=schedule_slot, working_dir=working_dir,
                                pip=tuple(pip or ()), entrypoint_num_cpus=entrypoint_num_cpus)  # fmt: skip
        if check:
            read_manifest(manifest, settings.op, settings.storage_options, settings.negative)
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
