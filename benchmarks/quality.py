"""Restoration quality: the bundled prior and FFDNet against classical baselines, on Set5 and Kodak24 centre crops.

    python -m benchmarks.quality                                   # both sets, five tasks, 20 steps, ~15 min budget
    python -m benchmarks.quality --datasets Set5 --ops sr_avgpool --steps 100 --update-docs
    python -m benchmarks.quality --samples 8     # also the bundled prior's posterior mean of 8 samples
    python -m benchmarks.quality --models bundled --steps 100 --tag steps100 --update-docs   # a second table

The images are read from /work/shared/eval/classic (never committed). Each task degrades the 64×64 centre crops
once; every method restores the same y (``ddnm.evaluate``). Writes docs/eval/quality.md (full tables),
docs/img/eval_<op>.png (before / A⁺y / classical / each prior / ground truth), appends one line per (dataset,
task, method) to benchmarks/results.jsonl, and with --update-docs rewrites the marked sections of
docs/model_card.md and docs/models.md. ``--tag T`` keeps a second configuration beside the first: it writes
docs/eval/quality-T.md, docs/img/eval_<op>-T.png and the sections marked ``quality:bundled-T`` /
``quality:ffdnet-T``. Tasks left when --budget-s runs out are skipped and listed.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from benchmarks.common import append_result, machine, print_table
from ddnm.evaluate import EvalResult, baseline_methods, ddnm_method, evaluate, summarize, task_for, task_params
from ddnm.restoration import effective_eta
from pipeline import eval_report

ROOT = Path(__file__).resolve().parents[1]
EVAL_ROOT = Path("/work/shared/eval/classic")
OPS = ("sr_avgpool", "inpaint", "colorize", "deblur_gaussian", "denoise")
PRIOR_LABELS = {"bundled": "bundled prior", "ffdnet": "FFDNet"}
CLASSICAL = ("bicubic", "harmonic", "biharmonic")
FULL_TABLES = ROOT / "docs" / "eval" / "quality.md"
DOC_SECTIONS = {ROOT / "docs" / "model_card.md": "quality:bundled", ROOT / "docs" / "models.md": "quality:ffdnet"}


def load_priors(names: list[str], eta: float | None = None) -> tuple[dict, dict]:
    """Priors by label, and their provenance. The bundled weights are re-exported while training runs, so the
    JSON's sha256 must match the bytes loaded (else the file changed in between: load again)."""
    import ddnm.models
    from ddnm.models.registry import DEFAULT_PRIOR, WEIGHTS_DIR

    priors, provenance = {}, {}
    for name in names:
        for _ in range(5):
            model = ddnm.models.load(None if name == "bundled" else name)
            info = {"name": model.info.name, "weights_sha256": model.info.weights_sha256,
                    "eta": effective_eta(model, eta)}
            if name != "bundled":
                break
            config = json.loads((WEIGHTS_DIR / f"{DEFAULT_PRIOR}.json").read_text())
            info["trained_steps"] = config.get("trained_steps")
            if config.get("sha256") == model.info.weights_sha256:
                break
            time.sleep(5)
        else:
            raise RuntimeError("the bundled weights kept changing while being loaded; try again")
        priors[PRIOR_LABELS.get(name, name)], provenance[PRIOR_LABELS.get(name, name)] = model, info
    return priors, provenance


def run_task(x, names, op_name, priors, args) -> tuple[EvalResult, list[str]]:
    """Baselines and DDNM with every prior that supports the task; the labels of priors that do not."""
    task = task_for(op_name, scale=4)
    methods, unsupported = dict(baseline_methods(task)), []
    for label, model in priors.items():
        try:
            methods[label] = ddnm_method(model, task, steps=args.steps, eta=args.eta, start_t=args.start_t)
        except ValueError:
            unsupported.append(label)
            continue
        if args.samples > 1 and label == PRIOR_LABELS["bundled"]:
            methods[mean_label(label, args.samples)] = ddnm_method(model, task, args.steps, args.eta, args.samples,
                                                                   args.start_t)
    return evaluate(x, task, methods, names, batch_size=args.batch_size, seed=0), unsupported


def started_at(priors: dict, task, args) -> dict:
    """Where each prior's sampling started for this task (None: from noise), resolved as ``ddnm.restore`` resolves it."""
    from ddnm.settings import RestoreSettings, SamplerSettings

    settings = RestoreSettings(sampler=SamplerSettings(steps=args.steps, eta=args.eta, start_t=args.start_t))
    shape = (3, args.crop, args.crop)
    return {label: settings.for_model(model, task.operator(shape)).sampler.start_t for label, model in priors.items()}


def mean_label(label: str, samples: int) -> str:
    return f"{label}, mean of {samples}"


def method_labels(provenance: dict, samples: int) -> list[str]:
    """The DDNM columns of the tables: each prior, then the bundled prior's posterior mean when asked for."""
    labels = list(provenance)
    bundled = PRIOR_LABELS["bundled"]
    if samples > 1 and bundled in labels:
        labels.insert(labels.index(bundled) + 1, mean_label(bundled, samples))
    return labels


