"""`ddnm-batch --help`, `status`, `logs` must start fast: the CLI module may not import torch (or the engine).

It reads the torch-free settings dataclasses (``ddnm.settings`` and what it imports) to make its options from
their fields, and the operator registry (``ddnm.operators.registry``) for the operators it takes; nothing else of
``ddnm`` may load.
"""

from __future__ import annotations

import subprocess
import sys

TORCH_FREE = {"ddnm", "ddnm.settings", "ddnm.guidance_params", "ddnm.tiling", "ddnm.tiling.settings", "ddnm.tiling.plan",
              "ddnm.operators", "ddnm.operators.registry"}


def test_cli_starts_without_torch():
    probe = ("import sys, pipeline.cli; print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.') "
             "or m == 'ddnm' or m.startswith('ddnm.')))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True)
    loaded = set(eval(out.stdout.strip()))  # noqa: S307 - our own probe's list literal
    assert loaded <= TORCH_FREE, out.stdout + out.stderr
