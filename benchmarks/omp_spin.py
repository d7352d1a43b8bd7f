"""CPU threads under load: how OpenMP's idle spinning changes the bundled prior's speed (docs/performance.md).

    python -m benchmarks.omp_spin            # 3 settings x quiet / busy, 1 and 2 threads: ~1 min on 2 cores

torch's CPU build uses GNU OpenMP, which reads ``OMP_WAIT_POLICY`` and ``GOMP_SPINCOUNT`` when it loads, so each
setting runs in a fresh process. "busy" keeps one core occupied by a spinning Python process meanwhile (what a
laptop's other apps, Ray's read tasks or a training job do). Each child times forwards of the bundled prior on 9
windows of 64 px and reports milliseconds per window. Prints a table and appends to benchmarks/results.jsonl.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from benchmarks.common import append_result, print_table

SETTINGS = {"default": {}, "OMP_WAIT_POLICY=PASSIVE": {"OMP_WAIT_POLICY": "PASSIVE"},
            "GOMP_SPINCOUNT=10000": {"GOMP_SPINCOUNT": "10000"}}  # fmt: skip
CHILD = """
import json, time, torch
import ddnm.models
model = ddnm.models.load()
out = {}
for threads in (1, 2):
    torch.set_num_threads(threads)
    x, t = torch.randn(9, 3, 64, 64), torch.full((9,), 500)
    with torch.inference_mode():
        model.get_eps(x, t)
        started = time.perf_counter()
        for _ in range(3):
            model.get_eps(x, t)
    out[threads] = (time.perf_counter() - started) / 27 * 1000
print(json.dumps(out))
"""


def per_window_ms(extra_env: dict) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    done = subprocess.run([sys.executable, "-c", CHILD], env={**env, **extra_env}, capture_output=True, text=True,
                          check=True)  # fmt: skip
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    rows = []
    for load in ("quiet", "busy"):
        spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if load == "busy" else None
        try:
            for name, extra in SETTINGS.items():
                ms = per_window_ms(extra)
                row = {"setting": name, "load": load, "ms_1_thread": ms["1"], "ms_2_threads": ms["2"]}
                rows.append(row)
                append_result("omp_spin", row)
        finally:
            if spinner is not None:
                spinner.kill()
    print_table("bundled prior, ms per 64-px window (9 windows a forward)", rows)


if __name__ == "__main__":
    main()
