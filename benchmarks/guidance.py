"""Guidance rules on noisy SR×4 and Gaussian deblur: DDNM, DDNM+, DDPG, IDPG, DPS (PSNR, SSIM, consistency, s/image).

    python -m benchmarks.guidance --quick                      # 2 images, 10 steps, σ_y ∈ {0, 0.05}
    python -m benchmarks.guidance --images 29 --steps 20 --write-docs

Images: the 64×64 centre crops of Set5 then Kodak24 from ../shared/eval (read there, never copied into the repo),
the same crops as the model card's evaluation (``pipeline.eval_report.load_crops``). σ_y is given on [0, 1]
intensities as in the papers (the sampler's ``sigma_y`` is twice that, on [-1, 1]). The prior is the bundled one
when ``ddnm/weights/ddnm-prior-64.safetensors`` exists, else the analytic Gaussian oracle (said in every row).
DPS's step ζ′ is ``--dps-grad-step``: the DPS paper's ζ′ (0.5 here) is for 1000 steps and leaves a 20-step run
unconstrained (consistency ~0.6), see docs/guidance.md. ``--tasks`` and ``--sigmas`` split a run across processes;
``--from-results`` then joins their rows. Prints a table, appends one line per (task, σ_y, method) to
benchmarks/results.jsonl and, with ``--write-docs``, writes docs/img/guidance.png and the table in docs/guidance.md.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

import ddnm
from benchmarks.common import RESULTS, append_result, machine, print_table, sync
from benchmarks.guidance_cases import METHODS, TASKS, load_images, load_prior
from benchmarks.guidance_memory import sampling_memory_mib
from benchmarks.lineplot import line_plot
from ddnm.metrics import consistency, psnr, ssim
from ddnm.operators import make

ROOT = Path(__file__).resolve().parents[1]
DOC, PLOT = ROOT / "docs" / "guidance.md", ROOT / "docs" / "img" / "guidance.png"
START, END = "<!-- guidance-results:start -->", "<!-- guidance-results:end -->"


def rule_params(method: str, args) -> dict:
    """The rule parameters a method runs with (only DPS's ζ′ departs from the rule's defaults)."""
    return {"grad_step": args.dps_grad_step} if METHODS[method][0] == "dps" else {}


def run_one(model, op, x, y, sigma_y, method: str, steps: int, seed: int, params: dict) -> dict:
    guidance, told = METHODS[method]
    device = y.device
    sync(device)
    t0 = time.perf_counter()
    seeds = list(range(seed, seed + x.shape[0]))  # image i gets seed + i, as in ddnm.evaluate
    # one sample from noise for every rule, as docs/guidance.md measured it (not the prior's per-task warm start and
    # mean of 4, which would hide the rules' differences)
    x_hat, _ = ddnm.restore(y, op, model, steps=steps, sigma_y=2 * sigma_y if told else 0.0,
                            guidance=guidance, seed=seeds, samples=1, start_t=999, **params)
    sync(device)
    elapsed = time.perf_counter() - t0
    return {
        "psnr": psnr(x_hat, x).mean().item(), "ssim": ssim(x_hat, x).mean().item(),
        "consistency": consistency(op, x_hat, y).mean().item(), "s_per_image": elapsed / x.shape[0],
    }


def benchmark(args) -> list[dict]:
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    model = load_prior(device)
    size = model.info.image_size or args.size
    names, x = load_images(size, args.images)
    x = x.to(device)
    host, rows = machine(), []
    for task in args.tasks:
        name, params = TASKS[task]
        op = make(name, (3, size, size), **params).to(device)
        memory = {}
        if args.memory:
            memory = sampling_memory_mib(args.methods, task, x.shape[0], size, args.device, args.threads)
        for sigma_y in args.sigmas:
            noise_gen = torch.Generator(device=device).manual_seed(1234)
            clean = op.A(x)
            y = clean + 2 * sigma_y * torch.randn(clean.shape, generator=noise_gen, device=device)
            for method in args.methods:
                extra = rule_params(method, args)
                metrics = run_one(model, op, x, y, sigma_y, method, args.steps, args.seed, extra)
                row = {"task": task, "op": name, "op_params": params, "sigma_y": sigma_y, "method": method, **metrics,
                       "steps": args.steps, "images": x.shape[0], "image_names": names, "size": size,
                       "guidance_params": extra, "threads": args.threads, "sampling_mib": memory.get(method),
                       "prior": model.info.name,
                       "prior_sha256": model.info.weights_sha256[:12],
                       "device": args.device, **host}
                rows.append(row)
                append_result("guidance", row)
                print(f"{task} σ_y={sigma_y:g} {method}: {metrics}", flush=True)
    return rows


def recorded_rows(steps: int, images: int, prior_sha256: str) -> list[dict]:
    """The latest recorded row per (task, σ_y, method) with these steps, images and prior, from results.jsonl,
    in table order (task, σ_y, method), so runs split over processes join into one table."""
    latest = {}
    for line in RESULTS.read_text().splitlines():
        r = json.loads(line)
        if (r.get("benchmark") == "guidance" and r["steps"] == steps and r["images"] == images
                and r.get("prior_sha256") == prior_sha256):
            latest[(r["task"], r["sigma_y"], r["method"])] = r
    order = {name: i for i, name in enumerate([*TASKS, *METHODS])}
    return sorted(latest.values(), key=lambda r: (order[r["task"]], r["sigma_y"], order[r["method"]]))


def markdown_table(rows: list[dict]) -> str:
    head = ("| task | σ_y | method | PSNR (dB) | SSIM | ‖Ax̂−y‖/‖y‖ | s/image | sampling memory (MiB) |\n"
            "|---|---|---|---|---|---|---|---|\n")
    body = "".join(
        f"| {r['task']} | {r['sigma_y']:g} | {r['method']} | {r['psnr']:.2f} | {r['ssim']:.3f} | "
        f"{r['consistency']:.2e} | {r['s_per_image']:.2f} | {mib(r.get('sampling_mib'))} |\n"
        for r in rows
    )
    r = rows[0]
    sha = f" (sha256 {r['prior_sha256']}…)" if r.get("prior_sha256") else ""
    dps = next((x["guidance_params"] for x in rows if x["method"] == "DPS" and x.get("guidance_params")), None)
    dps_note = f", DPS with ζ′ = {dps['grad_step']:g}" if dps else ""
    note = (f"\n{r['images']} images ({r['size']}×{r['size']} centre crops), {r['steps']} steps, prior "
            f"`{r['prior']}`{sha}{dps_note}, device {r['device']} ({r['cpu_count']} cores, {r.get('threads', '?')} "
            f"thread(s) per process), {r['date'][:10]}. Sampling memory: the peak above the loaded, warmed-up process "
            f"while sampling all {r['images']} crops as one batch, each rule in a fresh process "
            f"(`benchmarks/guidance_memory.py`; resident set on a CPU, allocated memory on CUDA).\n")
    return head + body + note


def mib(value: float | None) -> str:
    return "–" if value is None else f"{value:.0f}"


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
    p.add_argument("--images", type=int, default=8, help="the first N of Set5 then Kodak24 (29 in all)")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--dps-grad-step", type=float, default=10.0,
                   help="DPS's ζ′; 10 suits 20 steps, 5 suits 100 (docs/guidance.md), the paper's 0.5 suits 1000")
    p.add_argument("--threads", type=int, default=1, help="torch threads (the CPU is shared; one per process)")
    p.add_argument("--size", type=int, default=64, help="window when the prior has no native size")
    p.add_argument("--sigmas", type=float, nargs="+", default=[0.0, 0.01, 0.05, 0.1])
    p.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    p.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-memory", dest="memory", action="store_false",
                   help="skip the peak-memory probes (one child process per method and task)")
    p.add_argument("--quick", action="store_true", help="2 images, 10 steps, σ_y ∈ {0, 0.05}")
    p.add_argument("--write-docs", action="store_true", help="write docs/img/guidance.png and docs/guidance.md")
    p.add_argument("--from-results", action="store_true",
                   help="sample nothing: rebuild the table from results.jsonl rows with these --steps and --images")
    args = p.parse_args()
    if args.quick:
        args.images, args.steps, args.sigmas = 2, 10, [0.0, 0.05]
    if args.from_results:
        rows = recorded_rows(args.steps, args.images, load_prior(torch.device("cpu")).info.weights_sha256[:12])
    else:
        rows = benchmark(args)
    print_table("Guidance rules", [{k: r[k] for k in ("task", "sigma_y", "method", "psnr", "ssim", "consistency",
                                                     "s_per_image")} for r in rows])
    if args.write_docs:
        write_docs(rows)


if __name__ == "__main__":
    main()
