"""``ddnm-batch logs JOB_ID [--follow]``: a submitted job's log (its driver's stdout and stderr)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.console import Console

from ._cluster_options import Address, JobId, cluster_errors, fail


def register(app: typer.Typer) -> None:
    app.command("logs")(logs)


def logs(
    job_id: JobId,
    address: Address = None,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep streaming until the job ends.")] = False,
) -> None:
    """Print a job's log so far, or follow it live until the job ends.

    Exits 3 when the cluster or job is not found.
    """
    from ..cluster import follow_logs, job_info, open_client

    console = Console(stderr=True)

    def write(chunk: str) -> None:
        sys.stdout.write(chunk)
        sys.stdout.flush()

    try:
        client = open_client(address)
        if follow:
            follow_logs(client, job_id, write)
        else:
            job_info(client, job_id)  # a clear error for an unknown id
            write(client.get_job_logs(job_id))
    except cluster_errors() as exc:
        raise fail(console, str(exc)) from exc
