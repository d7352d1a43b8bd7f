"""`ddnm-batch --help`, `status`, `logs` must start fast: the CLI module may not import torch (or the engine)."""

from __future__ import annotations

import subprocess
import sys


def test_cli_starts_without_torch():
    probe = "import sys, pipeline.cli; print(sorted(m for m in ('torch', 'ddnm') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
