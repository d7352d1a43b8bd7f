"""``ddnm-batch eval IMAGES_DIR --op OP``: restoration quality on a folder of clean images, no Ray.

Centre crops at the model window are degraded with the operator, restored with DDNM (DDNM+ when the task
adds noise) and with classical baselines, and scored (``ddnm.evaluate``). Writes a Rich table, a Markdown
table under ``--out``, a picture grid ``<pictures>/eval_<op>.png`` and appends JSON lines to ``--results``.
``--out`` has no default: nothing is written anywhere the user did not name (in particular not into a checkout's
``docs/`` or ``benchmarks/``, which only the repository's own benchmark scripts update).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table



def register(app: typer.Typer) -> None:
    app.command("eval")(evaluate)


def evaluate(
    images_dir: Annotated[str, typer.Argument(metavar="IMAGES_DIR", help="Folder of clean (ground-truth) images.")],
    op: Annotated[str, typer.Option(help="Operator (ddnm.evaluate.TASK_OPERATORS: those whose parameters eval sets; "
                                         "another is refused with the list).")],
    out: Annotated[str, typer.Option(help="Folder for the Markdown table, the picture grid and results.jsonl.")],
    scale: Annotated[int, typer.Option(help="SR factor.")] = 4,
    sigma_y: Annotated[float | None, typer.Option(help="Noise std added to y, [-1, 1] units (denoise: 0.1).")] = None,
    model: Annotated[str, typer.Option(help="'bundled', 'ffdnet' or a weights path.")] = "bundled",
    steps: Annotated[int | None, typer.Option(help="Sampling steps (default: the prior's recommendation for the task, "
                                                   "as ddnm-batch restore and run use).", show_default=False)] = None,
    eta: Annotated[float | None, typer.Option(
        help="DDIM eta in [0, 1] (default: the prior's recommendation, else 0.85).", show_default=False)] = None,
    samples: Annotated[int | None, typer.Option(help="Score the mean of K posterior samples (K times the time; "
                                                     "default: the prior's recommendation for the task).",
                                                show_default=False)] = None,
    crop: Annotated[int, typer.Option(help="Side of the centre crop (the model window).")] = 64,
    limit: Annotated[int | None, typer.Option(help="Use only the first N images (name order).")] = None,
    batch_size: Annotated[int, typer.Option(help="Images per sampler call.")] = 8,
    seed: Annotated[int, typer.Option(help="Seed of image 0 (image i gets seed + i).")] = 0,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    pictures: Annotated[str | None, typer.Option(help="Folder for eval_<op>.png (default: OUT).")] = None,
    results: Annotated[str | None, typer.Option(help="JSON lines file to append to (default: OUT/results.jsonl).")] = None,
) -> None:
    """Degrade centre crops of IMAGES_DIR, restore with DDNM and baselines, report PSNR / SSIM / consistency."""
    # Imported here so the CLI starts without torch (the engine, eval_report and restore_stage all load it).
    import ddnm.models

    from .. import eval_report
    from ..restore_stage import resolve_device
    from ddnm.evaluate import baseline_methods, ddnm_method, evaluate, summarize, task_for, task_params
    from ddnm.settings import RestoreSettings, SamplerSettings

    console = Console(stderr=True)
    try:
        task = task_for(op, scale=scale, **({} if sigma_y is None else {"sigma_y": sigma_y}))
        names, x = eval_report.load_crops(images_dir, crop, limit)
        target = resolve_device(device)
        prior = ddnm.models.load(None if model == "bundled" else model, device=target)
        _check_window(prior, crop)
        # the settings restore and run would use for this task, with what the user set: one resolution for all
        resolved = RestoreSettings(sampler=SamplerSettings(steps=steps, eta=eta), samples=samples).for_model(
            prior, task.operator((prior.in_channels, crop, crop)))
        steps, samples, start_t = resolved.sampler.steps, resolved.samples, resolved.sampler.start_t
        eta = resolved.sampler.eta
        mean = f", mean of {samples}" if samples > 1 else ""
        label = f"{'DDNM+' if task.sigma_y else 'DDNM'} ({prior.info.name}{mean})"
        methods = {**baseline_methods(task), label: ddnm_method(prior, task, steps=steps, eta=eta, samples=samples)}
    except (ValueError, FileNotFoundError, ImportError) as exc:
        console.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from exc
    warm = f" from t = {start_t}" if start_t is not None else ""
    console.print(f"{task.label}: {len(names)} crops {crop}×{crop} of {images_dir}, {steps} steps{warm}{mean}",
                  highlight=False)
    result = evaluate(x.to(target), task, methods, names, batch_size=batch_size, seed=seed)
    summary = summarize(result.rows)
    _print_table(task.label, summary)
    dataset = Path(images_dir).resolve().name
    settings = {"dataset": dataset, "model": prior.info.name, "weights_sha256": prior.info.weights_sha256,
                "steps": steps, "start_t": start_t, "eta": eta, "samples": samples, "crop": crop,
                "seed": seed, "task_params": task_params(task)}
    paths = (out, pictures or out, results or str(Path(out) / "results.jsonl"))
    written = _write_outputs(result, x, summary, settings, label, paths)
    console.print("wrote " + ", ".join(written), highlight=False)


def _check_window(prior, crop: int) -> None:
    window = prior.info.image_size
    if window is not None and crop > window:
        raise ValueError(
            f"--crop {crop} is larger than the model window {window}; use --crop {window} (tiling is not evaluated)"
        )


def _print_table(title: str, summary: list[dict]) -> None:
    from .. import eval_report

    headers, rows = eval_report.table_cells(summary)
    table = Table(title=title)
    for header in headers:
        table.add_column(header, justify="left" if header == "method" else "right")
    for cells in rows:
        table.add_row(*cells)
    Console(width=max(100, Console().width)).print(table)


def _write_outputs(result, x, summary, settings, label, paths) -> list[str]:
    from .. import eval_report

    """Markdown table, picture grid (before / A⁺y / DDNM / ground truth) and JSON lines; returns the paths."""
    out, pictures, results = paths
    op_name, dataset = result.task.op, settings["dataset"]
    table_path = Path(out) / f"{dataset}_{op_name}_{settings['model']}.md"
    table_path.parent.mkdir(parents=True, exist_ok=True)
    heading = (
        f"### {result.task.label}: {dataset}, {len(result.y)} centre crops {settings['crop']}×{settings['crop']}\n\n"
        f"Prior `{settings['model']}`, {settings['steps']} steps"
        f"{'' if settings['start_t'] is None else ' from t = ' + str(settings['start_t'])}, η = {settings['eta']}, "
        f"mean of {settings['samples']}; "
        f"machine: {eval_report.machine()['cpu_count']} CPU cores.\n\n"
    )
    table_path.write_text(heading + eval_report.markdown_table(summary))
    grid_path = Path(pictures) / f"eval_{op_name}.png"
    columns = [("before", eval_report.measurement_picture(op_name, result.op, result.y)),
               ("A⁺y", result.outputs["A⁺y"]), (label, result.outputs[label]), ("ground truth", x)]
    eval_report.picture_grid(columns, grid_path)
    record = {"benchmark": "quality", **eval_report.machine(), **settings}
    eval_report.append_jsonl(results, [{**record, **row} for row in summary])
    return [str(table_path), str(grid_path), results]

