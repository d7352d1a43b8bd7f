"""benchmarks/gpu_check.sh runs end to end at tiny sizes on the CPU, so the one-command GPU check is known to work
before a GPU is lent: it prints the table, appends one row per (operator, mode, batch) naming the machine, and
draws the chart."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]


def run_check(tmp_path: Path, skip_pipeline: bool) -> tuple[subprocess.CompletedProcess, list[dict]]:
    results = tmp_path / "results.jsonl"
    env = {**os.environ, "PYTHON": sys.executable, "BENCHMARK_RESULTS": str(results), "OMP_NUM_THREADS": "1",
           "GPU_CHECK_PLOT": str(tmp_path / "speed.png"), "GPU_CHECK_SKIP_PIPELINE": "1" if skip_pipeline else "0"}
    done = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_check.sh"), "--tiny"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done, [json.loads(line) for line in results.read_text().splitlines()]


def test_gpu_check_runs_tiny_on_cpu(tmp_path):
    done, rows = run_check(tmp_path, skip_pipeline=True)
    assert "Engine speed on" in done.stdout and "reference-like" in done.stdout
    engine = [r for r in rows if r["benchmark"] == "engine_speed"]
    assert {(r["op"], r["mode"], r["batch"]) for r in engine} == {
        ("colorize", "reference-like", 1), ("colorize", "fast", 2),
        ("sr_bicubic", "reference-like", 1), ("sr_bicubic", "fast", 2),
    }
    for row in engine:
        assert row["device_name"].endswith("CPU") and row["tiny"] and row["steps"] == 3
        assert row["s_per_image"] > 0 and row["model_tflop_s"] > 0 and 0 <= row["overhead_share"] <= 1
        assert row["gflop_per_forward_image"] > 0.1  # the flop counter saw the convolutions
    assert (tmp_path / "speed.png").stat().st_size > 1000


@pytest.mark.slow  # adds a Ray cluster's start-up (tens of seconds, minutes on a loaded machine)
def test_gpu_check_with_the_pipeline(tmp_path):
    _, rows = run_check(tmp_path, skip_pipeline=False)
    assert any(r["benchmark"] == "pipeline_throughput" and r["pipeline_img_s"] > 0 for r in rows)


def test_the_benchmark_network_has_the_checkpoints_compute():
    """The random-weight ADM of engine_speed is 256x256_diffusion_uncond's: 552.8 M parameters, 2,239.7 GFLOP per
    forward (the issue's H100 anchor), counted on the meta device (no memory, no time)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from benchmarks.engine_speed import PRESET
    from ddnm.models.adm import create_model
    from ddnm.models.registry import ADM_PRESETS

    with torch.device("meta"):
        net = create_model(**{**ADM_PRESETS[PRESET], "use_fp16": False})
        with FlopCounterMode(display=False) as counter:
            net(torch.zeros(1, 3, 256, 256), torch.full((1,), 500))
    assert round(sum(p.numel() for p in net.parameters()) / 1e6, 1) == 552.8
    assert round(counter.get_total_flops() / 1e9, 1) == 2239.7