def best_classical(summary: dict[str, dict]) -> str | None:
    candidates = [name for name in CLASSICAL if name in summary]
    return max(candidates, key=lambda name: summary[name]["psnr"]) if candidates else None


def compact_table(results: list[tuple[EvalResult, list[str]]], priors: list[str]) -> str:
    """One row per task: PSNR (dB) / SSIM of A⁺y, the best classical method, and DDNM with each prior."""
    headers = ["task", "A⁺y", "classical"] + [f"DDNM, {label}" for label in priors]
    lines = ["| " + " | ".join(headers) + " |", "|" + " --- |" * len(headers)]
    for result, unsupported in results:
        summary = {row["method"]: row for row in summarize(result.rows)}
        classical = best_classical(summary)

        def cell(name: str, suffix: str = "") -> str:
            if name in unsupported:
                return "not supported"
            return f"{summary[name]['psnr']:.2f} / {summary[name]['ssim']:.3f}{suffix}" if name in summary else "–"

        cells = [result.task.label, cell("A⁺y"), cell(classical, f" ({classical})") if classical else "–"]
        lines.append("| " + " | ".join(cells + [cell(label) for label in priors]) + " |")
    return "\n".join(lines) + "\n"


def full_tables(per_dataset: dict, header: str) -> str:
    parts = [header]
    for dataset, results in per_dataset.items():
        for result, unsupported in results:
            parts.append(f"### {dataset}: {result.task.label}\n")
            parts.append(eval_report.markdown_table(summarize(result.rows)))
            if unsupported:
                parts.append(f"\nNot supported (non-generative prior): {', '.join(unsupported)}.\n")
            parts.append("")
    return "\n".join(parts)


def suffix(tag: str | None) -> str:
    return f"-{tag}" if tag else ""


def write_picture(result: EvalResult, x: torch.Tensor, priors: list[str], tag: str | None) -> Path:
    summary = {row["method"]: row for row in summarize(result.rows)}
    columns = [("before", eval_report.measurement_picture(result.task.op, result.op, result.y)),
               ("A⁺y", result.outputs["A⁺y"])]  # fmt: skip
    classical = best_classical(summary)
    if classical:
        columns.append((classical, result.outputs[classical]))
    columns += [(label, result.outputs[label]) for label in priors if label in result.outputs]
    path = ROOT / "docs" / "img" / f"eval_{result.task.op}{suffix(tag)}.png"
    eval_report.picture_grid(columns + [("ground truth", x)], path, rows=4)
    return path


def replace_section(path: Path, key: str, text: str) -> bool:
    """Replace what lies between ``<!-- key:begin -->`` and ``<!-- key:end -->``; False if the markers are absent."""
    content = path.read_text()
    begin, end = f"<!-- {key}:begin -->", f"<!-- {key}:end -->"
    if begin not in content or end not in content:
        return False
    head, rest = content.split(begin, 1)
    path.write_text(head + begin + "\n" + text + rest[rest.index(end):])
    return True


HOLDOUT = "holdout"
CORPUS = ROOT.parent / "shared" / "corpus"


def load_dataset(dataset: str, args) -> tuple[list[str], torch.Tensor]:
    """Clean crops of a dataset: centre crops of ``args.root / dataset``, or for ``holdout`` ``args.holdout_crops``
    multi-scale crops (the training distribution, fixed seed) of the corpus images the prior never trained on."""
    if dataset != HOLDOUT:
        return eval_report.load_crops(args.root / dataset, args.crop, args.limit)
    x = holdout_crops(args.corpus, args.holdout_crops, args.crop)
    return [f"holdout{i}" for i in range(x.shape[0])], x


def holdout_crops(corpus: Path, count: int = 20, window: int = 64) -> torch.Tensor:
    """``count`` multi-scale crops (the training crop mix, seed 0, no flips) of the corpus photos held out from
    training (``jobs/holdout.txt``): the model card's hold-out rows (here and ``benchmarks.holdout_tasks``)."""
    from jobs.data import CropSampler, CropSettings
    from jobs.photos import list_images, split_holdout

    _, held = split_holdout(list_images(corpus))
    return CropSampler(held, CropSettings(window=window, hflip=False), seed=0).sample(count)


def run(args) -> None:
    torch.set_num_threads(args.threads)  # the CPU is shared; one thread per process wastes least to contention
    priors, provenance = load_priors(args.models, args.eta)
    started, per_dataset, skipped, crops = time.perf_counter(), {}, [], {}
    for dataset in args.datasets:
        names, x = load_dataset(dataset, args)
        crops[dataset] = x
        for op_name in args.ops:
            if time.perf_counter() - started > args.budget_s:
                skipped.append(f"{dataset} {op_name}")
                continue
            result, unsupported = run_task(x, names, op_name, priors, args)
            per_dataset.setdefault(dataset, []).append((result, unsupported))
            summary = summarize(result.rows)
            print_table(f"{dataset}: {result.task.label}", summary)
            start_t_used = started_at(priors, result.task, args)
            for row in summary:
                append_result("quality", {"dataset": dataset, "crop": args.crop, "steps": args.steps, "eta": args.eta,
                                          "start_t": args.start_t, "start_t_used": start_t_used,
                                          "samples": args.samples,
                                          "threads": args.threads, "priors": provenance,
                                          "task_params": task_params(result.task), **row})  # fmt: skip
    elapsed = time.perf_counter() - started
    write_reports(per_dataset, crops, provenance, skipped, elapsed, args)


