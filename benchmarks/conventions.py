"""Sampler conventions side by side: the papers' equations ("paper") against the authors' code ("reference"),
each at a few η, on crops of the corpus images held out from training (docs/conventions.md).

    python -m benchmarks.conventions                       # 8 crops, 20 steps, SR ×4, inpainting, SR ×4 σ_y = 0.05
    python -m benchmarks.conventions --crops 20 --steps 100 --etas 0.5 0.85 1.0
    python -m benchmarks.conventions --crops 3 --tasks sr4 inpaint --pictures docs/img   # pictures to look at

Every configuration restores the same y with the same per-image seeds (``ddnm.evaluate``). Prints one table
(PSNR / SSIM means, worst consistency residual) and appends one line per (task, convention, η) to
benchmarks/results.jsonl. The held-out crops are read from /work/shared/corpus (never committed).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from benchmarks.common import append_result, print_table
from ddnm.evaluate import evaluate, summarize, task_for
from ddnm.restoration import restore

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus"
TASKS = {"sr4": dict(op_name="sr_avgpool", scale=4), "inpaint": dict(op_name="inpaint"),
         "sr4_noisy": dict(op_name="sr_avgpool", scale=4, sigma_y=0.05)}  # fmt: skip


def held_out_crops(corpus: Path, count: int, size: int) -> tuple[list[str], torch.Tensor]:
    """``count`` multi-scale crops (training's distribution, seed 0) of the corpus images held out from training."""
    from jobs.data import CropSampler, CropSettings
    from jobs.photos import list_images, split_holdout

    _, held = split_holdout(list_images(corpus))
    x = CropSampler(held, CropSettings(window=size, hflip=False), seed=0).sample(count)
    return [f"holdout{i}" for i in range(x.shape[0])], x


def method(model, convention: str, eta: float, steps: int, sigma_y: float):
    # One sample from noise under both conventions: the bundled prior's per-task recommendation (a warm start, the
    # mean of 4) applies to the paper's convention only (the authors' code has none), which would compare unlike runs.
    from_noise = {"start_t": 999} if convention == "paper" else {}

    def run(y, op, seeds):
        x, _ = restore(y, op, model, steps=steps, eta=eta, sigma_y=sigma_y, seed=seeds, convention=convention,
                       samples=1, **from_noise)
        return x

    return run


DOC = ROOT / "docs" / "conventions.md"
MARK = "conventions:table"


def markdown(table: list[dict], caption: str) -> str:
    """One row per (task, convention, η), the best PSNR of each task in bold."""
    best = {}
    for row in table:
        best[row["task"]] = max(best.get(row["task"], float("-inf")), row["psnr"])
    lines = [caption, "", "| task | convention | η | PSNR (dB) | SSIM | worst ‖Ax̂ − y‖/‖y‖ |", "|---|---|---|---|---|---|"]
    for row in table:
        psnr = f"{row['psnr']:.2f}"
        psnr = f"**{psnr}**" if row["psnr"] == best[row["task"]] else psnr
        lines.append(f"| {row['task']} | {row['convention']} | {row['eta']:g} | {psnr} | {row['ssim']:.3f} | "
                     f"{row['consistency_max']:.1e} |")
    return "\n".join(lines)


def update_doc(text: str) -> None:
    doc = DOC.read_text()
    start, end = f"<!-- {MARK} -->", f"<!-- /{MARK} -->"
    head, rest = doc.split(start)
    DOC.write_text(head + start + "\n" + text + "\n" + end + rest.split(end)[1])


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--crops", type=int, default=8)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--etas", type=float, nargs="+", default=[0.5, 0.85, 1.0])
    p.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    p.add_argument("--corpus", type=Path, default=CORPUS)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--machine", default="2-core CPU (shared)")
    p.add_argument("--update-docs", action="store_true", help=f"write the table into {DOC.name}")
    p.add_argument("--pictures", type=Path, default=None,
                   help="write <dir>/conventions_<task>.png: y, every configuration and the truth, first 3 crops")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)

    import ddnm.models
    from ddnm.models.registry import DEFAULT_PRIOR, WEIGHTS_DIR

    model = ddnm.models.load()
    trained = json.loads((WEIGHTS_DIR / f"{DEFAULT_PRIOR}.json").read_text()).get("trained_steps")
    names, x = held_out_crops(args.corpus, args.crops, args.size)
    table = []
    for key in args.tasks:
        spec = dict(TASKS[key])
        task = task_for(spec.pop("op_name"), **spec)
        methods = {f"{conv} η={eta:g}": method(model, conv, eta, args.steps, task.sigma_y)
                   for conv in ("paper", "reference") for eta in args.etas}  # fmt: skip
        with torch.inference_mode():
            result = evaluate(x, task, methods, names, batch_size=args.crops, seed=0)
        if args.pictures is not None:
            from pipeline.eval_report import measurement_picture, picture_grid

            columns = [("y", measurement_picture(task.op, result.op, result.y)), *result.outputs.items(), ("truth", x)]
            # the bitmap font has no η
            picture_grid([(label.replace("reference", "ref").replace("η", "eta"), images) for label, images in columns],
                         args.pictures / f"conventions_{key}.png", rows=3)
        for row in summarize(result.rows):
            conv, eta = row["method"].split(" η=")
            line = {"task": row["task"], "convention": conv, "eta": float(eta), "psnr": row["psnr"],
                    "ssim": row["ssim"], "consistency_max": row["consistency_max"], "s_per_image": row["s_per_image"]}
            table.append(line)
            append_result("conventions", {**line, "machine": args.machine, "steps": args.steps, "crops": args.crops,
                                          "size": args.size, "prior": model.info.name, "prior_trained_steps": trained,
                                          "weights_sha256": model.info.weights_sha256})  # fmt: skip
    title = (f"Conventions on {args.crops} held-out {args.size}-px crops, {args.steps} steps, "
             f"{model.info.name} ({trained} training steps)")
    print_table(title, table)
    if args.update_docs:
        command = "python -m benchmarks.conventions " + " ".join(argv if argv is not None else sys.argv[1:])
        update_doc(markdown(table, f"{title}, {args.machine}; `{command.strip()}`:"))


if __name__ == "__main__":
    main()
