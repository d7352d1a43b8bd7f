"""Colour at the working size through the pipeline and the CLI: the default for colorize / old_photo, recorded."""

from __future__ import annotations

import time
from io import BytesIO

import numpy as np
import pytest
from PIL import Image
from pipeline_helpers import TEST_MAX_PIXELS, good_files, write_files
from test_cli_guidance import pixels, provenance
from test_pipeline_restore_stage import by_id, decoded
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.metadata import table_from_rows
from pipeline.restore_stage import RestoreStage
from pipeline.settings import JobSettings


def _big_scan(height: int, width: int) -> bytes:
    """An 8-bit gray scan with edges and gradients."""
    rows, cols = np.mgrid[0:height, 0:width]
    gray = 128 + 90 * np.sin(rows / 97.0) * np.cos(cols / 131.0) + 30 * ((cols // 200) % 2)
    buffer = BytesIO()
    Image.fromarray(np.clip(gray, 0, 255).astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    path = tmp_path_factory.mktemp("colour")
    write_files(path, {**good_files(), "wide.png": _big_scan(40, 90)})
    return path


def test_stage_colours_at_the_working_size_and_records_it(folder, tiny_model_path):
    settings = JobSettings.of(str(folder / "m.csv"), str(folder / "out"), op="colorize", model=tiny_model_path, steps=2,
                           batch_size=2, device="cpu", max_pixels=TEST_MAX_PIXELS)  # fmt: skip
    records = [{"id": "wide", "uri": "wide.png", "op": "", "mask_uri": "", "params": ""},
               {"id": "old", "uri": "grey0.png", "op": "old_photo", "mask_uri": "mask.png", "params": ""}]
    rows = by_id(RestoreStage(settings)(decoded(settings, records)))
    for row in rows.values():
        assert row["status"] == "ok", row["error_message"]
        assert row["work_size"] == 32  # the tiny prior's window: the default working size
        assert row["samples"] == 8 and row["uncertainty"] > 0  # K = 8 at the working size by default
        assert row["consistency_residual"] < 1e-5  # exact at full size
    table = table_from_rows(list(rows.values()))
    assert table.column("work_size").to_pylist() == [32, 32]
    off = JobSettings.of(str(folder / "m.csv"), str(folder / "out2"), op="colorize", model=tiny_model_path, steps=2,
                      device="cpu", max_pixels=TEST_MAX_PIXELS, work_size=0)  # fmt: skip
    row = by_id(RestoreStage(off)(decoded(off, records[:1])))["wide"]
    assert row["work_size"] == -1 and row["tiles"] > 1  # off: full size in windows, as before


def test_cli_restores_a_1600_px_scan_quickly_with_the_default_colour_settings(tmp_path):
    scan, out = tmp_path / "scan.png", tmp_path / "out.png"
    scan.write_bytes(_big_scan(1200, 1600))
    started = time.perf_counter()
    result = CliRunner().invoke(app, ["restore", str(scan), str(out), "--op", "colorize", "--steps", "2",
                                      "--device", "cpu"])  # fmt: skip  (the bundled prior, K and working size)
    assert result.exit_code == 0, result.output
    assert time.perf_counter() - started < 120
    rgb, gray = pixels(out), pixels(scan)[..., 0]
    assert rgb.shape == (1200, 1600, 3)
    assert np.abs(rgb.mean(axis=2) - gray).max() <= 1.5  # the scan's gray levels, after 8-bit encoding
    record = provenance(out)
    assert record["workSize"] == "32" and record["samples"] == "16" and float(record["residual"]) < 1e-5
    assert record["model"] == "ddnm-colour-32"  # the bundled prior's colour companion made the colour
    assert "working size 32" in result.output


def test_bad_work_size_is_one_line_and_exit_2(tmp_path):
    scan = tmp_path / "scan.png"
    scan.write_bytes(_big_scan(20, 20))
    result = CliRunner().invoke(app, ["restore", str(scan), str(tmp_path / "o.png"), "--op", "colorize",
                                      "--work-size", "3"])  # fmt: skip
    assert result.exit_code == 2 and "work_size must be 0 (off) or >= 8" in result.output


def test_the_ledger_names_the_colour_prior_that_coloured_with_the_bundled_prior(folder):
    settings = JobSettings.of(str(folder / "m.csv"), str(folder / "out3"), op="colorize", steps=2, device="cpu",
                              max_pixels=TEST_MAX_PIXELS)  # fmt: skip  (the bundled prior)
    records = [{"id": "wide", "uri": "wide.png", "op": "", "mask_uri": "", "params": ""}]
    row = by_id(RestoreStage(settings)(decoded(settings, records)))["wide"]
    assert row["status"] == "ok", row["error_message"]
    assert row["model_name"] == "ddnm-colour-32" and row["work_size"] == 32 and row["steps"] == 2
    from ddnm.models import load

    assert row["weights_sha256"] == load("ddnm-colour-32").info.weights_sha256