def command_line() -> str:
    return " ".join(["python -m benchmarks.quality", *sys.argv[1:]])


def write_reports(per_dataset, crops, provenance, skipped, elapsed, args) -> None:
    labels = method_labels(provenance, args.samples)
    info = machine()
    bundled = provenance.get("bundled prior", {})
    header = (
        f"# Restoration quality ({args.crop}×{args.crop} crops)\n\n"
        f"Generated by `{command_line()}` on {info['date']}: {info['cpu_count']}-core CPU "
        f"({info['host_cpu']}, shared with other jobs), torch {info['torch']}, {args.threads} thread(s); "
        f"{args.steps} DDIM steps, η = " + ", ".join(f"{info['eta']:g} ({label})" for label, info in provenance.items())
        + (", started where each prior's config recommends for the task (warm starts from the classical estimate for "
           "SR, inpainting, deblurring and denoising with the bundled prior)" if args.start_t is None
           else f", started at t = {args.start_t}" + (" (from noise)" if args.start_t >= 999 else ""))
        + ", no time-travel"
        + (f"; *mean of {args.samples}* = the average of {args.samples} posterior samples (ddnm.posterior)"
           if args.samples > 1 else "")
        + f"; total {elapsed / 60:.1f} min. "
        f"Bundled prior: {bundled.get('trained_steps', '?')} training steps, sha256 "
        f"`{bundled.get('weights_sha256', '?')[:12]}…`. PSNR / SSIM against the clean crop; "
        f"‖Ax̂−y‖/‖y‖ is the worst image's consistency residual. Crops: the centre of each image of a folder "
        f"dataset"
        + (f"; *{HOLDOUT}*: {args.holdout_crops} random multi-scale crops (training's distribution, seed 0) of the "
           f"corpus images held out from training" if HOLDOUT in per_dataset else "") + ".\n"
        + (f"\nSkipped (time budget): {', '.join(skipped)}.\n" if skipped else "")
    )
    tables = FULL_TABLES.with_name(f"{FULL_TABLES.stem}{suffix(args.tag)}.md")
    tables.parent.mkdir(parents=True, exist_ok=True)
    tables.write_text(full_tables(per_dataset, header))
    compact = [f"**{dataset}** ({crops[dataset].shape[0]} images), PSNR (dB) / SSIM:\n\n"
               + compact_table(results, labels) for dataset, results in per_dataset.items()]  # fmt: skip
    picture_set = args.pictures_from if args.pictures_from in per_dataset else next(iter(per_dataset))
    for result, _ in per_dataset[picture_set]:
        print(f"picture: {write_picture(result, crops[picture_set], labels, args.tag).relative_to(ROOT)}")
    if args.update_docs:
        section = header.split("\n", 2)[2] + "\n" + "\n".join(compact)
        for path, key in DOC_SECTIONS.items():
            key += suffix(args.tag)
            print(f"{path.relative_to(ROOT)} [{key}]: "
                  f"{'updated' if replace_section(path, key, section) else 'no markers'}")
    print(f"tables: {tables.relative_to(ROOT)}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root", type=Path, default=EVAL_ROOT)
    p.add_argument("--datasets", nargs="+", default=["Set5", "Kodak24"],
                   help=f"folders under --root, or {HOLDOUT!r}: crops of the corpus images held out from training")
    p.add_argument("--corpus", type=Path, default=CORPUS, help="the training corpus (for the hold-out split)")
    p.add_argument("--holdout-crops", type=int, default=20, help="crops drawn from the held-out images")
    p.add_argument("--ops", nargs="+", default=list(OPS), choices=OPS)
    p.add_argument("--models", nargs="+", default=["bundled", "ffdnet"])
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--start-t", type=int, default=None,
                   help="start timestep; default: each prior's per-task recommendation (warm starts), 999: from noise")
    p.add_argument("--eta", type=float, default=None, help="default: each prior's recommended eta (else 0.85)")
    p.add_argument("--crop", type=int, default=64)
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--samples", type=int, default=1, help="also score the bundled prior's mean of K samples")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--budget-s", type=float, default=900.0, help="start no new task after this many seconds")
    p.add_argument("--pictures-from", default="Kodak24")
    p.add_argument("--update-docs", action="store_true")
    p.add_argument("--tag", default=None, help="name of a second configuration's tables, pictures and doc sections")
    run(p.parse_args())


if __name__ == "__main__":
    main()
