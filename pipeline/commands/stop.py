"""``ddnm-batch stop JOB_ID``: ask the Ray cluster to stop a submitted job."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from ._cluster_options import Address, JobId, cluster_errors, fail


def register(app: typer.Typer) -> None:
    app.command("stop")(stop)


def stop(
    job_id: JobId,
    address: Address = None,
    wait: Annotated[bool, typer.Option(help="Block until the job has stopped.")] = False,
) -> None:
    """Stop a job: Ray sends SIGTERM, then SIGKILL after a grace period.

    Finished rows stay recorded; a later run with the same --out resumes the rest.
    Exits 3 when the cluster or job is not found.
    """
    from ..cluster import job_info, open_client, wait_for

    console = Console(stderr=True)
    try:
        client = open_client(address)
        job_info(client, job_id)  # a clear error for an unknown id
        was_running = client.stop_job(job_id)
        final = wait_for(client, job_id) if wait else None
    except cluster_errors() as exc:
        raise fail(console, str(exc)) from exc
    state = "stop requested" if was_running else "was not running"
    console.print(f"job {job_id}: {state}" + (f"; now {final.status}" if final else ""), highlight=False)
