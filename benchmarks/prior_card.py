"""The model card's two training figures: the loss curve and a grid of unconditional samples of a shipped prior.

    python -m benchmarks.prior_card                       # both, from the training log and the shipped weights
    python -m benchmarks.prior_card --log docs/data/ddnm-prior-64-loss.csv --skip-samples
    python -m benchmarks.prior_card --prior ddnm-colour-32 --log /work/runs/ddnm-colour-32/train_prior.csv

The training log (written by jobs/train_prior.py to its state folder outside the checkout, default
``TrainSettings().log_path``; pass ``--log`` for another) is merged into
docs/data/<prior>-loss.csv so the curve can be redrawn from a fresh clone: a session's runs/ holds only the
steps trained on that machine, so the kept history is extended, never replaced. A row with no training loss (NaN)
is the validation loss of a run's starting weights: it starts a new validation series (a fine-tune validates on its
own hold-out and crop mix, not comparable with the earlier series). Unconditional samples are DDNM with
nothing measured (an inpainting mask of zeros: A⁺y = 0 and the range-space correction is empty), so they come from
the same sampler the restorations use.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
from pathlib import Path

import torch

from benchmarks.lineplot import line_plot
from jobs.train_settings import TrainSettings

ROOT = Path(__file__).resolve().parents[1]
RUN_LOG = TrainSettings().log_path
DEFAULT_PRIOR = "ddnm-prior-64"


def figure_paths(prior: str) -> tuple[Path, Path, Path]:
    """(kept loss log, loss plot, sample grid) of a shipped prior; the bundled prior keeps its historical names."""
    kept = ROOT / "docs" / "data" / f"{prior}-loss.csv"
    if prior == DEFAULT_PRIOR:
        return kept, ROOT / "docs" / "img" / "prior_loss.png", ROOT / "docs" / "img" / "prior_samples.png"
    return kept, ROOT / "docs" / "img" / f"{prior}_loss.png", ROOT / "docs" / "img" / f"{prior}_samples.png"


def read_log(path: Path) -> list[dict]:
    """Rows of the training CSV; a resumed run appends, so a step may repeat: the last row of a step wins."""
    with open(path, newline="") as f:
        rows = {int(r["step"]): r for r in csv.DictReader(f)}
    return [rows[step] for step in sorted(rows)]


def merge_logs(kept: Path, new: Path) -> list[dict]:
    """The kept history up to where the newer log begins, then the newer log; written back to ``kept``.

    Kept rows past the new log's first step belong to another branch of training (a fine-tune that was not shipped,
    resumed from the same weights): interleaving the two would draw one curve out of two runs.
    """
    latest = read_log(new)
    begins = int(latest[0]["step"]) if latest else float("inf")
    rows = {int(r["step"]): r for r in (read_log(kept) if kept.exists() else []) if int(r["step"]) < begins}
    rows.update({int(r["step"]): r for r in latest})
    merged = [rows[step] for step in sorted(rows)]
    fields = list(dict.fromkeys(k for r in merged for k in r))
    kept.parent.mkdir(parents=True, exist_ok=True)
    with open(kept, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields, restval="")
        writer.writeheader()
        writer.writerows(merged)
    return merged


def loss_panels(rows: list[dict], window: int = 10, prior: str = DEFAULT_PRIOR) -> dict:
    """log10 of the training loss (mean over ``window`` logged points) and of the EMA validation loss."""
    train = [(int(r["step"]), float(r["loss"])) for r in rows if not math.isnan(float(r["loss"]))]
    smooth = []
    for i in range(window - 1, len(train), window):
        chunk = train[i - window + 1 : i + 1]
        smooth.append((chunk[-1][0], math.log10(sum(v for _, v in chunk) / len(chunk))))
    vals: list[list] = [[]]
    for r in rows:
        if math.isnan(float(r["loss"])) and vals[-1]:
            vals.append([])  # a run's starting point, validated on that run's own held-out crops
        if r.get("val_loss"):
            vals[-1].append((int(r["step"]), math.log10(float(r["val_loss"]))))
    series = {f"train (mean of {window} logs)": smooth}
    for i, val in enumerate(v for v in vals if v):
        series[f"validation {i + 1}, EMA weights" if len(vals) > 1 else "validation, EMA weights"] = val
    return {f"eps-MSE loss of {prior}": series}


@torch.inference_mode()
def unconditional_samples(count: int, steps: int, seed: int,
                          prior: str = DEFAULT_PRIOR) -> tuple[torch.Tensor, dict]:  # fmt: skip
    import ddnm
    from ddnm.operators import make

    model = ddnm.models.load(prior)
    size = model.info.image_size
    nothing = make("inpaint", (3, size, size), mask=torch.zeros(1, size, size))
    y = nothing.A(torch.zeros(count, 3, size, size))
    # samples=1: a prior whose config recommends a posterior mean of K (the colour prior) would draw means, not samples.
    # start_t = T − 1: from pure noise; the bundled prior recommends a warm start for inpainting, which with nothing
    # known begins at a flat grey fill and would draw grey squares, not what the prior generates.
    start_t = len(model.alphas_cumprod) - 1
    x, _ = ddnm.restore(y, nothing, model, steps=steps, eta=1.0, seed=seed, samples=1, start_t=start_t)
    return x, {"weights_sha256": model.info.weights_sha256, "steps": steps, "eta": 1.0, "seed": seed, "samples": 1,
               "start_t": start_t}


def sample_grid(x: torch.Tensor, path: Path, per_column: int, zoom: int = 2) -> None:
    from pipeline.eval_report import picture_grid

    columns = [(f"samples {j * per_column}-{(j + 1) * per_column - 1}", x[j * per_column : (j + 1) * per_column])
               for j in range(x.shape[0] // per_column)]  # fmt: skip
    picture_grid(columns, path, rows=per_column, zoom=zoom)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--prior", default=DEFAULT_PRIOR, help="a registered prior (ddnm.models.PRIORS)")
    p.add_argument("--log", type=Path, default=RUN_LOG)
    p.add_argument("--samples", type=int, default=24)
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--skip-samples", action="store_true")
    args = p.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    kept_log, loss_plot, grid_path = figure_paths(args.prior)
    rows = read_log(args.log) if args.log.resolve() == kept_log.resolve() else merge_logs(kept_log, args.log)
    line_plot(loss_panels(rows, prior=args.prior), loss_plot, xlabel="training step", ylabel="log10 loss")
    print(f"{loss_plot.relative_to(ROOT)}: {len(rows)} log rows up to step {rows[-1]['step']}")
    if not args.skip_samples:
        x, info = unconditional_samples(args.samples, args.steps, args.seed, args.prior)
        zoom = max(2, 128 // x.shape[-1])  # a 32-px prior's samples drawn as large as the 64-px prior's
        sample_grid(x, grid_path, per_column=4, zoom=zoom)
        print(f"{grid_path.relative_to(ROOT)}: {json.dumps(info)}")


if __name__ == "__main__":
    main()
