"""``ddnm-batch status JOB_ID [--wait]``: a submitted job's status on the Ray cluster."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from ._cluster_options import Address, JobId, cluster_errors, fail


def register(app: typer.Typer) -> None:
    app.command("status")(status)


def status(
    job_id: JobId,
    address: Address = None,
    wait: Annotated[bool, typer.Option(help="Block until the job ends; exit 0 only if it SUCCEEDED.")] = False,
    timeout: Annotated[float | None, typer.Option(help="With --wait: give up after this many seconds.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the job's details as JSON on stdout.")] = False,
) -> None:
    """Show a job's status, message, times and dashboard URL.

    Exits 0 (1 with --wait when the job FAILED or was STOPPED), 3 when the cluster or job is not found.
    """
    from ..cluster import dashboard_url, job_info, open_client, wait_for

    console = Console(stderr=True)
    try:
        client = open_client(address)
        info = wait_for(client, job_id, timeout_s=timeout) if wait else job_info(client, job_id)
    except cluster_errors() as exc:
        raise fail(console, str(exc)) from exc
    if as_json:
        typer.echo(json.dumps(_details(info), sort_keys=True, default=str))
    else:
        _print_table(Console(), info, dashboard_url(client, job_id))
    raise typer.Exit(0 if (not wait or str(info.status) == "SUCCEEDED") else 1)


def _details(info) -> dict:
    fields = ("submission_id", "job_id", "status", "message", "error_type", "start_time", "end_time",
              "entrypoint", "metadata", "driver_exit_code")  # fmt: skip
    return {name: getattr(info, name, None) for name in fields} | {"status": str(info.status)}


def _print_table(console: Console, info, url: str) -> None:
    table = Table(title=f"job {info.submission_id or info.job_id}", show_header=False)
    rows = [("status", str(info.status)), ("message", info.message or ""),
            ("started", _time(info.start_time)), ("ended", _time(info.end_time)), ("dashboard", url)]  # fmt: skip
    for label, value in rows:
        table.add_row(label, value)
    for key, value in sorted((info.metadata or {}).items()):
        table.add_row(f"  {key}", value)
    console.print(table)


def _time(milliseconds: int | None) -> str:
    if not milliseconds:
        return ""
    return datetime.fromtimestamp(milliseconds / 1000, timezone.utc).isoformat(timespec="seconds")
