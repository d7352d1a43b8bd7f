"""Ledger compaction (``pipeline.compact``, ``ddnm-batch compact``): many parts become one that reads the same,
in the same order (so "latest" stays latest), on disk and on a real S3 API; a compaction stopped after writing
the merged part reads the same; a run after it resumes and adds parts that sort after it."""

from __future__ import annotations

import hashlib
import os

import pytest
from pipeline_helpers import TEST_MAX_PIXELS, grey_photo, write_files, write_manifest
from typer.testing import CliRunner

from pipeline import compact as compaction
from pipeline import io, metadata
from pipeline.cli import app
from pipeline.run import run_job
from pipeline.settings import JobSettings


def write_ledger(out: str, options: dict | None = None) -> list[str]:
    """Three runs of parts: ``a`` fails then succeeds, ``b`` succeeds then fails (its ok row stays the latest ok),
    ``c`` succeeds twice (the later one is the latest)."""
    runs = [
        [{"id": "a", "status": "error", "error_type": "CorruptImage"}, {"id": "b", "status": "ok", "steps": 1}],
        [{"id": "a", "status": "ok", "steps": 2}, {"id": "c", "status": "ok", "steps": 3}],
        [{"id": "b", "status": "error", "error_type": "NotFound"}, {"id": "c", "status": "ok", "steps": 4}],
    ]
    uris = []
    for number, rows in enumerate(runs):
        run_id = f"2026120{number + 1}T000000Z-abcdef"
        for part, row in enumerate(rows):  # one row a part, as a run flushing every 30 s writes them
            uris.append(metadata.write_part(metadata.table_from_rows([{**row, "run_id": run_id}]), out, run_id, part,
                                            options))  # fmt: skip
    return uris


def latest(out: str, options: dict | None = None) -> dict[str, tuple]:
    rows = metadata.latest_rows(metadata.read_all(out, options)).to_pylist()
    return {r["id"]: (r["status"], r["steps"], r["run_id"]) for r in rows}


@pytest.fixture(params=["local", "s3"])
def ledger_out(request, tmp_path):
    if request.param == "local":
        return str(tmp_path / "out"), None
    endpoint = request.getfixturevalue("s3_endpoint")
    options = {"endpoint_url": endpoint, "key": "testing", "secret": "testing"}
    bucket = "compact-" + hashlib.sha256(os.urandom(8)).hexdigest()[:8]
    io.filesystem_for(f"s3://{bucket}", options)[0].mkdir(bucket)
    return f"s3://{bucket}/out", options


def test_the_merged_part_reads_the_same_in_the_same_order(ledger_out):
    out, options = ledger_out
    write_ledger(out, options)
    before, before_latest = metadata.read_all(out, options), latest(out, options)
    assert before_latest == {"a": ("ok", 2, "20261202T000000Z-abcdef"), "b": ("ok", 1, "20261201T000000Z-abcdef"),
                             "c": ("ok", 4, "20261203T000000Z-abcdef")}  # fmt: skip
    done = compaction.compact(out, options)
    assert (done.parts, done.rows, done.left) == (6, 6, 0)
    assert [metadata.part_name(u) for u in metadata.part_uris(out, options)] == [
        "part-20261203T000000Z-abcdef-000001.compact.parquet"]
    assert metadata.read_all(out, options).equals(before) and latest(out, options) == before_latest
    # A later run's part sorts after the merged one, so it is the latest.
    metadata.write_part(metadata.table_from_rows([{"id": "a", "status": "ok", "steps": 9, "run_id": "r4"}]), out,
                        "20261204T000000Z-abcdef", 0, options)  # fmt: skip
    assert latest(out, options)["a"][1] == 9
    again = compaction.compact(out, options)
    assert (again.parts, again.rows) == (2, 7) and latest(out, options)["a"][1] == 9
    assert len(metadata.part_uris(out, options)) == 1
    assert compaction.compact(out, options).uri is None  # one part: nothing to do


