"""``ddnm-batch report OUT [--open]``: the archivist's review page of a run, written to OUT/report/."""

from __future__ import annotations

import webbrowser
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from .. import io
from ..settings import DEFAULT_MAX_PIXELS
from ._json_options import parse_storage_options


def register(app: typer.Typer) -> None:
    app.command("report")(report)


def report(
    out: Annotated[str, typer.Argument(help="The run's --out folder or s3:// prefix (it holds metadata/).")],
    open_page: Annotated[bool, typer.Option("--open", help="Open the page in a web browser (local runs).")] = False,
    storage_options: Annotated[str, typer.Option(help='fsspec options as JSON: {"endpoint_url": "..."}.')] = "{}",
    workers: Annotated[int | None, typer.Option(help="Threads making thumbnails (default: cores, at most 8).")] = None,
    max_pixels: Annotated[int, typer.Option(help="Larger images get no thumbnail (bombs).")] = DEFAULT_MAX_PIXELS,
) -> None:
    """Build OUT/report/index.html: summary, rows table, before/after, null-space maps, decisions.

    Prints the page's path on stdout. Exits 2 when OUT holds no run metadata.
    """
    from ..report import ReportSettings, build_report

    console = Console(stderr=True)
    options = parse_storage_options(storage_options)
    try:
        threads = {"workers": workers} if workers else {}  # else the settings' default
        settings = ReportSettings(io.resolve(out, str(Path.cwd())), options, max_pixels=max_pixels, **threads)
        result = build_report(settings)
    except ValueError as exc:
        console.print(f"[red]error:[/red] {exc}", markup=True, highlight=False)
        raise typer.Exit(2) from exc
    s = result.summary
    counts = f"{s.rows} rows ({s.ok} ok, {s.errors} errors), {result.thumbnails} thumbnails"
    console.print(f"report of {counts}", highlight=False)
    typer.echo(result.index_uri)
    if open_page:
        _open(console, result.index_uri)


def build_after_run(console: Console, out_uri: str, storage_options: dict) -> None:
    """``ddnm-batch run --report``: build the report and print where it is; a failure only warns."""
    from ..report import ReportSettings, build_report

    try:
        result = build_report(ReportSettings(io.resolve(out_uri, str(Path.cwd())), storage_options))
    except Exception as exc:  # noqa: BLE001 - the run itself succeeded; the report can be rebuilt
        retry = f"retry with `ddnm-batch report {out_uri}`"
        console.print(f"[yellow]report not written:[/yellow] {exc}; {retry}", highlight=False, soft_wrap=True)
        return
    console.print(f"review report: {result.index_uri}", highlight=False, soft_wrap=True)


def _open(console: Console, index_uri: str) -> None:
    if not io.is_local(index_uri):
        console.print("--open works for local reports only; serve the bucket's report/ folder to view it")
        return
    webbrowser.open(Path(io.normalize(index_uri)).as_uri())
