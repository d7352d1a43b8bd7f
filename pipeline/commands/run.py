"""``ddnm-batch run MANIFEST --op OP --out OUT``: restore every image a manifest lists."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from ..manifest import ManifestError
from ..progress_lines import ProgressLines
from ..compact import MANY_PARTS
from ..settings import RestoreSettings
from ._job_options import JobOptions, with_job_options
from ._settings_options import with_restore_options


def register(app: typer.Typer) -> None:
    app.command("run")(run)


@with_restore_options
@with_job_options(cluster=False)
def run(
    manifest: Annotated[str, typer.Argument(
        help="CSV, TSV or Parquet manifest with id and uri columns (path, file:// or s3:// URI).")],
    out: Annotated[str, typer.Option("--out", help="Output folder or s3:// prefix.")],
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Check everything and say what the run would restore and skip; restore nothing.")] = False,
    report: Annotated[bool, typer.Option(help="Build the review page OUT/report/index.html at the end.")] = True,
    job: JobOptions | None = None,
    restore: RestoreSettings | None = None,
) -> None:
    """Restore every image MANIFEST lists; write PNGs (or TIFFs) under OUT/images and Parquet under OUT/metadata.

    Exit status: 0 every row ok; 1 some rows failed (see the error_* columns), or Ray could not be started or
    joined (one line, nothing restored); 2 refused before any work (manifest, options, OUT not writable, model);
    3 OUT stopped taking writes mid-run (the finished rows' ledger is in a local fallback file, named in the
    message); 130/143 interrupted by SIGINT/SIGTERM (finished rows recorded; re-run to resume).
    """
    from ..interrupt import RunInterrupted
    from ..ray_log import ray_output_to_log
    from ..run import RayUnavailable, run_job
    from ..sink import EXIT_OUTPUT_LOST, OutputUnwritable

    console = Console(stderr=True)
    log = None
    try:
        settings = job.settings(manifest, out, restore)
        if dry_run:
            from ..plan import plan_job

            _print_plan(console, plan_job(settings), settings.out_uri)
            return
        with ray_output_to_log(settings.out_uri) as log:  # Ray's own output: the log, not the terminal
            with _progress_bar(Console(file=log.terminal)) as on_progress:
                summary = run_job(settings, on_progress=on_progress)
    except (ManifestError, ValueError) as exc:
        console.print(f"[red]error:[/red] {exc}", markup=True, highlight=False, soft_wrap=True)
        raise typer.Exit(2) from exc
    except OutputUnwritable as exc:
        console.print(f"[red]error:[/red] {exc.describe()}", markup=True, highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_OUTPUT_LOST) from None
    except RunInterrupted as exc:
        console.print(f"{exc}: stopped; {exc.recorded} finished row(s) recorded in {exc.out_uri}/metadata; "
                      "run the same command again to resume", highlight=False, soft_wrap=True)  # fmt: skip
        raise typer.Exit(exc.exit_code) from None
    except RayUnavailable as exc:
        console.print(f"[red]error:[/red] {exc}; nothing was restored (Ray's output: {log.path})", markup=True,
                      highlight=False, soft_wrap=True)  # fmt: skip
        raise typer.Exit(1) from None
    except Exception as exc:  # noqa: BLE001 - one line here, the traceback in the log
        if log is None:
            raise
        _log_traceback(log.path, exc)
        first = (str(exc).strip().splitlines() or [""])[0]
        console.print(f"[red]error:[/red] the run failed: {type(exc).__name__}: {first} (Ray's output and the "
                      f"traceback: {log.path})", markup=True, highlight=False, soft_wrap=True)  # fmt: skip
        raise typer.Exit(1) from exc
    _print_summary(console, summary, log.path)
    if report:
        from .report import build_after_run

        build_after_run(console, settings.out_uri, settings.storage_options)
    raise typer.Exit(1 if summary.errors else 0)


class _progress_bar:
    """Rich bar: rows done/total, images per second, errors, ETA. Yields the job's callback."""

    def __init__(self, console: Console):
        self.bar = Progress(
            TextColumn("restoring"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]:.2f} img/s"),
            TextColumn("[red]{task.fields[errors]} errors"),
            TextColumn("{task.fields[skipped]} skipped"),
            TimeRemainingColumn(),
            console=console,
        )
        self.task = None
        self.lines = None if console.is_terminal else ProgressLines(console, "restoring")

    def __enter__(self):
        if self.lines is None:
            self.bar.start()
        return self.update

    def __exit__(self, *exc_info) -> None:
        if self.lines is None:  # a log gets lines only, not also the bar's last frame
            self.bar.stop()

    def update(self, progress) -> None:
        rate = progress.done / progress.elapsed_s if progress.elapsed_s > 0 else 0.0
        fields = {"rate": rate, "errors": progress.errors, "skipped": progress.skipped}
        if self.task is None:
            self.task = self.bar.add_task("restore", total=progress.to_do, **fields)
        self.bar.update(self.task, completed=progress.done, total=progress.to_do, **fields)
        if self.lines is not None:
            self.lines.update(progress.done, progress.to_do, f"{progress.done}/{progress.to_do} images, "
                              f"{rate:.2f} img/s, {progress.errors} errors, {progress.skipped} skipped")


def _log_traceback(path: str, exc: BaseException) -> None:
    import traceback

    with open(path, "a", encoding="utf-8") as log:
        log.write("".join(traceback.format_exception(exc)))


def _print_plan(console: Console, plan, out_uri: str) -> None:
    """``--dry-run``: the rows by state, and what is to be restored by operator (pipeline.plan)."""
    states = plan.states
    table = Table(title=f"dry run: {plan.rows} manifest rows into {out_uri} (model {plan.model})", show_header=False)
    table.add_row("to restore: new", str(states["new"]))
    table.add_row("to restore: settings changed", str(states["changed"]))
    table.add_row("finished (skipped unless the scan changed)", str(states["finished"]))
    for op, count in sorted(plan.ops.items()):
        table.add_row(f"  {op}", str(count))
    if plan.negatives:  # a wrong --negative would restore a box of prints as negatives: say so before the run
        table.add_row("  of them negatives (restored as positives)", str(plan.negatives))
    console.print(table)


def _print_summary(console: Console, summary, log_path: str) -> None:
    table = Table(title=f"run {summary.run_id}", show_header=False)
    rows = [
        ("manifest rows", summary.total),
        ("restored", summary.ok),
        ("errors", summary.errors),
        ("skipped (already done)", summary.skipped),
        ("seconds", f"{summary.elapsed_s:.1f}"),
    ]
    for label, value in rows:
        table.add_row(label, str(value))
    for error_type, count in sorted(summary.errors_by_type.items()):
        table.add_row(f"  {error_type}", str(count))
    if summary.preview_uri:
        table.add_row("preview", summary.preview_uri)
    table.add_row("Ray's log", log_path)
    console.print(table)
    if summary.ledger_parts >= MANY_PARTS:  # every later resume check reads each of them
        console.print(f"the ledger is {summary.ledger_parts} part files: `ddnm-batch compact {summary.out_uri}` "
                      "merges them into one (safe while a job writes)", highlight=False, soft_wrap=True)