def test_a_compaction_stopped_before_its_deletions_reads_the_same(tmp_path, monkeypatch):
    out = str(tmp_path / "out")
    write_ledger(out)
    before = metadata.read_all(out)
    monkeypatch.setattr(io, "remove_many", lambda uris, storage_options=None: len(uris))  # stopped: none deleted
    done = compaction.compact(out)
    assert (done.parts, done.left) == (6, 6) and len(metadata.part_uris(out)) == 7
    assert metadata.read_all(out).equals(before)  # the merged part's footer replaces the six still there
    monkeypatch.undo()
    cleaned = compaction.compact(out)  # the next compaction deletes what is left
    assert (cleaned.parts, cleaned.rows, cleaned.left) == (7, 6, 0) and len(metadata.part_uris(out)) == 1
    assert metadata.read_all(out).equals(before)


def test_remove_many_counts_what_is_left(tmp_path):
    files = [tmp_path / name for name in ("a", "b", "c")]
    for path in files[:2]:
        path.write_bytes(b"x")
    assert io.remove_many([str(p) for p in files]) == 0  # "c" was never there: gone counts as deleted
    assert not any(p.exists() for p in files)
    (tmp_path / "keep").mkdir()
    (tmp_path / "keep" / "inside").write_bytes(b"x")  # a folder with a file is no file: it stays
    assert io.remove_many([str(tmp_path / "keep")]) == 1 and (tmp_path / "keep").exists()


def test_a_compaction_that_sees_another_changes_nothing(tmp_path, monkeypatch):
    out = str(tmp_path / "out")
    write_ledger(out)
    listed = metadata.part_uris(out)
    calls = iter([listed, [*listed, io.join(metadata.metadata_dir(out), "part-x.compact.parquet")]])
    monkeypatch.setattr(metadata, "part_uris", lambda *args: next(calls))
    with pytest.raises(compaction.CompactionConflict, match="another compaction wrote part-x.compact.parquet"):
        compaction.compact(out)
    monkeypatch.undo()
    assert metadata.part_uris(out) == listed  # nothing written, nothing deleted


def test_a_run_after_compaction_resumes(tiny_model_path, ray_local, tmp_path):
    write_files(tmp_path, {"g0.png": grey_photo(0), "g1.png": grey_photo(1)})
    manifest = write_manifest(tmp_path / "m.csv", [{"id": "g0", "uri": "g0.png"}, {"id": "g1", "uri": "g1.png"}])
    out = str(tmp_path / "out")
    options = dict(manifest_uri=manifest, out_uri=out, op="colorize", model=tiny_model_path, steps=2, batch_size=1,
                   device="cpu", max_pixels=TEST_MAX_PIXELS)  # fmt: skip
    assert run_job(JobSettings.of(**options)).ok == 2
    assert run_job(JobSettings.of(**{**options, "steps": 3})).ok == 2  # changed settings: restored again, a second part
    assert len(metadata.part_uris(out)) == 2
    result = CliRunner().invoke(app, ["compact", out])
    assert result.exit_code == 0 and "merged 2 parts (4 rows)" in " ".join(result.output.split()), result.output
    parts = metadata.part_uris(out)
    assert len(parts) == 1 and metadata.is_compacted(parts[0])
    again = run_job(JobSettings.of(**{**options, "steps": 3}))
    assert (again.ok, again.skipped) == (0, 2)  # the merged ledger still says both are finished, by the later run
    assert run_job(JobSettings.of(**options)).ok == 2  # and the first run's settings are no longer the latest
    missing = CliRunner().invoke(app, ["compact", str(tmp_path / "nowhere")])
    assert missing.exit_code == 2 and "no ledger under" in missing.output and "Traceback" not in missing.output


def test_the_run_summary_suggests_compaction_for_a_ledger_of_many_parts():
    from rich.console import Console

    from pipeline.commands.run import _print_summary
    from pipeline.compact import MANY_PARTS
    from pipeline.run import JobSummary

    for parts, hinted in ((MANY_PARTS - 1, False), (MANY_PARTS, True)):
        console = Console(record=True, width=200)
        _print_summary(console, JobSummary("r", 1, 1, 0, 0, ledger_parts=parts, out_uri="s3://b/out"), "ray.log")
        assert ("`ddnm-batch compact s3://b/out` merges them" in console.export_text()) == hinted

