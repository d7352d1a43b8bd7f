"""``ddnm-batch compact OUT``: merge the ledger's part files into one that reads the same (``pipeline.compact``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from ._json_options import parse_storage_options


def register(app: typer.Typer) -> None:
    app.command("compact")(compact)


def compact(
    out: Annotated[str, typer.Argument(help="The run's --out folder or s3:// prefix (it holds metadata/).")],
    storage_options: Annotated[str, typer.Option(help='fsspec options as JSON: {"endpoint_url": "..."}.')] = "{}",
) -> None:
    """Merge OUT/metadata/part-*.parquet into one part, in order, and delete the merged ones.

    Every reader (resume, scan --ledger, report) sees the same rows before, during and after; a job may write to
    OUT meanwhile. Exits 2 when OUT holds no ledger or another compaction runs.
    """
    from .. import io
    from ..compact import CompactionConflict
    from ..compact import compact as merge

    console = Console(stderr=True)
    try:
        out_uri = io.resolve(out, str(Path.cwd()))
        done = merge(out_uri, parse_storage_options(storage_options))
        if done.parts == 0:
            raise ValueError(f"no ledger under {out_uri}/metadata; give the --out folder of a ddnm-batch run")
    except (ValueError, OSError, CompactionConflict) as exc:
        console.print(f"[red]error:[/red] {exc}", markup=True, highlight=False, soft_wrap=True)
        raise typer.Exit(2) from exc
    if done.uri is None:
        console.print(f"the ledger is one part already: {out_uri}/metadata", highlight=False, soft_wrap=True)
    else:
        kept = f"; {done.left} could not be deleted (readers skip them; compact again)" if done.left else ""
        console.print(f"merged {done.parts} parts ({done.rows} rows) into {done.uri}{kept}", highlight=False,
                      soft_wrap=True)  # fmt: skip
