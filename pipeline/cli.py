"""The ``ddnm-batch`` command line: one Typer app, one module per command in ``pipeline/commands/``.

To add a command, write ``pipeline/commands/<name>.py`` with ``register(app)`` and list it below.
"""

from __future__ import annotations

import typer

from .commands import eval as eval_command
from .commands import report as report_command  # review page of a run (issue 10)
from .commands import restore as restore_command
from .commands import run as run_command
from .commands import logs, scan, status, stop, submit  # cluster operations (issue 7)

app = typer.Typer(
    name="ddnm-batch",
    help="Restore image archives with zero-shot diffusion restoration (DDNM / DDNM+), batched on Ray.",
    no_args_is_help=True,
    add_completion=False,
)


@app.callback()
def main() -> None:
    """Restore image archives with DDNM / DDNM+ (a callback keeps ``run`` a subcommand)."""


for command in (run_command, restore_command, submit, status, logs, stop, scan, eval_command, report_command):
    command.register(app)


def _register_train(app: typer.Typer) -> None:
    from jobs.train_cli import train  # the training job lives in jobs/ (issue 4)

    app.command("train")(train)


_register_train(app)


if __name__ == "__main__":
    app()
