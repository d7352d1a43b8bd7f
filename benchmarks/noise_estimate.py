"""``--estimate-sigma-y``: does DDNM+ at the estimated noise level restore noisy scans as well as at the true one?

    python -m benchmarks.noise_estimate                       # Kodak24, 6 centre crops of 128 px
    python -m benchmarks.noise_estimate --limit 12 --crop 192
    python -m benchmarks.noise_estimate --pictures docs/img              # also a picture of each noisy task

Each task degrades the same crops (``ddnm.evaluate``; Gaussian noise of std σ in [-1, 1] units added to y, seed 0)
and restores them with the bundled prior at its defaults three ways: plain DDNM (σ_y = 0, what a user who does not
know the level gets), DDNM+ at the true σ (an oracle no archive has) and DDNM+ at each image's estimate
(``ddnm.noise.estimate_sigma_y``). The clean rows (σ = 0) show what the estimate costs a scan without noise.
Prints a table and appends one line per (task, σ, method) to benchmarks/results.jsonl.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from benchmarks.common import append_result, print_table
from benchmarks.quality import EVAL_ROOT

CASES = (("denoise", 0.02), ("denoise", 0.05), ("denoise", 0.1), ("sr_bicubic", 0.0), ("sr_bicubic", 0.02),
         ("sr_bicubic", 0.05), ("deblur_gaussian", 0.05))  # 0.02: mild grain, where texture weighs most


def main(argv=None) -> None:
    import ddnm
    import ddnm.models
    from ddnm.evaluate import degrade, task_for
    from ddnm.initial import bicubic_upsample
    from ddnm.metrics import psnr
    from ddnm.noise import estimate_sigma_y
    from pipeline.eval_report import load_crops, picture_grid

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=EVAL_ROOT / "Kodak24")
    parser.add_argument("--limit", type=int, default=6)
    parser.add_argument("--crop", type=int, default=128)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--pictures", type=Path, default=None,
                        help="folder for noise_<op>.jpg: y | plain DDNM | true σ | estimated σ | truth")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    model = ddnm.models.load()
    _, x = load_crops(args.root, args.crop, args.limit)
    seeds = list(range(x.shape[0]))
    rows = []
    for op_name, sigma in CASES:
        task = task_for(op_name, sigma_y=sigma, **({"scale": 2} if op_name.startswith("sr") else {}))
        op, y = degrade(task, x)
        estimates = estimate_sigma_y(y)
        methods = {"DDNM (σ_y 0)": {}, "DDNM+ at true σ": {"sigma_y": sigma},
                   "DDNM+ estimated": {"estimate_sigma_y": True}}
        shown = {"y": y if y.shape == x.shape else bicubic_upsample(y, x.shape[-2:])}
        for method, knobs in methods.items():
            started = time.perf_counter()
            out = ddnm.restore(y, op, model, seed=seeds, **knobs)
            shown[method.replace("σ_y", "sigma_y").replace("σ", "sigma")] = out.x  # the picture's font has no σ
            seconds = (time.perf_counter() - started) / x.shape[0]
            score = round(float(psnr(out.x, x).mean()), 2)
            row = {"task": task.label, "sigma": sigma, "method": method, "psnr_db": score,
                   "s_per_image": round(seconds, 2), "images": x.shape[0], "crop": args.crop, "prior": model.info.name,
                   **{f"estimate_{k}": round(float(getattr(estimates, k)()), 4) for k in ("mean", "min", "max")}}
            rows.append(row)
            append_result("noise_estimate", row)
            print(f"{task.label} σ={sigma} {method}: {row['psnr_db']:.2f} dB (estimate {row['estimate_mean']:.4f})",
                  flush=True)  # fmt: skip
        if args.pictures is not None and sigma > 0:
            name = f"noise_{op_name}{'' if sigma == 0.05 else f'_{sigma:g}'}.jpg"
            picture_grid([*shown.items(), ("truth", x)], args.pictures / name, rows=3)
    print_table(f"{args.root.name}, {x.shape[0]} centre crops of {args.crop} px, PSNR (dB)", rows)


if __name__ == "__main__":
    main()
