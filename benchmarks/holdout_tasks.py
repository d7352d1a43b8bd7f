"""Issue 22's SR and inpainting targets: the bundled prior against bicubic and a harmonic fill on held-out crops.

    python -m benchmarks.holdout_tasks                                   # SR x4 (both kernels) and 25 % box inpainting
    python -m benchmarks.holdout_tasks --ops deblur_gaussian denoise     # the other warm-started tasks, against A⁺y
    python -m benchmarks.holdout_tasks --ops sr_avgpool --samples 1 2 4  # also fixed K, beside the prior's default
    python -m benchmarks.holdout_tasks --try steps=10 eta=0.5 start_t=150,steps=8   # other sampler settings too
    python -m benchmarks.holdout_tasks --pictures docs/img                # also the model card's pictures
    python -m benchmarks.holdout_tasks --weights /work/runs/prior64dc/ddnm-prior-64/export/ddnm-prior-64.safetensors

The crops are the 20 multi-scale 64-px crops (the training crop mix, seed 0, no flips) of the corpus photos the
prior never trained on (``jobs/holdout.txt``), as the model card's *Evaluation* hold-out rows. Each task degrades
them once (``ddnm.evaluate``); every method restores the same y. "default" is ``ddnm.restore`` with nothing set:
the prior's recommendation for the task (its config's ``sampling`` block, ``tasks`` entries included), which is
what the CLI and the pipeline run; for these tasks a warm start from the classical estimate. "from noise" is one
20-step sample from noise, the default before that.
"bicubic, consistent" is bicubic with its range space replaced by A⁺y: the part of DDNM's SR gain that needs no
prior. ``--count 40`` draws 40 crops instead (the first 20 are the same); ``--dataset Kodak24`` (or Set14, Set5)
measures the same on the 64-px centre crops of a public benchmark set instead. Prints a table and appends one line per
(task, method) to benchmarks/results.jsonl.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from benchmarks.common import append_result, print_table
from benchmarks.quality import CORPUS, EVAL_ROOT, holdout_crops
from pipeline import eval_report

# The classical answer each task is held to (deblurring and denoising: A⁺y itself, the thresholded inverse / y).
BASELINES = {"sr_avgpool": "bicubic", "sr_bicubic": "bicubic", "inpaint": "harmonic", "deblur_gaussian": "A⁺y",
             "denoise": "A⁺y"}
TARGETS = ("sr_avgpool", "sr_bicubic", "inpaint")  # issue 22's; the default run


def main(argv=None) -> None:
    import ddnm.models
    from ddnm.evaluate import baseline_methods, degrade, pinv_baseline, task_for
    from ddnm.metrics import psnr
    from ddnm.restoration import restore

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", nargs="+", default=list(TARGETS), choices=list(BASELINES))
    parser.add_argument("--samples", nargs="*", type=int, default=[], help="fixed K to measure beside the default")
    parser.add_argument("--try", dest="tries", nargs="*", type=knobs, default=[], metavar="KEY=VALUE[,KEY=VALUE]",
                        help="sampler settings to measure beside the default, e.g. steps=10 or start_t=150,steps=8")
    parser.add_argument("--weights", default=None, help="a prior's .safetensors (default: the bundled prior)")
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--count", type=int, default=20, help="hold-out crops (20: the model card's)")
    parser.add_argument("--dataset", default="holdout", help="holdout (the corpus photos never trained on), or a "
                        "folder of /work/shared/eval/classic (Kodak24, Set14, Set5): its images' 64-px centre crops")
    parser.add_argument("--root", type=Path, default=EVAL_ROOT, help="where --dataset's folders are")
    parser.add_argument("--pictures", type=Path, default=None,
                        help="folder for one picture per task: A⁺y | classical | from noise | default | truth")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    model = ddnm.models.load(args.weights)
    x = crops(args)
    seeds = list(range(x.shape[0]))
    rows = []
    for name in args.ops:
        task = task_for(name)
        op, y = degrade(task, x)
        classical = baseline_methods(task)[BASELINES[name]]
        methods = {"A⁺y": lambda: pinv_baseline(y, op, seeds), BASELINES[name]: lambda: classical(y, op, seeds)}
        if BASELINES[name] == "bicubic":  # the classical answer made consistent, as DDNM's is: what the prior adds
            methods["bicubic, consistent"] = lambda: back_projected(classical(y, op, seeds), y, op)
        noisy = {"sigma_y": task.sigma_y}  # DDNM+ for denoising
        methods["default"] = lambda: restore(y, op, model, seed=seeds, **noisy)
        # one 20-step sample from (nearly) pure noise: the default before the warm starts (session 9)
        methods["from noise"] = lambda: restore(y, op, model, seed=seeds, samples=1, steps=20, start_t=999, **noisy)
        for k in args.samples:
            methods[f"K={k}"] = lambda k=k: restore(y, op, model, seed=seeds, samples=k, **noisy)
        for tried in args.tries:  # flat ddnm.restore keywords on top of the prior's recommendation
            label = ",".join(f"{key}={value}" for key, value in tried.items())
            methods[label] = lambda tried=tried: restore(y, op, model, seed=seeds, **{**noisy, **tried})
        shown = {}
        for method, run in methods.items():
            started = time.perf_counter()
            out = run()
            seconds = (time.perf_counter() - started) / x.shape[0]
            x_hat = out.x if hasattr(out, "x") else out
            row = {"dataset": args.dataset, "task": name, "method": method, "samples": getattr(out, "samples", ""),
                   "psnr_db": float(psnr(x_hat, x).mean()), "s_per_image": seconds,
                   "crops": x.shape[0], "prior": model.info.name,
                   "weights_sha256": model.info.weights_sha256[:12]}  # fmt: skip
            rows.append(row)
            append_result("holdout_tasks", row)
            print(f"{name} {method}: {row['psnr_db']:.2f} dB", flush=True)
            shown[method] = x_hat
        if args.pictures is not None and args.dataset == "holdout":
            picked = list(PICTURE_ROWS)
            labels = list(dict.fromkeys(["A⁺y", BASELINES[name], "from noise", "default"]))
            columns = [(label, shown[label][picked]) for label in labels] + [("truth", x[picked])]
            eval_report.picture_grid(columns, args.pictures / f"holdout_{name}.jpg", rows=len(picked))
    what = "held-out 64-px crops" if args.dataset == "holdout" else f"{args.dataset} 64-px centre crops"
    print_table(f"{what}, PSNR (dB)", rows)


def crops(args) -> torch.Tensor:
    """The clean crops: the hold-out's multi-scale crops, or the centre crops of a benchmark set's images (all of
    them, gray ones as RGB; ``benchmarks.quality``'s crops, so the two benchmarks' rows compare)."""
    if args.dataset == "holdout":
        return holdout_crops(args.corpus, count=args.count)
    _, x = eval_report.load_crops(args.root / args.dataset, 64, None)
    return x


def knobs(text: str) -> dict:
    """``"start_t=150,steps=8"`` → ``{"start_t": 150, "steps": 8}`` (numbers where they parse as numbers)."""
    out = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise argparse.ArgumentTypeError(f"expected KEY=VALUE[,KEY=VALUE], got {text!r}")
        for kind in (int, float, str):
            try:
                out[key.strip()] = kind(value)
                break
            except ValueError:
                continue
    return out


PICTURE_ROWS = (0, 3, 5, 8, 11, 14)  # six varied crops of the 20: a statue, fur, a flower, a bee, a bird, a mountain



def back_projected(x: torch.Tensor, y: torch.Tensor, op) -> torch.Tensor:
    """x with its range-space part replaced by A⁺y (DDNM Eq. 13 applied once): consistent with y, the null space
    left as the classical method filled it."""
    return x + op.A_pinv(y - op.A(x))


if __name__ == "__main__":
    main()
