"""The run as a whole failing, through the real CLI in a subprocess with its own local Ray: SIGTERM mid-run,
the output's file system turning read-only mid-run, the S3 endpoint going away for good mid-run. Each must
end with one line and its exit code (143, 3, 3), every finished row recorded (in OUT, or in the local
fallback file the line names), and nothing recorded that did not finish. Slow: each starts a Ray."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from pipeline_helpers import grey_photo, write_files, write_manifest

from pipeline import io, metadata

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
ROWS = 6
AWS_DUMMY = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


@pytest.fixture
def archive(tmp_path):
    write_files(tmp_path, {f"scan{i}.png": grey_photo(200 + i) for i in range(ROWS)})
    write_manifest(tmp_path / "m.csv", [{"id": f"scan{i}", "uri": f"scan{i}.png"} for i in range(ROWS)])
    return tmp_path


class Cli:
    """``ddnm-batch run`` in its own process group (the test kills what is left of it at the end)."""

    def __init__(self, archive: Path, out: str, model: str, *extra: str, env: dict | None = None):
        args = [sys.executable, "-m", "pipeline.cli", "run", str(archive / "m.csv"), "--out", out, "--op", "colorize",
                "--model", model, "--steps", "30", "--batch-size", "1", "--device", "cpu", "--num-cpus", "2",
                "--no-report", *extra]  # fmt: skip
        environment = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "RAY_USAGE_STATS_ENABLED": "0",
                       **(env or {})}  # fmt: skip
        environment.pop("RAY_ADDRESS", None)
        self.process = subprocess.Popen(args, cwd=ROOT, env=environment, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True, start_new_session=True)  # fmt: skip

    def finish(self, timeout_s: float = 600) -> tuple[int, str]:
        output, _ = self.process.communicate(timeout=timeout_s)
        return self.process.returncode, output

    def kill_leftovers(self) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def wait_until(condition, timeout_s: float, what: str, cli: Cli):
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if value := condition():
            return value
        if cli.process.poll() is not None:
            raise AssertionError(f"the run ended ({cli.process.returncode}) before {what}:\n{cli.finish()[1]}")
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def last_line(output: str) -> str:
    assert "Traceback" not in output, output
    return output.strip().splitlines()[-1]


def test_sigterm_mid_run_records_what_finished_and_a_rerun_completes(archive, tiny_model_path):
    out = archive / "out"
    cli = Cli(archive, str(out), tiny_model_path)
    try:
        # Three images written: the first has reached the driver by then (it is the rows the driver has received
        # that count as finished; an image whose row is still in flight is simply redone on the re-run).
        wait_until(lambda: len(list((out / "images").glob("*.png"))) >= 3, 600, "three restored images", cli)
        cli.process.send_signal(signal.SIGTERM)
        code, output = cli.finish()
    finally:
        cli.kill_leftovers()
    assert code == 143, output
    line = last_line(output)
    assert line.startswith("interrupted by SIGTERM: stopped;") and "run the same command again" in line
    recorded = metadata.read_all(str(out)).to_pylist()
    assert f"{len(recorded)} finished row(s) recorded" in line and 1 <= len(recorded) < ROWS
    assert all(r["status"] == "ok" and io.exists(r["output_uri"]) for r in recorded)

    code, output = Cli(archive, str(out), tiny_model_path).finish()
    assert code == 0, output
    every = metadata.read_all(str(out)).to_pylist()
    assert sorted(r["id"] for r in every if r["status"] == "ok") == sorted(f"scan{i}" for i in range(ROWS))


def assert_fallback(line: str, out: str, options: dict | None = None) -> list[dict]:
    """The line names the fallback file; its ok rows are exactly images that were written whole; returns its rows."""
    assert "became unwritable" in line and "stopped new work" in line and f"{out}/metadata/" in line
    fallback = line.split(" are in ", 1)[1].split(": copy that file into", 1)[0]
    rows = pq.read_table(fallback).to_pylist()
    ok = [r for r in rows if r["status"] == "ok"]
    assert ok, rows  # the rows restored before OUT went away are not lost
    for row in ok:
        assert io.sha256_hex(io.read_bytes(row["output_uri"], options)) == row["output_sha256"]
    assert {r["error_type"] for r in rows if r["status"] != "ok"} <= {"OutputWriteFailed"}
    return rows


def test_output_turning_read_only_mid_run_ends_with_code_3_and_a_fallback(archive, tiny_model_path, tmp_path):
    mount = tmp_path / "tmpfs"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here")
    cli = Cli(archive, str(mount / "out"), tiny_model_path, env={"DDNM_FALLBACK_DIR": str(tmp_path)})
    try:
        wait_until(lambda: list((mount / "out" / "images").glob("*.png")), 600, "an image", cli)
        subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)
        code, output = cli.finish()
        assert code == 3, output
        line = last_line(output)
        assert "read-only file system" in line
        assert_fallback(line, str(mount / "out"))
    finally:
        cli.kill_leftovers()
        subprocess.run(["umount", "-l", str(mount)])


def test_s3_endpoint_gone_for_good_mid_run_ends_with_code_3_and_a_fallback(archive, tiny_model_path, tmp_path,
                                                                           monkeypatch):  # fmt: skip
    from moto.server import ThreadedMotoServer

    for key, value in AWS_DUMMY.items():
        monkeypatch.setenv(key, value)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    options = {"endpoint_url": f"http://{host}:{port}"}
    fs, _ = io.filesystem_for("s3://archive", options)
    fs.mkdir("archive")
    env = {"DDNM_FALLBACK_DIR": str(tmp_path), "DDNM_STORAGE_RETRY_S": "2", **AWS_DUMMY}
    cli = Cli(archive, "s3://archive/out", tiny_model_path, "--storage-options", json.dumps(options), env=env)
    try:
        def images() -> set[str]:
            names = {os.path.basename(p) for p in io.list_files("s3://archive/out/images", options)}
            return {n for n in names if n.endswith(".png")}  # not the pre-flight's probe objects

        fs.invalidate_cache()
        wait_until(lambda: (fs.invalidate_cache(), images())[1], 600, "an image in the bucket", cli)
        server.stop()
        code, output = cli.finish()
    finally:
        cli.kill_leftovers()
    assert code == 3, output
    line = last_line(output)
    assert "s3://archive/out became unwritable" in line
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)  # the endpoint is back
    server.start()
    try:
        rows = assert_fallback(line, "s3://archive/out", options)
        # The recovery the line asks for: the fallback copied into OUT/metadata/, then the same command again.
        fallback = line.split(" are in ", 1)[1].split(": copy that file into", 1)[0]
        io.write_bytes_atomic(f"s3://archive/out/metadata/{os.path.basename(fallback)}", Path(fallback).read_bytes(),
                              options)  # fmt: skip
        cli = Cli(archive, "s3://archive/out", tiny_model_path, "--storage-options", json.dumps(options), env=env)
        code, output = cli.finish()
        assert code == 0, output
        every = metadata.read_all("s3://archive/out", options).to_pylist()
        ok_ids = [r["id"] for r in every if r["status"] == "ok"]
        assert sorted(set(ok_ids)) == sorted(f"scan{i}" for i in range(ROWS))
        kept = {r["id"] for r in rows if r["status"] == "ok"}
        assert all(ok_ids.count(i) == 1 for i in kept)  # rows in the fallback were not restored again
    finally:
        server.stop()
