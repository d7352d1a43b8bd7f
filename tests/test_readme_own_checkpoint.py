"""The README's own-checkpoint example, run as written: a fresh clone's ``.venv/bin`` commands, in a scratch folder.

The commands are read from the README between ``<!-- own-checkpoint:begin -->`` and ``<!-- own-checkpoint:end -->``,
so the test and the README cannot drift apart. The folder holds links to the clone's ``examples/`` and to the
virtual environment running this test, so the example writes nothing into the checkout.
"""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]


def readme_commands(marker: str) -> list[str]:
    text = (ROOT / "README.md").read_text()
    block = text.split(f"<!-- {marker}:begin -->")[1].split(f"<!-- {marker}:end -->")[0]
    lines = block.strip().removeprefix("```bash").removesuffix("```").strip().splitlines()
    return [line.split("    #")[0].strip() for line in lines if line.strip()]


def test_readme_own_checkpoint_example_restores_consistently(tmp_path):
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    (tmp_path / ".venv").symlink_to(Path(sys.prefix))  # the README's .venv: the one running this test
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # this checkout's code, also from a worktree
    commands = readme_commands("own-checkpoint")
    assert len(commands) == 2 and commands[0].startswith(".venv/bin/python examples/own_checkpoint.py")
    for command in commands:
        done = subprocess.run(shlex.split(command), cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=600)
        assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
    weights = tmp_path / "out" / "my-prior.safetensors"
    out = Image.open(tmp_path / "out" / "hopper_x2.png")
    assert out.size == (128, 128)  # the 64×64 example scan, ×2
    xmp = out.text["XML:com.adobe.xmp"]
    fields = dict(re.findall(r'ddnm:(\w+)="([^"]*)"', xmp))
    assert fields["model"] == "my-prior"
    assert fields["weightsSha256"] == hashlib.sha256(weights.read_bytes()).hexdigest()
    assert float(fields["residual"]) < 1e-4, fields["residual"]  # ‖A x̂ − y‖/‖y‖: the range space is kept
