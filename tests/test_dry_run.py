"""``ddnm-batch run --dry-run`` (``pipeline.plan``): every check a run makes before Ray starts, and each manifest
row's state against the ledger (new, settings changed, finished), with nothing restored or recorded."""

from __future__ import annotations

import os

from pipeline_helpers import TEST_MAX_PIXELS, grey_photo, write_files, write_manifest
from typer.testing import CliRunner

from pipeline import metadata
from pipeline.cli import app


def test_a_dry_run_says_what_a_run_would_do_and_restores_nothing(tiny_model_path, ray_local, tmp_path):
    write_files(tmp_path, {f"g{i}.png": grey_photo(i) for i in range(3)})
    manifest = write_manifest(tmp_path / "m.csv", [{"id": f"g{i}", "uri": f"g{i}.png"} for i in range(2)])
    out = str(tmp_path / "out")
    common = ["run", manifest, "--out", out, "--op", "colorize", "--model", tiny_model_path, "--steps", "2",
              "--device", "cpu", "--max-pixels", str(TEST_MAX_PIXELS)]  # fmt: skip

    def plan(*extra) -> str:
        result = CliRunner().invoke(app, [*common, *extra, "--dry-run"])
        assert result.exit_code == 0, result.output
        return " ".join(result.output.split())

    assert "to restore: new │ 2" in plan() and metadata.part_uris(out) == []  # OUT is probed, nothing written
    assert not os.path.exists(os.path.join(out, "images")) or not os.listdir(os.path.join(out, "images"))
    assert CliRunner().invoke(app, [*common, "--no-report"]).exit_code == 0
    write_manifest(tmp_path / "m.csv", [{"id": f"g{i}", "uri": f"g{i}.png"} for i in range(3)])
    text = plan()
    assert "to restore: new │ 1" in text and "finished (skipped unless the scan changed) │ 2" in text
    changed = plan("--steps", "3")
    assert "to restore: settings changed │ 2" in changed and "new │ 1" in changed and "colorize │ 3" in changed
    bad = CliRunner().invoke(app, ["run", str(tmp_path / "nowhere.csv"), "--out", out, "--dry-run"])
    assert bad.exit_code == 2 and "Traceback" not in bad.output
