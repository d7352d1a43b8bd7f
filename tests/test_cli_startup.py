"""`ddnm-batch --help`, `status`, `logs` must start fast: the CLI module may not import torch (or the engine).

It reads the torch-free settings dataclasses (``ddnm.settings`` and what it imports) to make its options from
their fields, and the operator registry (``ddnm.operators.registry``) for the operators it takes; nothing else of
``ddnm`` may load.
"""

from __future__ import annotations

import subprocess
import sys

TORCH_FREE = {"ddnm", "ddnm.settings", "ddnm.model_spec", "ddnm.guidance_params", "ddnm.tiling", "ddnm.tiling.settings",
              "ddnm.tiling.plan", "ddnm.operators", "ddnm.operators.registry"}


def test_cli_starts_without_torch():
    probe = ("import sys, pipeline.cli; print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.') "
             "or m == 'ddnm' or m.startswith('ddnm.')))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True)
    loaded = set(eval(out.stdout.strip()))  # noqa: S307 - our own probe's list literal
    assert loaded <= TORCH_FREE, out.stdout + out.stderr


def test_the_cli_shortens_openmp_spinning_unless_the_user_chose():
    """A short libgomp spin (set before torch loads) keeps a 2-thread restore from collapsing when another process
    holds a core; a value already in the environment is left alone."""
    import os
    import subprocess
    import sys

    code = "import sys, os, pipeline.cli; print(os.environ['GOMP_SPINCOUNT'], 'torch' in sys.modules)"
    env = {k: v for k, v in os.environ.items() if k != "GOMP_SPINCOUNT"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.split() == ["10000", "False"]  # set, and torch not yet loaded (it reads the variable when it loads)
    out = subprocess.run([sys.executable, "-c", code], env={**env, "GOMP_SPINCOUNT": "7"}, capture_output=True,
                         text=True, check=True).stdout  # fmt: skip
    assert out.split()[0] == "7"
