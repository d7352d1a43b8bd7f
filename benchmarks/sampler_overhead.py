"""Share of each DDNM step spent outside the model call (goal on GPU: ≤ 5% at batch 32, 256×256, ADM-256).

    python -m benchmarks.sampler_overhead --device cuda --batch 32 --steps 10
    python -m benchmarks.sampler_overhead --device cpu --batch 1 --steps 2      # CPU: minutes per step at 256²

The network is guided-diffusion's ADM 256×256 unconditional architecture with random weights (same compute as the
real checkpoint). Prints a table and appends one line per run to benchmarks/results.jsonl.
"""

from __future__ import annotations

import argparse
import time

import torch

from benchmarks.common import Stopwatch, append_result, print_table, sync
from ddnm.models.adm import create_model
from ddnm.models.loading import ADM_PRESETS
from ddnm.models.wrapper import ModelInfo, NetworkEpsModel
from ddnm.operators import make
from ddnm.ddim import generators_for
from ddnm.samplers import sample_ddnm
from ddnm.schedules import alphas_cumprod_from_betas, linear_betas
from ddnm.settings import SamplerSettings


class TimedNet(torch.nn.Module):
    """Runs the network and accumulates the time spent inside it."""

    def __init__(self, net: torch.nn.Module, watch: Stopwatch):
        super().__init__()
        self.net, self.watch = net, watch

    def forward(self, x, t):
        with self.watch:
            return self.net(x, t)


def build(preset: str, device: torch.device, dtype: torch.dtype, watch: Stopwatch, size: int | None):
    hparams = dict(ADM_PRESETS[preset])
    if size:
        hparams["image_size"] = size
    hparams["use_fp16"] = False
    net = create_model(**hparams).to(device=device, dtype=dtype).eval()
    model = NetworkEpsModel(TimedNet(net, watch), alphas_cumprod_from_betas(linear_betas(1000)),
                            ModelInfo("random-" + preset, "adm", hparams["image_size"]))
    return model.to(device), hparams["image_size"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--op", default="colorize")
    p.add_argument("--preset", default="imagenet256_uncond")
    p.add_argument("--size", type=int, default=None, help="override image_size (smaller for CPU)")
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    args = p.parse_args()
    device = torch.device(args.device)
    watch = Stopwatch(device)
    model, size = build(args.preset, device, getattr(torch, args.dtype), watch, args.size)
    params = {"scale": 4} if args.op.startswith("sr_") else {}
    op = make(args.op, (3, size, size), **params).to(device)
    y = op.A(torch.rand(args.batch, 3, size, size, device=device) * 2 - 1)
    settings = SamplerSettings(steps=args.steps, eta=0.85)
    with torch.inference_mode():  # warm-up: first calls pay for allocation and kernel selection
        sample_ddnm(model, op, y, SamplerSettings(steps=1), generator=generators_for(range(args.batch), device))
    watch.total, watch.calls = 0.0, 0
    t0 = time.perf_counter()
    sample_ddnm(model, op, y, settings, generator=generators_for(range(args.batch), device))
    sync(device)
    total = time.perf_counter() - t0
    row = {
        "device": args.device, "preset": args.preset, "size": size, "batch": args.batch, "op": args.op,
        "dtype": args.dtype, "steps": args.steps, "s_per_step": total / args.steps,
        "model_s_per_step": watch.total / max(watch.calls, 1),
        "overhead_share": 1 - watch.total / total, "s_per_image": total / args.batch,
    }
    print_table("DDNM sampler overhead", [row])
    append_result("sampler_overhead", row)


if __name__ == "__main__":
    main()
