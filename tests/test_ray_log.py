"""Ray's output goes to a log file while a run is on; what the CLI draws goes to the user's terminal.

Checked on real file descriptors in a child process (as a user's shell runs it): Python-level writes to
``sys.stderr`` (Ray's loggers) and C-level writes to descriptor 2 (Ray's core worker) land in the log; the
terminal stream the CLI gets still reaches the original stderr; both descriptors are restored afterwards.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

CHILD = r"""
import os, sys
from pipeline.ray_log import ray_output_to_log
with ray_output_to_log("s3://bucket/out") as log:
    print("python stderr noise", file=sys.stderr, flush=True)
    print("python stdout noise", flush=True)
    os.write(2, b"[E core_worker.cc] C-level noise\n")
    log.terminal.write("progress bar\n")
    log.terminal.flush()
print("after", file=sys.stderr, flush=True)
print(log.path)
"""


def test_ray_noise_goes_to_the_log_and_the_bar_to_the_terminal():
    done = subprocess.run([sys.executable, "-c", CHILD], cwd=REPO, capture_output=True, text=True, timeout=60,
                          env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines() == ["progress bar", "after"]
    path = Path(done.stdout.strip())
    log = path.read_text()
    assert "python stderr noise" in log and "python stdout noise" in log and "C-level noise" in log
    assert "progress bar" not in log
    path.unlink()
