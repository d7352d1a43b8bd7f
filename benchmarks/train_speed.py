"""Training step speed: where a training step's time goes, data or network, at several crop-worker counts.

    python -m benchmarks.train_speed --device cuda --workers 0 8 14            # the first minute of a GPU lease
    python -m benchmarks.train_speed --device cuda --workers 14 --batch-size 128 512 --compile 0 1   # then this
    python -m benchmarks.train_speed --device cpu --batch-size 4 --steps 2     # anywhere: proves it runs

Session 12's lease trained the 64-px prior at 0.10 s/step (batch 128) whatever the worker count, with the GPU
shared or not: something in the training process held it back, and nothing measured what. Per worker count this
times ``--steps`` whole steps of ``jobs.train_prior.Trainer`` (crops from the workers, the step, the EMA) after
``--warmup`` untimed ones, and beside them the same number of steps on one fixed batch already on the device (the
network and optimizer alone). Their difference is what feeding the step costs. If the network alone takes about
the same time at batch 128 and 512, the step is bound by kernel launches (a 2 M-param network's kernels are tiny),
not by arithmetic: then a larger batch, or ``--compile 1`` (``TrainSettings.compile``), buys crops per second.
Prints a table and appends one row per (batch, compile, workers) to benchmarks/results.jsonl. The trainer starts
from the shipped weights; nothing is saved.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import tempfile
import time
from pathlib import Path

import torch

from benchmarks.common import append_result, print_table, sync
from jobs.train_prior import Trainer
from jobs.train_settings import TrainSettings, default_corpus


def timed(step, steps: int, device: torch.device) -> float:
    sync(device)
    started = time.perf_counter()
    for _ in range(steps):
        step()
    sync(device)
    return (time.perf_counter() - started) / steps


def measure(settings: TrainSettings, steps: int, warmup: int) -> dict:
    device = torch.device(settings.device)
    trainer = Trainer(settings)
    trainer.resume()  # no checkpoint in the scratch state dir: starts from the init weights
    for _ in range(warmup):  # crop workers start and decode the corpus here; cuDNN picks its kernels
        trainer.train_step()
    whole = timed(trainer.train_step, steps, device)
    x0 = trainer.next_batch()
    network = timed(lambda: trainer.optimise(x0), steps, device)  # the same step on a batch already there
    return {"workers": settings.workers, "batch": settings.batch_size, "compile": settings.compile,
            "bf16": trainer.bf16, "s_per_step": whole,
            "crops_per_s": settings.batch_size / whole, "network_s_per_step": network,
            "feeding_share": max(0.0, 1 - network / whole)}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--workers", type=int, nargs="+", default=[0, 8, 14])
    p.add_argument("--batch-size", type=int, nargs="+", default=[128])
    p.add_argument("--compile", type=int, nargs="+", choices=(0, 1), default=[0],
                   help="1: torch.compile the network for the step (TrainSettings.compile)")
    p.add_argument("--steps", type=int, default=50, help="timed steps per measurement")
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--corpus", type=Path, default=default_corpus())
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads of the training process")
    args = p.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        base = TrainSettings(corpus=args.corpus, device=args.device, state_dir=Path(scratch), num_threads=args.threads)
        for batch, compiled, workers in itertools.product(args.batch_size, args.compile, args.workers):
            settings = dataclasses.replace(base, batch_size=batch, compile=bool(compiled), workers=workers)
            if threads := settings.threads:  # as jobs.train_prior.main sets them
                torch.set_num_threads(threads)
            row = measure(settings, args.steps, args.warmup)
            name = torch.cuda.get_device_name() if args.device.startswith("cuda") else "CPU"
            append_result("train_speed", {"device": args.device, "device_name": name, "threads": threads, **row})
            rows.append(row)
            print(f"batch {batch}, compile {compiled}, workers {workers}: {row['s_per_step']:.4f} s/step, network "
                  f"alone {row['network_s_per_step']:.4f}", flush=True)  # fmt: skip
    print_table(f"Training step of {base.name} on {args.device}", rows)


if __name__ == "__main__":
    main()
