"""Ray's token file is owner-only wherever the project makes Ray write one (pipeline.cluster.protect_token_file,
called around the job's ray.init): Ray 2.60 writes ~/.ray/auth_token with the umask, readable by all."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.cluster import protect_token_file

ROOT = Path(__file__).resolve().parents[1]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_world_readable_token_and_its_folder_are_made_owner_only(tmp_path):
    token = tmp_path / ".ray" / "auth_token"
    token.parent.mkdir(mode=0o755)
    token.write_text("secret")
    token.chmod(0o644)
    protect_token_file(token)
    assert (mode(token.parent), mode(token)) == (0o700, 0o600)


def test_the_folder_is_made_owner_only_before_any_token_exists(tmp_path):
    protect_token_file(tmp_path / "fresh" / ".ray" / "auth_token")
    assert mode(tmp_path / "fresh" / ".ray") == 0o700


@pytest.mark.slow
def test_the_token_a_local_run_generates_is_owner_only(tmp_path):
    """A real local Ray in a fresh HOME (token auth on by default, Ray generates the token)."""
    script = ("from pipeline.run import connect_ray\nfrom pipeline.settings import JobSettings\nimport ray\n"
              "connect_ray(JobSettings.of(manifest_uri='m.csv', out_uri='out', num_cpus=1))\nray.shutdown()\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env.update(HOME=str(tmp_path), PYTHONPATH=str(ROOT), RAY_USAGE_STATS_ENABLED="0")
    subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, check=True, timeout=300, capture_output=True)
    token = tmp_path / ".ray" / "auth_token"
    assert token.read_text().strip() and (mode(token.parent), mode(token)) == (0o700, 0o600)
