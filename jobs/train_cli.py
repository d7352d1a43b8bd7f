"""``train`` command: options → TrainSettings → ``jobs.train_prior.main``, with a Rich progress bar.

Register in the main CLI as ``app.command("train")(jobs.train_cli.train)``; also runs alone as
``python -m jobs.train_cli ...``. The command imports the loop, never the other way round (``jobs.train_prior`` has no
``__main__``: it used to import this module back for one, a cycle, issue 17).
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from jobs.train_settings import StepLog, TrainSettings

_D = TrainSettings()


def _describe(record: StepLog) -> str:
    val = f" val {record.val_loss:.4f}" if record.val_loss is not None else ""
    return f"step {record.step} loss {record.loss:.4f}{val} lr {record.lr:.2e} {record.seconds_per_step:.2f}s/step"


def train(
    corpus: Path = typer.Option(_D.corpus, help="corpus folder (with images/); default $DDNM_CORPUS or the shared one"),
    state_dir: Path = typer.Option(_D.state_dir, help="resumable state, logs and the export go to STATE_DIR/NAME/ "
                                   "(default $DDNM_TRAIN_DIR or ~/.cache/ddnm-batch/train; never the checkout)"),
    name: str = typer.Option(_D.name, help="run and export name"),
    init_weights: str = typer.Option(str(_D.init_weights), help="fp16 export (.safetensors with its .json) to start "
                                     "from when STATE_DIR has no checkpoint; 'none' = random init"),
    thumbnail_fraction: float = typer.Option(_D.thumbnail_fraction, help="share of whole-photo thumbnail crops"),
    context_fraction: float = typer.Option(_D.context_fraction, help="share of large-context crops"),
    photo_weights: Path = typer.Option(None, help="file of 'photo-name weight' lines: those photos are drawn in "
                                       "proportion to their weight, the rest weigh 1 (e.g. jobs/people.txt)"),
    window: int = typer.Option(_D.window, help="training crop size in pixels"),
    num_channels: int = typer.Option(_D.num_channels, help="ADM base width (multiple of 32)"),
    num_res_blocks: int = typer.Option(_D.num_res_blocks),
    channel_mult: str = typer.Option(_D.channel_mult),
    attention_resolutions: str = typer.Option(_D.attention_resolutions),
    dc_head: bool = typer.Option(_D.dc_head, help="the ε channel-mean head (ddnm.models.adm; the bundled prior has "
                                 "one); weights without one may start a run with one; --no-dc-head: upstream-shaped"),
    train_only: str = typer.Option(None, help="train only the parameters whose names start with this prefix "
                                   "(e.g. dc_head), the rest frozen at the init weights"),
    batch_size: int = typer.Option(_D.batch_size),
    lr: float = typer.Option(_D.lr),
    ema_decay: float = typer.Option(_D.ema_decay),
    steps: int = typer.Option(_D.steps, help="stop at this total step count (resumed runs count earlier steps)"),
    checkpoint_every_s: float = typer.Option(_D.checkpoint_every_s, help="seconds between checkpoint + export"),
    validate_every: int = typer.Option(_D.validate_every),
    log_every: int = typer.Option(_D.log_every, help="steps between loss reports (CSV row, progress line)"),
    max_minutes: float = typer.Option(0.0, help="stop after this many minutes of training (e.g. a GPU lease); "
                                      "0 = no limit"),
    workers: int = typer.Option(_D.workers, help="crop-cutting worker processes; 0 = in the training process (CPU). "
                                "A GPU wants several"),
    checkpoint_dir: Path = typer.Option(None, help="default STATE_DIR/NAME/checkpoint"),
    export_path: Path = typer.Option(None, help="fp16 EMA export; default STATE_DIR/NAME/export/NAME.safetensors"),
    log_path: Path = typer.Option(None, help="CSV loss log (appended on resume); "
                                  "default STATE_DIR/NAME/train_prior.csv"),
    seed: int = typer.Option(_D.seed),
    device: str = typer.Option(_D.device, help="cpu or cuda"),
    num_threads: int = typer.Option(0, help="torch threads for this process; 0 leaves torch's default"),
    bf16: bool = typer.Option(_D.bf16, help="autocast the training step to bfloat16 where the device does it "
                              "natively (CUDA; a CPU with AVX-512 BF16 or AMX); --no-bf16: fp32 throughout"),
    compile: bool = typer.Option(_D.compile, "--compile", help="torch.compile the network for the training step "
                                 "(a GPU: fewer, fused kernels; the first steps compile)"),
) -> None:
    """Train (or resume) the bundled diffusion prior; checkpoints and the fp16 EMA export are written as it goes."""
    try:
        settings = TrainSettings(
            corpus=corpus, state_dir=state_dir, name=name,
            init_weights=None if init_weights.lower() == "none" else Path(init_weights),
            thumbnail_fraction=thumbnail_fraction, context_fraction=context_fraction, photo_weights=photo_weights,
            window=window,
            num_channels=num_channels, num_res_blocks=num_res_blocks, channel_mult=channel_mult,
            attention_resolutions=attention_resolutions, dc_head=dc_head, train_only=train_only,
            batch_size=batch_size, lr=lr,
            ema_decay=ema_decay,
            steps=steps, checkpoint_every_s=checkpoint_every_s, validate_every=validate_every, log_every=log_every,
            max_minutes=max_minutes or None, workers=workers,
            checkpoint_at=checkpoint_dir, export_at=export_path, log_at=log_path, seed=seed, device=device,
            num_threads=num_threads or None, bf16=bf16, compile=compile)
        # the photos the trainer will read, read now: a missing corpus or a typo in the weights file is one line here
        # rather than a traceback from the trainer
        from jobs.photos import training_photos

        training_photos(settings.corpus, settings.holdout_fraction, settings.photo_weights)
    except (ValueError, OSError) as error:  # bad option: one line, exit 2, no traceback
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
    from jobs.train_prior import main  # torch loads here, not when the CLI starts

    console = Console()
    if not console.is_terminal:  # detached run (nohup): one plain line per report instead of a live bar
        main(settings, on_log=lambda r: console.print(_describe(r), highlight=False))
        return
    columns = (TextColumn("train"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.description}"),
               TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("", total=settings.steps)
        main(settings, on_log=lambda r: progress.update(task, completed=r.step, description=_describe(r)))


def run() -> None:
    typer.run(train)


if __name__ == "__main__":
    run()
