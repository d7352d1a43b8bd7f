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

import pytest
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


@pytest.mark.slow  # ~1-2 min on a 2-core CPU: a 114 M-parameter network at 256×256
def test_readme_pt_checkpoint_example_with_arch_and_preset(tmp_path):
    """The README's ``.pt`` line with ``--arch ddpm --preset celeba_hq``, on a random-weights stand-in of SDEdit's
    ``celeba_hq.ckpt`` (a plain state_dict, no sidecar JSON), with ``--steps 2`` appended to keep it short."""
    import torch

    from ddnm.models.registry import ARCHS, DDPM_PRESETS

    (tmp_path / "examples").symlink_to(ROOT / "examples")
    (tmp_path / ".venv").symlink_to(Path(sys.prefix))
    torch.manual_seed(0)
    net = ARCHS["ddpm"](**DDPM_PRESETS["celeba_hq"])
    torch.save(net.state_dict(), tmp_path / "celeba_hq.ckpt")
    [command] = readme_commands("own-checkpoint-pt")
    assert "--model celeba_hq.ckpt --arch ddpm --preset celeba_hq" in command
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([*shlex.split(command), "--steps", "2"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=900)
    assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
    out = Image.open(tmp_path / "out" / "hopper_x4.png")
    assert out.size == (256, 256)  # the 64×64 example scan, ×4: one window of the 256-px prior
    fields = dict(re.findall(r'ddnm:(\w+)="([^"]*)"', out.text["XML:com.adobe.xmp"]))
    assert fields["model"] == "celeba_hq" and float(fields["residual"]) < 1e-4


def test_pt_checkpoint_that_does_not_fit_its_preset_is_one_line(tmp_path):
    """``--arch/--preset`` reach the loader: a ``.pt`` of another shape is refused with one line, exit 2."""
    import torch

    from ddnm.models.adm import create_model

    torch.save(create_model(image_size=32, num_channels=32, num_res_blocks=1, channel_mult="1,2",
                            attention_resolutions="16", num_heads=2).state_dict(), tmp_path / "small.pt")
    done = subprocess.run([str(Path(sys.prefix) / "bin" / "ddnm-batch"), "restore",
                           str(ROOT / "examples/images/hopper_gray.png"), str(tmp_path / "out.png"), "--op",
                           "sr_bicubic", "--scale", "2", "--model", str(tmp_path / "small.pt"), "--arch", "adm",
                           "--preset", "imagenet256_uncond"], env={**os.environ, "PYTHONPATH": str(ROOT)},
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr and "small.pt" in done.stderr and not (tmp_path / "out.png").exists()
