"""Refused before any work, exit 2, one line: an OUT that cannot take results (real file-system cases: /proc,
below a file, a file, a read-only mount; an S3 endpoint nobody answers), a manifest that is only a BOM, a
model that does not load (missing, refused pickle); and ``restore``'s output path, before restoring."""

from __future__ import annotations

import json
import socket
import subprocess
import time
from pathlib import Path

import pytest
import torch
from pipeline_helpers import grey_photo, mounted_tmpfs, write_files, write_manifest
from typer.testing import CliRunner

from pipeline import io, preflight
from pipeline import run as run_module
from pipeline.cli import app


@pytest.fixture
def archive(tmp_path, monkeypatch):
    """Two scans and a manifest; ``connect_ray`` fails the test if a refused job gets as far as Ray."""
    write_files(tmp_path, {"a.png": grey_photo(0), "b.png": grey_photo(1)})
    write_manifest(tmp_path / "m.csv", [{"id": "a", "uri": "a.png"}, {"id": "b", "uri": "b.png"}])
    (tmp_path / "a-file").write_text("not a folder")

    def no_ray(settings):
        raise AssertionError("a refused job must not start Ray")

    monkeypatch.setattr(run_module, "connect_ray", no_ray)
    return tmp_path


def refused(args: list[str]) -> str:
    """Run the CLI; assert exit 2 with one line and no traceback; return that line."""
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and result.exception is None or isinstance(result.exception, SystemExit)
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    return lines[0]


def run_args(archive: Path, out: str, *extra: str) -> list[str]:
    return ["run", str(archive / "m.csv"), "--out", out, "--op", "colorize", "--steps", "1", *extra]


@pytest.mark.parametrize(("out", "why"), [
    ("/proc/ddnm-batch-out", "does not exist and cannot be created"),
    ("{archive}/a-file/out", "is a file, not a folder"),
    ("{archive}/a-file", "is a file, not a folder"),
])  # fmt: skip
def test_unwritable_out_is_refused_before_any_work(archive, out, why):
    line = refused(run_args(archive, out.format(archive=archive)))
    assert "cannot write results under" in line and why in line


@pytest.fixture
def read_only_mount(tmp_path):
    """A real read-only file system (a tmpfs remounted ro): root ignores chmod, not this. Skipped where
    mounting is not allowed."""
    yield from mounted_tmpfs(tmp_path / "ro", "size=1m,ro")


def test_read_only_out_is_refused(archive, read_only_mount):
    line = refused(run_args(archive, str(read_only_mount / "out")))
    assert "read-only file system" in line


def test_out_whose_metadata_folder_alone_is_read_only_is_refused(archive, read_only_mount, tmp_path):
    """Images could be written but not the ledger: the worst case of all (work done, nothing recorded)."""
    out = tmp_path / "out"
    (out / "images").mkdir(parents=True)
    (out / "metadata").mkdir()
    subprocess.run(["mount", "--bind", str(read_only_mount), str(out / "metadata")], check=True)
    try:
        line = refused(run_args(archive, str(out)))
    finally:
        subprocess.run(["umount", str(out / "metadata")], check=True)
    assert "read-only file system" in line and "metadata" in line


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_s3_endpoint_is_refused_in_seconds(archive, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    options = json.dumps({"endpoint_url": f"http://127.0.0.1:{free_port()}"})
    started = time.monotonic()
    line = refused(run_args(archive, "s3://nobody-home/out", "--storage-options", options))
    assert "cannot write results under s3://nobody-home/out" in line and "EndpointConnectionError" in line
    assert time.monotonic() - started < 60


def test_s3_probe_leaves_nothing_behind(s3_endpoint):
    options = {"endpoint_url": s3_endpoint}
    fs, _ = io.filesystem_for("s3://probe-bucket", options)
    fs.mkdir("probe-bucket")
    assert preflight.output_problem("s3://probe-bucket/out", options) is None
    assert fs.find("probe-bucket") == []
    assert "does not exist" in preflight.output_problem("s3://no-such-bucket-x/out", options)


@pytest.mark.parametrize(("content", "why"), [
    (b"\xef\xbb\xbf", "manifest is empty"), (b"\xef\xbb\xbf\n", "manifest is empty"),
    (b"\xef\xbb\xbf\r\n\r\n", "manifest is empty"),
    ("id,uri\na,a.png\n".encode("utf-16"), "is not UTF-8 text"),  # a spreadsheet's "Unicode text"
    (b"id,uri\n\xe9t\xe9,a.png\n", "is not UTF-8 text"),  # Latin-1
])  # fmt: skip
def test_a_manifest_that_is_only_a_byte_order_mark_or_not_utf8_is_refused(archive, content, why):
    (archive / "bom.csv").write_bytes(content)
    line = refused(["run", str(archive / "bom.csv"), "--out", str(archive / "out"), "--op", "colorize"])
    assert why in line


class NotATensor:  # pickled into a checkpoint: torch.load(weights_only=True) must refuse it
    pass


def test_run_refuses_a_model_that_does_not_load(archive, tiny_model_path):
    line = refused(run_args(archive, str(archive / "out"), "--model", str(archive / "missing.safetensors")))
    assert "cannot use --model" in line and "no weight file" in line
    evil = archive / "evil.pt"
    torch.save({"weight": torch.zeros(1), "payload": NotATensor()}, evil)
    evil.with_suffix(".json").write_text(Path(tiny_model_path).with_suffix(".json").read_text())
    line = refused(run_args(archive, str(archive / "out"), "--model", str(evil)))
    assert "cannot use --model" in line and "refused to load" in line


def test_restore_refuses_an_unwritable_output_before_restoring(archive, monkeypatch):
    import ddnm.models

    def no_model(*args, **kwargs):
        raise AssertionError("the output path must be checked before the model loads")

    monkeypatch.setattr(ddnm.models, "load", no_model)
    source = str(archive / "a.png")
    for out, why in ((archive / "a-file" / "x.png", "is a file, not a folder"), (archive, "it is a folder"),
                     (Path("/proc/ddnm-x.png"), "cannot be created")):  # fmt: skip
        line = refused(["restore", source, str(out), "--op", "colorize"])
        assert f"cannot write {out}" in line and why in line
