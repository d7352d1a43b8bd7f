"""The ``ddnm-batch`` command line: one Typer app, one module per command in ``pipeline/commands/``.

To add a command, write ``pipeline/commands/<name>.py`` with ``register(app)`` and list it below.
"""

from __future__ import annotations

import os

# Before torch loads its OpenMP runtime: libgomp's threads spin ~300k times waiting for work by default, so with any
# other process on a core (a laptop's apps, Ray's read tasks, a training job) a 2-thread forward of the bundled prior
# ran 6x slower than one thread (312 vs 53 ms a 64-px window on the 2-core dev CPU); a short spin keeps the quiet
# machine's speed (31.9 vs 32.9 ms) and limits the loss under load (79.8 ms). OMP_WAIT_POLICY=PASSIVE was 30 % slower
# when quiet. A value the user set wins. Ray workers of a local cluster inherit it; cluster images set it themselves.
os.environ.setdefault("GOMP_SPINCOUNT", "10000")

import typer  # noqa: E402

from .commands import eval as eval_command  # noqa: E402
from .commands import report as report_command  # noqa: E402 - review page of a run (issue 10)
from .commands import restore as restore_command  # noqa: E402
from .commands import run as run_command  # noqa: E402
from .commands import compact, logs, scan, status, stop, submit  # noqa: E402 - cluster operations (issue 7)

app = typer.Typer(
    name="ddnm-batch",
    help="Restore image archives with zero-shot diffusion restoration (DDNM / DDNM+), batched on Ray.",
    no_args_is_help=True,
    add_completion=False,
)


@app.callback()
def main() -> None:
    """Restore image archives with DDNM / DDNM+ (a callback keeps ``run`` a subcommand)."""


for command in (run_command, restore_command, submit, status, logs, stop, scan, compact, eval_command, report_command):
    command.register(app)


def _register_train(app: typer.Typer) -> None:
    from jobs.train_cli import train  # the training job lives in jobs/ (issue 4)

    app.command("train")(train)


_register_train(app)


if __name__ == "__main__":
    app()
