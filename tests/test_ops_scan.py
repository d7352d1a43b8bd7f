"""``scan``: list a prefix on a real S3 API (moto) and on disk, keep only images not yet restored."""

from __future__ import annotations

import hashlib
import os
import time
from datetime import datetime, timedelta, timezone

import pytest
from pipeline_helpers import grey_photo
from typer.testing import CliRunner

from pipeline.entrypoints.scan_then_run import main as scan_then_run
from pipeline import io, metadata
from pipeline.cli import app
from pipeline.manifest import read_manifest
from pipeline.scan import ScanSettings, parse_since, scan

IMAGES = ("2024/box-1/a.png", "2024/box-1/b.jpg", "c.TIF")
OTHER_FILES = ("notes.txt", ".hidden.png", "2024/.tmp-123-a.png")




def mark_restored(out_uri: str, row_id: str, status: str, options: dict) -> None:
    """What a finished run leaves: the output image (for ok rows) and a metadata part."""
    output_uri = io.output_uri_for(out_uri, row_id) if status == "ok" else ""
    if output_uri:
        io.write_bytes_atomic(output_uri, grey_photo(9), options)
    table = metadata.table_from_rows([{"id": row_id, "status": status, "output_uri": output_uri}])
    metadata.write_part(table, out_uri, metadata.new_run_id(), 0, options)


@pytest.fixture
def s3_prefix(s3_endpoint):
    """Images and non-images under s3://BUCKET/in, with the ledger (out folder) inside the prefix."""
    bucket = "scan-" + hashlib.sha256(os.urandom(8)).hexdigest()[:8]
    options = {"endpoint_url": s3_endpoint}
    fs, _ = io.filesystem_for(f"s3://{bucket}", options)
    fs.mkdir(bucket)
    for key in IMAGES + OTHER_FILES:
        io.write_bytes_atomic(f"s3://{bucket}/in/{key}", grey_photo(len(key)), options)
    out = f"s3://{bucket}/in/restored"
    mark_restored(out, "2024/box-1/a.png", "ok", options)
    mark_restored(out, "c.TIF", "error", options)  # failed rows are offered again
    return f"s3://{bucket}/in", out, options


def test_scan_lists_only_unrestored_images(s3_prefix):
    prefix, out, options = s3_prefix
    found = scan(ScanSettings(prefix_uri=prefix, ledger_uri=out, storage_options=options))
    assert [i.id for i in found.new] == ["2024/box-1/b.jpg", "c.TIF"]
    assert (found.listed, found.restored, found.older) == (3, 1, 0)
    assert found.new[0].uri == f"{prefix}/2024/box-1/b.jpg"
    assert found.new[0].size == len(grey_photo(len("2024/box-1/b.jpg")))
    assert abs(found.new[0].modified - datetime.now(timezone.utc)) < timedelta(minutes=10)
    # Without a ledger nothing says restored/ is an output folder: its PNG is listed like any image.
    everything = scan(ScanSettings(prefix_uri=prefix, storage_options=options))
    assert [i.id for i in everything.new] == sorted([*IMAGES, io.output_uri_for("restored", "2024/box-1/a.png")])


def test_since_drops_older_objects(s3_prefix):
    prefix, out, options = s3_prefix
    later = scan(ScanSettings(prefix_uri=prefix, since=datetime.now(timezone.utc) + timedelta(hours=1),
                              ledger_uri=out, storage_options=options))  # fmt: skip
    assert (later.new, later.older, later.listed) == ((), 3, 3)
    earlier = scan(ScanSettings(prefix_uri=prefix, since=parse_since("2000-01-01"), ledger_uri=out,
                                storage_options=options))  # fmt: skip
    assert (len(earlier.new), earlier.older, earlier.restored) == (2, 0, 1)


def test_scan_command_writes_a_manifest_the_pipeline_accepts(s3_prefix):
    prefix, out, options = s3_prefix
    manifest = prefix.removesuffix("/in") + "/manifests/next.parquet"
    storage = f'{{"endpoint_url": "{options["endpoint_url"]}"}}'
    result = CliRunner().invoke(app, ["scan", prefix, "--out", manifest, "--ledger", out, "--op", "colorize",
                                      "--storage-options", storage])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().splitlines()[-1] == "2"
    rows = read_manifest(manifest, None, options)
    assert [(r.id, r.op, r.uri) for r in rows] == [
        ("2024/box-1/b.jpg", "colorize", f"{prefix}/2024/box-1/b.jpg"),
        ("c.TIF", "colorize", f"{prefix}/c.TIF"),
    ]
    assert '"modified": "20' in rows[0].extra and '"size": "' in rows[0].extra


def test_scan_on_disk_uses_file_times_and_stable_ids(tmp_path):
    for name in ("old.png", "new.png", "sub/deeper.jpeg"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(grey_photo(1))
    week_ago = time.time() - 7 * 86400
    os.utime(tmp_path / "old.png", (week_ago, week_ago))
    since = datetime.now(timezone.utc) - timedelta(days=1)
    found = scan(ScanSettings(prefix_uri=str(tmp_path), since=since))
    assert [(i.id, i.uri) for i in found.new] == [("new.png", str(tmp_path / "new.png")),
                                                  ("sub/deeper.jpeg", str(tmp_path / "sub/deeper.jpeg"))]  # fmt: skip
    assert found.older == 1
    assert scan(ScanSettings(prefix_uri=str(tmp_path / "missing"))).listed == 0


def test_scan_then_run_with_nothing_new_ends_without_a_run(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.png").write_bytes(grey_photo(1))
    mark_restored(str(tmp_path / "out"), "a.png", "ok", {})
    manifest = str(tmp_path / "m.csv")
    settings = f'{{"out_uri": "{tmp_path / "out"}", "op": "colorize"}}'
    assert scan_then_run(str(tmp_path / "in"), manifest, settings) == 0
    assert (tmp_path / "m.csv").read_text().strip() == '"id","uri","op","size","modified"'


def test_scan_then_run_compacts_a_ledger_of_many_parts_first(tmp_path, capsys, monkeypatch):
    from pipeline.entrypoints import scan_then_run as entry

    monkeypatch.setattr(entry, "MANY_PARTS", 3)  # three parts count as many here
    (tmp_path / "in").mkdir()
    for name in ("a.png", "b.png", "c.png"):
        (tmp_path / "in" / name).write_bytes(grey_photo(1))
        mark_restored(str(tmp_path / "out"), name, "ok", {})  # three runs, a part each
    settings = f'{{"out_uri": "{tmp_path / "out"}", "op": "colorize"}}'
    assert scan_then_run(str(tmp_path / "in"), str(tmp_path / "m.csv"), settings) == 0
    assert "ledger: merged 3 parts (3 rows)" in capsys.readouterr().out
    parts = metadata.part_uris(str(tmp_path / "out"))
    assert len(parts) == 1 and metadata.is_compacted(parts[0])  # and all three are still finished: nothing new


def test_bad_scan_options_are_explained():
    with pytest.raises(ValueError, match="ISO date"):
        parse_since("last tuesday")
    with pytest.raises(ValueError, match="extensions"):
        ScanSettings(prefix_uri="x", extensions=("png",))
    result = CliRunner().invoke(app, ["scan", "/nonexistent", "--out", "m.txt"])
    assert result.exit_code == 2 and "must end in .parquet or .csv" in result.output
