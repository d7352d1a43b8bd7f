"""What finished is recorded whatever happens after (pipeline.sink, pipeline.io, pipeline.interrupt), on real
parts without Ray: a moto S3 server stopped for a moment (retried) or for good (fallback ledger), a real
read-only mount, the flush timer, and a real SIGTERM. The same cases through the CLI on a real Ray are in
tests/test_run_failures.py."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time

import pyarrow.parquet as pq
import pytest
from pipeline_helpers import mounted_tmpfs

from pipeline import io, metadata, sink as sink_module
from pipeline.interrupt import RunInterrupted, stop_on_signals
from pipeline.rows import ENCODED_COLUMNS, from_rows
from pipeline.settings import JobSettings
from pipeline.sink import MetadataSink, OutputUnwritable

AWS_DUMMY = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
NO_BOTOCORE_RETRIES = {"config_kwargs": {"retries": {"max_attempts": 1}}}  # only pipeline.io's own retries


def batch(*ids: str, error_type: str = "") -> dict:
    status = "error" if error_type else "ok"
    rows = [{"id": i, "op": "colorize", "params": "{}", "mask_uri": "", "status": status, "error_type": error_type,
             "input_sha256": "a" * 64, "finished_at": time.time()} for i in ids]  # fmt: skip
    return from_rows(rows, ENCODED_COLUMNS)


def sink_for(out: str, options: dict | None = None) -> MetadataSink:
    settings = JobSettings.of(manifest_uri="m.csv", out_uri=out, storage_options=options or {})
    return MetadataSink(settings, "run1", total=10, skipped=0, job_fingerprint="f" * 64)


@pytest.fixture
def moto_server(monkeypatch):
    """A moto S3 server of this test's own, which the test may stop and start again on the same port."""
    from moto.server import ThreadedMotoServer

    for key, value in AWS_DUMMY.items():
        monkeypatch.setenv(key, value)
    servers = [ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)]
    servers[0].start()
    host, port = servers[0].get_host_and_port()

    def restart_after(delay_s: float) -> None:
        def start() -> None:
            time.sleep(delay_s)
            servers.append(ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False))
            servers[-1].start()

        threading.Thread(target=start, daemon=True).start()

    yield {"endpoint_url": f"http://{host}:{port}"}, servers, restart_after
    for server in servers:
        try:
            server.stop()
        except Exception:  # noqa: BLE001 - already stopped
            pass


def test_rows_are_written_while_no_batch_arrives(tmp_path, monkeypatch):
    monkeypatch.setattr(sink_module, "FLUSH_SECONDS", 0.3)
    sink = sink_for(str(tmp_path))
    with sink:
        sink.add(batch("a", "b"))
        deadline = time.time() + 10
        while not sink.parts and time.time() < deadline:  # the timer, not another add, writes them
            time.sleep(0.1)
        assert sink.parts and sink.recorded == 2
    rows = metadata.read_all(str(tmp_path)).to_pylist()
    assert sorted(r["id"] for r in rows) == ["a", "b"] and all(len(r["settings_sha256"]) == 64 for r in rows)


def test_a_brief_s3_outage_is_retried_not_turned_into_errors(moto_server, monkeypatch):
    options, servers, restart_after = moto_server
    options = {**options, **NO_BOTOCORE_RETRIES}
    monkeypatch.setenv(io.RETRY_ENV, "30")
    io.filesystem_for("s3://hiccup", options)[0].mkdir("hiccup")
    servers[0].stop()
    restart_after(2.0)
    started = time.monotonic()
    io.write_bytes_atomic("s3://hiccup/x.png", b"png", options)  # waits the outage out
    assert time.monotonic() - started >= 1.5 and io.read_bytes("s3://hiccup/x.png", options) == b"png"
    started = time.monotonic()
    with pytest.raises(FileNotFoundError):  # permanent: raised at once, not retried for 30 s
        io.write_bytes_atomic("s3://no-such-bucket-y/x.png", b"png", options)
    assert time.monotonic() - started < 5


def test_an_s3_endpoint_gone_for_good_leaves_the_rows_in_a_local_fallback(moto_server, tmp_path, monkeypatch):
    options, servers, _ = moto_server
    monkeypatch.setenv(io.RETRY_ENV, "1")
    monkeypatch.setenv(sink_module.FALLBACK_ENV, str(tmp_path))
    io.filesystem_for("s3://archive", options)[0].mkdir("archive")
    sink = sink_for("s3://archive/out", options)
    sink.add(batch("first"))
    sink.flush()
    assert metadata.read_all("s3://archive/out", options)["id"].to_pylist() == ["first"]
    servers[0].stop()
    sink.add(batch("second", "third"))
    with pytest.raises(OutputUnwritable) as info:
        sink.close()
    assert "s3://archive/out became unwritable" in str(info.value) and "EndpointConnectionError" in str(info.value)
    with pytest.raises(OutputUnwritable):  # no more work is taken once OUT is gone
        sink.add(batch("fourth"))
    fallback = sink.write_fallback()
    assert fallback == str(tmp_path / "part-run1-fallback.parquet")
    saved = pq.read_table(fallback)
    assert saved["id"].to_pylist() == ["second", "third"] and saved.schema.equals(metadata.SCHEMA)


@pytest.fixture
def tmpfs(tmp_path):
    """A real tmpfs that the test can remount read-only (root ignores chmod, not a read-only mount)."""
    yield from mounted_tmpfs(tmp_path / "tmpfs", "size=4m")


def test_an_image_write_failure_stops_the_run_only_when_out_itself_is_gone(tmpfs, tmp_path, monkeypatch):
    monkeypatch.setenv(sink_module.FALLBACK_ENV, str(tmp_path))
    sink = sink_for(str(tmpfs / "out"))
    sink.add(batch("ok1"))
    sink.add(batch("one-file", error_type="OutputWriteFailed"))  # OUT still writable: an error row, go on
    assert sink.failure is None and sink.errors == 1
    subprocess.run(["mount", "-o", "remount,ro", str(tmpfs)], check=True)
    with pytest.raises(OutputUnwritable) as info:
        sink.add(batch("ok2", error_type="OutputWriteFailed"))
    assert "read-only file system" in str(info.value)
    saved = pq.read_table(sink.write_fallback())
    assert saved["id"].to_pylist() == ["ok1", "one-file", "ok2"]


def test_a_full_disk_mid_run_stops_the_run(tmpfs, tmp_path, monkeypatch):
    monkeypatch.setenv(sink_module.FALLBACK_ENV, str(tmp_path))
    sink = sink_for(str(tmpfs / "out"))
    sink.add(batch("ok1"))
    sink.flush()
    with open(tmpfs / "filler", "wb") as f:  # fill the 4 MiB tmpfs
        try:
            while True:
                f.write(bytes(65536))
                f.flush()
        except OSError:
            pass
    with pytest.raises(OutputUnwritable) as info:
        sink.add(batch("ok2", error_type="OutputWriteFailed"))
    assert "No space left on device" in str(info.value)
    assert pq.read_table(sink.write_fallback())["id"].to_pylist() == ["ok2"]


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_raises_run_interrupted_once_and_handlers_are_restored(signum, code):
    before = signal.getsignal(signum)
    with pytest.raises(RunInterrupted) as info:
        with stop_on_signals():
            try:
                os.kill(os.getpid(), signum)
                time.sleep(5)  # the handler raises here, long before this ends
            finally:
                os.kill(os.getpid(), signum)  # a second one, during the clean-up, is ignored
                time.sleep(0.1)
    assert info.value.exit_code == code and signal.getsignal(signum) is before
