"""Network precision and layout on a CPU: the bundled prior restoring a scan in fp32 (contiguous and channels_last,
the default), bf16 and bf16 + channels_last.

    python -m benchmarks.cpu_dtype                          # SR x2 of a 128x96 scan, K = 4 x 5 steps (the default)
    python -m benchmarks.cpu_dtype --op colorize --size 512  # colour at the working size: hardly any network time

bf16 autocast pays only on a CPU with native bf16 arithmetic (AVX512-BF16 or AMX, from /proc/cpuinfo's flags; the
table names them): without it PyTorch emulates bf16 and is slower than fp32 (docs/performance.md). Each precision
restores the same scan with the same seed (`ddnm.restore`, the prior's defaults for the task), timed after one
warm-up run; "PSNR to fp32" compares the outputs with the contiguous fp32 one's, and the consistency residual shows
the sampler maths stayed fp32. Prints a table and appends one line per precision to benchmarks/results.jsonl.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from benchmarks.common import append_result, print_table

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "scans" / "china.png"
# The first is the reference the others' speed-up and PSNR are measured against: fp32 in the contiguous layout, the
# default before channels_last became it (ddnm.models.load).
SETTINGS = {"fp32, contiguous": ("float32", False), "fp32 + channels_last (default)": ("float32", True),
            "bf16": ("bfloat16", False), "bf16 + channels_last": ("bfloat16", True)}


def cpu_bf16_flags() -> str:
    """The CPU's native bf16 flags (``avx512_bf16``, ``amx_bf16``), or "none"."""
    try:
        flags = next(line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("flags"))
    except (OSError, StopIteration):
        return "unknown"
    found = [flag for flag in ("avx512_bf16", "amx_bf16") if flag in flags.split()]
    return " ".join(found) or "none"


def main(argv=None) -> None:
    import numpy as np
    from PIL import Image

    import ddnm
    import ddnm.models
    from ddnm.metrics import psnr

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--op", default="sr_bicubic", choices=["sr_bicubic", "sr_avgpool", "colorize", "denoise"])
    parser.add_argument("--size", type=int, default=128, help="the restored image's long side (px)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--machine", default="", help="a name for this machine in results.jsonl")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    with Image.open(EXAMPLE) as image:
        w, h = image.size
        size = (args.size, round(args.size * h / w)) if w >= h else (round(args.size * w / h), args.size)
        x = torch.from_numpy(np.asarray(image.convert("RGB").resize(size, Image.BICUBIC), dtype=np.float32))
    x = (x.permute(2, 0, 1)[None] / 127.5 - 1.0).contiguous()
    params = {"scale": 2} if args.op.startswith("sr") else {}
    op = ddnm.operators.make(args.op, tuple(x.shape[1:]), **params)
    y = op.A(x)
    noisy = {"sigma_y": 0.1} if args.op == "denoise" else {}  # DDNM+, noise in [-1, 1] units
    if noisy:
        y = y + noisy["sigma_y"] * torch.randn(y.shape, generator=torch.Generator().manual_seed(0))
    rows, reference = [], None
    for label, (dtype, channels_last) in SETTINGS.items():
        model = ddnm.models.load(dtype=dtype, channels_last=channels_last)
        ddnm.restore(y, op, model, seed=0, **noisy)  # warm-up: allocator, oneDNN kernels
        started = time.perf_counter()
        for _ in range(args.repeats):
            out = ddnm.restore(y, op, model, seed=0, **noisy)
        seconds = (time.perf_counter() - started) / args.repeats
        reference = out.x if reference is None else reference
        row = {"op": args.op, "precision": label, "size": f"{x.shape[3]}x{x.shape[2]}", "s_per_image": seconds,
               "speedup": rows[0]["s_per_image"] / seconds if rows else 1.0,
               "psnr_to_fp32_db": float(psnr(out.x, reference).mean()) if rows else float("inf"),
               "residual": float(out.residual.max()), "samples": out.samples, "steps": out.settings.sampler.steps,
               "threads": args.threads, "cpu_bf16": cpu_bf16_flags(), "machine": args.machine}  # fmt: skip
        rows.append(row)
        append_result("cpu_dtype", row)
        print(f"{label}: {seconds:.2f} s", flush=True)
    print_table(f"{args.op}, bundled prior, {args.threads} threads, CPU bf16: {cpu_bf16_flags()}", rows)


if __name__ == "__main__":
    main()
