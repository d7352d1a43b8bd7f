"""Guidance rules on noisy SR×4 and Gaussian deblur: DDNM, DDNM+, DDPG, IDPG, DPS (PSNR, SSIM, consistency, s/image).

    python -m benchmarks.guidance --quick                      # 2 images, 10 steps, σ_y ∈ {0, 0.05}
    python -m benchmarks.guidance --images 8 --steps 50 --write-docs

Images: Set5 and Kodak24 from ../shared/eval (read there, never copied into the repo), each resized so its short
side is the prior's window and centre-cropped to it. σ_y is given on [0, 1] intensities as in the papers
(the sampler's ``sigma_y`` is twice that, on [-1, 1]). The prior is the bundled one when
``ddnm/weights/ddnm-prior-64.safetensors`` exists, else the analytic Gaussian oracle (said in every row).
Prints a table, appends one line per (task, σ_y, method) to benchmarks/results.jsonl and, with ``--write-docs``,
writes docs/img/guidance.png and the table in docs/guidance.md.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

import ddnm
from benchmarks.common import RESULTS, append_result, print_table, sync
from benchmarks.lineplot import line_plot
from ddnm.metrics import consistency, psnr, ssim
from ddnm.operators import make

ROOT = Path(__file__).resolve().parents[1]
EVAL_DIR = ROOT.parent / "shared" / "eval" / "classic"
PRIOR = ROOT / "ddnm" / "weights" / "ddnm-prior-64.safetensors"
DOC, PLOT = ROOT / "docs" / "guidance.md", ROOT / "docs" / "img" / "guidance.png"
START, END = "<!-- guidance-results:start -->", "<!-- guidance-results:end -->"

# method → (guidance, whether the sampler is told σ_y); DDNM without σ_y is the hard range-space projection.
METHODS = {"DDNM": ("ddnm", False), "DDNM+": ("ddnm", True), "DDPG": ("ddpg", True), "IDPG": ("idpg", True),
           "DPS": ("dps", True)}
# Deblur drops frequencies with |K̂| < 3e-2 as DDRM and DDNM do; without it A⁺ amplifies noise by up to ~1e5.
TASKS = {"SR×4": ("sr_bicubic", {"scale": 4}), "deblur": ("deblur_gaussian", {"sigma": 1.5, "threshold": 3e-2})}


def load_images(size: int, count: int, device: torch.device) -> torch.Tensor:
    """Set5 then Kodak24, short side resized to ``size`` and centre-cropped: (N, 3, size, size) in [-1, 1]."""
    from PIL import Image

    paths = sorted((EVAL_DIR / "Set5").glob("*.png")) + sorted((EVAL_DIR / "Kodak24").glob("*.png"))
    if not paths:
        raise SystemExit(f"no evaluation images under {EVAL_DIR}; see ../shared/eval/README.md")
    out = []
    for path in paths[:count]:
        img = Image.open(path).convert("RGB")
        scale = size / min(img.size)
        img = img.resize((max(size, round(img.width * scale)), max(size, round(img.height * scale))), Image.LANCZOS)
        left, top = (img.width - size) // 2, (img.height - size) // 2
        arr = np.asarray(img.crop((left, top, left + size, top + size)), dtype=np.float32) / 127.5 - 1
        out.append(torch.from_numpy(arr).permute(2, 0, 1))
    return torch.stack(out).to(device)


def load_prior(device: torch.device):
    if PRIOR.exists():
        return ddnm.models.load(device=device)
    from ddnm.models.testing import GaussianPosteriorModel

    return GaussianPosteriorModel(mean=0.0, std=0.5).to(device)


def run_one(model, op, x, y, sigma_y, method: str, steps: int, seed: int) -> dict:
    guidance, told = METHODS[method]
    device = y.device
    sync(device)
    t0 = time.perf_counter()
    x_hat, _ = ddnm.restore(y, op, model, steps=steps, sigma_y=2 * sigma_y if told else 0.0,
                            guidance=guidance, seed=seed)
    sync(device)
    elapsed = time.perf_counter() - t0
    return {
        "psnr": psnr(x_hat, x).mean().item(), "ssim": ssim(x_hat, x).mean().item(),
        "consistency": consistency(op, x_hat, y).mean().item(), "s_per_image": elapsed / x.shape[0],
    }


def benchmark(args) -> list[dict]:
    device = torch.device(args.device)
    model = load_prior(device)
    size = model.info.image_size or args.size
    x = load_images(size, args.images, device)
    rows = []
    for task in args.tasks:
        name, params = TASKS[task]
        op = make(name, (3, size, size), **params).to(device)
        for sigma_y in args.sigmas:
            noise_gen = torch.Generator(device=device).manual_seed(1234)
            clean = op.A(x)
            y = clean + 2 * sigma_y * torch.randn(clean.shape, generator=noise_gen, device=device)
            for method in args.methods:
                metrics = run_one(model, op, x, y, sigma_y, method, args.steps, args.seed)
                row = {"task": task, "op": name, "op_params": params, "sigma_y": sigma_y, "method": method, **metrics,
                       "steps": args.steps, "images": x.shape[0], "size": size, "prior": model.info.name,
                       "prior_sha256": model.info.weights_sha256[:12],
                       "device": args.device}
                rows.append(row)
                append_result("guidance", row)
                print(f"{task} σ_y={sigma_y:g} {method}: {metrics}", flush=True)
    return rows


def recorded_rows(steps: int, images: int) -> list[dict]:
    """The latest recorded row per (task, σ_y, method) with these steps and images, from results.jsonl."""
    latest = {}
    for line in RESULTS.read_text().splitlines():
        r = json.loads(line)
        if r.get("benchmark") == "guidance" and r["steps"] == steps and r["images"] == images:
            latest[(r["task"], r["sigma_y"], r["method"])] = r
    return list(latest.values())


def markdown_table(rows: list[dict]) -> str:
    head = "| task | σ_y | method | PSNR (dB) | SSIM | ‖Ax̂−y‖/‖y‖ | s/image |\n|---|---|---|---|---|---|---|\n"
    body = "".join(
        f"| {r['task']} | {r['sigma_y']:g} | {r['method']} | {r['psnr']:.2f} | {r['ssim']:.3f} | "
        f"{r['consistency']:.2e} | {r['s_per_image']:.2f} |\n"
        for r in rows
    )
    r = rows[0]
    sha = f" (sha256 {r['prior_sha256']}…)" if r.get("prior_sha256") else ""
    note = (f"\n{r['images']} images ({r['size']}×{r['size']}), {r['steps']} steps, prior `{r['prior']}`{sha}, "
            f"device {r['device']}.\n")
    return head + body + note


def write_docs(rows: list[dict]) -> None:
    panels = {task: {m: [(r["sigma_y"], r["psnr"]) for r in rows if r["task"] == task and r["method"] == m]
                     for m in dict.fromkeys(r["method"] for r in rows)}
              for task in dict.fromkeys(r["task"] for r in rows)}
    line_plot(panels, PLOT, "sigma_y (on [0, 1])", "PSNR (dB)")
    text = DOC.read_text()
    if START not in text or END not in text:
        raise SystemExit(f"{DOC} lacks the {START} … {END} markers for the results table")
    before, rest = text.split(START, 1)
    DOC.write_text(before + START + "\n" + markdown_table(rows) + END + rest.split(END, 1)[1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--images", type=int, default=8)
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--size", type=int, default=64, help="window when the prior has no native size")
    p.add_argument("--sigmas", type=float, nargs="+", default=[0.0, 0.01, 0.05, 0.1])
    p.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    p.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="2 images, 10 steps, σ_y ∈ {0, 0.05}")
    p.add_argument("--write-docs", action="store_true", help="write docs/img/guidance.png and docs/guidance.md")
    p.add_argument("--from-results", action="store_true",
                   help="sample nothing: rebuild the table from results.jsonl rows with these --steps and --images")
    args = p.parse_args()
    if args.quick:
        args.images, args.steps, args.sigmas = 2, 10, [0.0, 0.05]
    rows = recorded_rows(args.steps, args.images) if args.from_results else benchmark(args)
    print_table("Guidance rules", [{k: r[k] for k in ("task", "sigma_y", "method", "psnr", "ssim", "consistency",
                                                     "s_per_image")} for r in rows])
    if args.write_docs:
        write_docs(rows)


if __name__ == "__main__":
    main()
