"""Engine speed: a reference-like mode (fp16, batch 1, eager) against the fast path (bf16 autocast, channels_last,
torch.compile) at larger batches, on ADM-256 with random weights (the compute of 256x256_diffusion_uncond).

    python -m benchmarks.engine_speed --device cuda                       # the GPU check (benchmarks/gpu_check.sh)
    python -m benchmarks.engine_speed --tiny                              # CPU smoke run: ADM at 32 px, 3 steps

Per (operator, mode, batch): s/image, images/s, the network's TFLOP/s (FLOPs of one forward counted by
torch.utils.flop_counter, times the forwards, over the sampling time), the sampler's overhead share (1 − forwards ×
time of a bare forward / sampling time) and peak memory (CUDA allocator peak; on CPU the process's peak RSS).
Prints a table and appends one line per row to benchmarks/results.jsonl with the machine named.
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from benchmarks.common import append_result, print_table, sync
from ddnm.models.adm import create_model
from ddnm.models.registry import ADM_PRESETS
from ddnm.models.runtime import configure_backend, parse_dtype
from ddnm.models.wrapper import ModelInfo, NetworkEpsModel
from ddnm.operators import make
from ddnm.ddim import generators_for
from ddnm.samplers import sample_ddnm
from ddnm.schedules import alphas_cumprod_from_betas, linear_betas
from ddnm.settings import SamplerSettings

PRESET = "imagenet256_uncond"
# The tiny network of the test suite (tests/conftest.py): seconds per run on a CPU.
TINY = dict(image_size=32, num_channels=32, num_res_blocks=1, channel_mult="1,2", attention_resolutions="16",
            num_heads=2, learn_sigma=True)
OPERATORS = {"colorize": {}, "sr_bicubic": {"scale": 4}}  # the colorize and SR ×4


@dataclass(frozen=True)
class Mode:
    """How the network runs: ``name`` is what the table calls it."""

    name: str
    dtype: torch.dtype
    channels_last: bool
    compile: bool | str
    batch: int


def build(hparams: dict, device: torch.device, mode: Mode) -> NetworkEpsModel:
    """ADM with random weights (init as upstream) wrapped like a loaded prior, with ``mode``'s runtime options."""
    net = create_model(**{**hparams, "use_fp16": False}).to(device=device, dtype=mode.dtype).eval()
    info = ModelInfo(f"random-{hparams['image_size']}", "adm", hparams["image_size"])
    model = NetworkEpsModel(net, alphas_cumprod_from_betas(linear_betas(1000)), info).to(device)
    return model.requires_grad_(False).optimize(channels_last=mode.channels_last, compile=mode.compile)


def flops_per_image(hparams: dict) -> float:
    """FLOPs of one network forward of one image (torch.utils.flop_counter: matmuls and convolutions, 2 per MAC),
    counted on the meta device: no memory, no device time, the same count as on any device and batch."""
    from torch.utils.flop_counter import FlopCounterMode

    size = hparams["image_size"]
    with torch.device("meta"):
        net = create_model(**{**hparams, "use_fp16": False})
        with FlopCounterMode(display=False) as counter:
            net(torch.zeros(1, 3, size, size), torch.full((1,), 500))
    return float(counter.get_total_flops())


def bare_forward_s(model: NetworkEpsModel, x: torch.Tensor, repeats: int) -> float:
    """Seconds per network call (ε and x0, as the sampler calls it) without the sampler around it."""
    t = torch.full((x.shape[0],), 500, device=x.device)
    with torch.inference_mode():
        model(x, t)
        sync(x.device)
        started = time.perf_counter()
        for _ in range(repeats):
            model(x, t)
        sync(x.device)
    return (time.perf_counter() - started) / repeats


