"""``ddnm-batch scan PREFIX --out MANIFEST``: a manifest of the images under a prefix not yet restored."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from ._json_options import parse_storage_options


def register(app: typer.Typer) -> None:
    app.command("scan")(scan)


def scan(
    prefix: Annotated[str, typer.Argument(help="Folder or s3:// prefix to list (recursively).")],
    out: Annotated[str, typer.Option("--out", help="Manifest to write (.parquet or .csv, local or s3://).")],
    since: Annotated[str | None, typer.Option(help="Only files modified at or after this ISO date (UTC).")] = None,
    ledger: Annotated[str | None, typer.Option(
        help="An output folder of earlier runs: images its metadata shows restored are left out.")] = None,
    op: Annotated[str | None, typer.Option(help="Write this operator into an 'op' column.")] = None,
    extension: Annotated[list[str] | None, typer.Option(
        help="Image extension to keep (repeatable; default: common image types).")] = None,
    storage_options: Annotated[str, typer.Option(help='fsspec options as JSON: {"endpoint_url": "..."}.')] = "{}",
    pages: Annotated[bool, typer.Option(
        "--pages", help="List every image of a multi-page TIFF (recto and verso) as a row: opens each TIFF.")] = False,
) -> None:
    """Write a manifest of the images under PREFIX not yet restored (per --ledger) and not older than --since.

    Prints the number of new images on stdout (0: nothing to do); exits 2 on bad options.
    """
    from ..scan import IMAGE_EXTENSIONS, ScanSettings, check_manifest_name, manifest_table, parse_since, write_manifest
    from ..scan import scan as scan_prefix

    console = Console(stderr=True)
    try:
        check_manifest_name(out)
        options = parse_storage_options(storage_options)
        settings = ScanSettings(prefix_uri=prefix, since=parse_since(since) if since else None, ledger_uri=ledger,
                                extensions=tuple(extension or IMAGE_EXTENSIONS), storage_options=options,
                                pages=pages)  # fmt: skip
        found = scan_prefix(settings)
        write_manifest(manifest_table(found.new, op), out, options)
    except (ValueError, OSError) as exc:
        console.print(f"[red]error:[/red] {exc}", markup=True, highlight=False)
        raise typer.Exit(2) from exc
    console.print(f"{found.listed} images under {prefix}{found.later_pages_phrase}: {found.restored} already "
                  f"restored, {found.older} older than --since, {len(found.new)} new -> {out}", highlight=False,
                  soft_wrap=True)  # fmt: skip
    typer.echo(len(found.new))
