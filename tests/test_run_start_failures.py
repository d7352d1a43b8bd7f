"""A run that cannot start, through the real commands in a subprocess: Ray that cannot be started (its temp folder
is not a folder: ``RAY_TMPDIR=/proc/...``, a real ``ray.init`` failure, as a start timing out under load is) and
the scan-then-run entrypoint refused before any work. Each ends with one line and its exit code, no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from pipeline_helpers import grey_photo, write_files, write_manifest

ROOT = Path(__file__).resolve().parents[1]
NO_RAY_TMP = "/proc/no-such-folder"  # Ray's temp folder cannot be created here: ray.init fails, quickly


def command(*args: str, env: dict | None = None, stdout_only: bool = False) -> tuple[int, str]:
    environment = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "RAY_USAGE_STATS_ENABLED": "0",
                   **(env or {})}  # fmt: skip
    environment.pop("RAY_ADDRESS", None)
    done = subprocess.run([sys.executable, "-m", *args], cwd=ROOT, env=environment, capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, done.stdout if stdout_only else done.stdout + done.stderr


def scans(folder: Path) -> Path:
    write_files(folder / "in", {"scan0.png": grey_photo(1), "scan1.png": grey_photo(2)})
    write_manifest(folder / "m.csv", [{"id": f"scan{i}", "uri": str(folder / "in" / f"scan{i}.png")} for i in (0, 1)])
    return folder


def test_run_when_ray_cannot_start_is_one_line_with_the_log(tmp_path, tiny_model_path):
    scans(tmp_path)
    code, output = command("pipeline.cli", "run", str(tmp_path / "m.csv"), "--out", str(tmp_path / "out"), "--op",
                           "colorize", "--model", tiny_model_path, "--device", "cpu", "--num-cpus", "2",
                           "--no-report", env={"RAY_TMPDIR": NO_RAY_TMP})  # fmt: skip
    lines = [line for line in output.splitlines() if line.strip()]
    assert code == 1 and "Traceback" not in output, output
    assert lines[-1].startswith("error: could not start a local Ray cluster in ") and NO_RAY_TMP in lines[-1]
    assert "Ray's output: " in lines[-1], lines[-1]


def test_scan_then_run_refused_or_without_ray_is_one_line_with_run_s_codes(tmp_path, tiny_model_path):
    scans(tmp_path)
    base = ["pipeline.entrypoints.scan_then_run", "--prefix", str(tmp_path / "in"), "--manifest",
            str(tmp_path / "new.csv")]  # fmt: skip
    settings = '{"out_uri": "%s", "op": "colorize", "device": "cpu", "model": "%s"}'
    code, output = command(*base, "--settings", settings % (tmp_path / "out", tmp_path / "missing.safetensors"))
    assert code == 2 and "Traceback" not in output, output
    assert output.strip().splitlines()[-1].startswith("error: ") and "missing.safetensors" in output

    code, output = command(*base, "--settings", settings % (tmp_path / "out", tiny_model_path),
                           env={"RAY_TMPDIR": NO_RAY_TMP}, stdout_only=True)  # fmt: skip
    assert code == 1 and "Traceback" not in output, output  # the job's log is its stdout; Ray's notes go to stderr
    assert output.strip().splitlines()[-1].startswith("error: could not start a local Ray cluster in "), output

    code, output = command(*base, "--settings", "{not json")
    assert code == 2 and "Traceback" not in output and "--settings must be a JSON object" in output, output