def peak_mib(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def measure(model: NetworkEpsModel, op_name: str, mode: Mode, args, flops: float, device: torch.device,
            images: int) -> dict:
    size = model.info.image_size
    op = make(op_name, (3, size, size), **OPERATORS[op_name]).to(device)
    y = op.A(torch.rand(mode.batch, 3, size, size, device=device) * 2 - 1)
    settings = SamplerSettings(steps=args.steps, eta=0.85)
    seeds = list(range(mode.batch))
    with torch.inference_mode():  # warm-up: compilation, cudnn.benchmark's search, allocator growth
        sample_ddnm(model, op, y, SamplerSettings(steps=args.warmup_steps), generator=generators_for(seeds, device))
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    runs = max(1, images // mode.batch)
    sync(device)
    started = time.perf_counter()
    with torch.inference_mode():
        for _ in range(runs):
            sample_ddnm(model, op, y, settings, generator=generators_for(seeds, device))
    sync(device)
    total = (time.perf_counter() - started) / runs  # seconds per batch of 100 steps
    forward = bare_forward_s(model, torch.randn(mode.batch, 3, size, size, device=device), args.forward_repeats)
    return {
        "op": op_name, "mode": mode.name, "dtype": str(mode.dtype).removeprefix("torch."), "batch": mode.batch,
        "channels_last": mode.channels_last, "compile": bool(mode.compile and not model.compiled.failed),
        "size": size, "steps": args.steps, "s_per_image": total / mode.batch, "images_per_s": mode.batch / total,
        "model_tflop_s": flops * mode.batch * args.steps / total / 1e12, "gflop_per_forward_image": flops / 1e9,
        "overhead_share": max(0.0, 1 - args.steps * forward / total), "peak_mib": peak_mib(device),
    }


def modes(args) -> list[Mode]:
    reference = Mode("reference-like", parse_dtype(args.reference_dtype), False, False, 1)
    fast = [Mode("fast", parse_dtype(args.dtype), True, args.compile, b) for b in args.batches]
    return [reference, *fast]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--tiny", action="store_true", help="CPU smoke run: ADM at 32 px, 3 steps, batches 1 and 2, fp32")
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--ops", default="colorize,sr_bicubic")
    p.add_argument("--batches", default="8,32", help="fast-path batch sizes")
    p.add_argument("--dtype", default="bfloat16", help="fast path's network precision")
    p.add_argument("--reference-dtype", default="float16", help="the reference-like mode's (the authors' use_fp16)")
    p.add_argument("--compile", default="default", help="torch.compile mode of the fast path, or 'off'")
    p.add_argument("--images", type=int, default=32, help="images timed per row (at least one batch)")
    p.add_argument("--reference-images", type=int, default=2, help="images timed in the batch-1 reference mode")
    p.add_argument("--forward-repeats", type=int, default=10)
    p.add_argument("--warmup-steps", type=int, default=2, help="steps of the untimed warm-up run (compiles)")
    p.add_argument("--plot", type=Path, default=None, help="write a s/image-vs-batch chart here")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--machine", default=None, help='how to name a CPU machine, e.g. "2-core CPU (shared)"')
    args = p.parse_args(argv)
    if args.tiny:  # CPUs without native bf16/fp16 emulate them slowly, and dynamo's start-up alone is ~30 s
        args.steps, args.batches, args.dtype, args.reference_dtype, args.compile = 3, "2", "float32", "float32", "off"
        args.images, args.reference_images, args.forward_repeats, args.warmup_steps = 2, 1, 1, 1
    args.batches = [int(b) for b in str(args.batches).split(",")]
    args.compile = False if args.compile in ("off", "false", "0") else args.compile
    return args


def plot(rows: list[dict], path: Path, device: str) -> None:
    from benchmarks.lineplot import line_plot

    panels = {}
    for row in rows:
        series = panels.setdefault(f"{row['op']} ({device})", {}).setdefault(row["mode"], [])
        series.append((row["batch"], row["s_per_image"]))
    line_plot(panels, path, "batch", "s / image")


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    configure_backend(device)
    hparams = dict(TINY) if args.tiny else dict(ADM_PRESETS[PRESET])
    flops = flops_per_image(hparams)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else args.machine or f"{os.cpu_count()}-core CPU"
    rows, reference = [], {}
    for mode in modes(args):  # one model (and one compilation) per mode, shared by the operators
        model = build(hparams, device, mode)
        for op_name in args.ops.split(","):
            images = args.reference_images if mode.name == "reference-like" else max(args.images, mode.batch)
            row = measure(model, op_name, mode, args, flops, device, images)
            row["network"] = "tiny ADM 32 px" if args.tiny else f"ADM {PRESET}"
            if mode.name == "reference-like":
                reference[op_name] = row["s_per_image"]
            row["speedup"] = reference[op_name] / row["s_per_image"] if op_name in reference else None
            rows.append(row)
            # appended as soon as measured: a run cut short by a lease still leaves the rows it finished
            append_result("engine_speed", {"device": args.device, "device_name": name, "tiny": args.tiny, **row})
            print(f"{op_name} {mode.name} batch {mode.batch}: {row['s_per_image']:.4g} s/image", flush=True)
        del model
        if device.type == "cuda":
            torch.cuda.empty_cache()
    rows.sort(key=lambda r: (r["op"], r["mode"] != "reference-like", r["batch"]))
    shown = ("op", "mode", "dtype", "batch", "compile", "s_per_image", "images_per_s", "model_tflop_s",
             "overhead_share", "peak_mib", "speedup")
    print_table(f"Engine speed on {name}: {rows[0]['network']}, {args.steps} steps, channels_last on the fast path",
                [{k: r[k] for k in shown} for r in rows])
    if args.plot:
        plot(rows, args.plot, name)


if __name__ == "__main__":
    main()
