"""Shared helpers for the benchmark scripts: machine description, timing, results file."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import time
from pathlib import Path

import torch

# BENCHMARK_RESULTS redirects the rows (the tests' smoke runs must not add to the tracked file).
RESULTS = Path(os.environ.get("BENCHMARK_RESULTS") or Path(__file__).with_name("results.jsonl"))


def machine() -> dict:
    info = {
        "host_cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
        info["cuda"] = torch.version.cuda
    return info


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class Stopwatch:
    """Accumulates wall time of a code region, synchronising the device so GPU time is counted."""

    def __init__(self, device: torch.device):
        self.device, self.total, self.calls = device, 0.0, 0

    def __enter__(self):
        sync(self.device)
        self._t0 = time.perf_counter()
        return self

    def __exit__(self, *exc):
        sync(self.device)
        self.total += time.perf_counter() - self._t0
        self.calls += 1


def append_result(benchmark: str, row: dict) -> None:
    record = {"benchmark": benchmark, **machine(), **row}
    with RESULTS.open("a") as f:
        f.write(json.dumps(record) + "\n")


def print_table(title: str, rows: list[dict]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for key in rows[0]:
        table.add_column(key)
    for row in rows:
        table.add_row(*[f"{v:.4g}" if isinstance(v, float) else str(v) for v in row.values()])
    Console(width=max(120, 14 * len(rows[0]))).print(table)
