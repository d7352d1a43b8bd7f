"""K posterior samples per image through the pipeline (ddnm.restore, called by RestoreStage) and `ddnm-batch restore --samples`."""

from __future__ import annotations

import numpy as np
import pytest
from pipeline_helpers import TEST_MAX_PIXELS, bad_files, good_files, good_rows, write_files
from test_cli_guidance import pixels, provenance
from test_pipeline_restore_stage import by_id, decoded
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.restore_stage import RestoreStage
from pipeline.rows import unpack_array
from pipeline.settings import JobSettings

BIG = {"id": "big", "uri": "big.png", "op": "", "mask_uri": "", "params": ""}  # tiled: 64x64, window 32


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    path = tmp_path_factory.mktemp("samples")
    write_files(path, {**good_files(), **bad_files()})
    return path


def stage_rows(folder, model, samples: int, records: list[dict], work_size: int | None = 0) -> dict[str, dict]:
    """Colorize rows through the stage; ``work_size`` 0 (default here) restores at full size in windows, the path
    whose K-sample averaging these tests check (colour at a working size: tests/test_colour_pipeline.py)."""
    settings = JobSettings.of(str(folder / "m.csv"), str(folder / "out"), op="colorize", model=model, steps=2,
                           batch_size=2, device="cpu", max_pixels=TEST_MAX_PIXELS, samples=samples,
                           work_size=work_size)  # fmt: skip
    return by_id(RestoreStage(settings)(decoded(settings, records)))


def test_stage_averages_samples_and_records_their_spread(folder, tiny_model_path):
    records = good_rows() + [BIG]
    one, three = (stage_rows(folder, tiny_model_path, k, records) for k in (1, 3))
    for row_id, row in three.items():
        assert row["status"] == "ok", row["error_message"]
        assert row["samples"] == 3 and one[row_id]["samples"] == 1
        assert row["uncertainty"] > 0 and np.isnan(one[row_id]["uncertainty"])
        assert row["consistency_residual"] < 1e-3  # the mean of consistent samples is consistent
        assert not np.array_equal(unpack_array(row["restored_npy"]), unpack_array(one[row_id]["restored_npy"]))
    assert three["big"]["tiles"] > 1 and np.isfinite(three["big"]["seam_ratio"])


def test_restore_command_writes_the_mean_with_its_provenance(folder, tiny_model_path):
    def restore(name, *options):
        out = folder / f"{name}.png"
        args = ["restore", str(folder / "grey0.png"), str(out), "--op", "colorize", "--model", tiny_model_path,
                "--steps", "2", "--device", "cpu", "--work-size", "0", *options]  # fmt: skip
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
        return out, result.output

    default, _ = restore("default")
    single, _ = restore("single", "--samples", "1")
    mean, output = restore("mean", "--samples", "3")
    np.testing.assert_array_equal(pixels(default), pixels(single))  # K = 1 is plain DDNM
    assert np.abs(pixels(mean) - pixels(single)).max() > 0
    record = provenance(mean)
    assert record["samples"] == "3" and float(record["uncertainty"]) > 0 and float(record["residual"]) < 1e-3
    assert "mean of 3 samples" in output
    bad = CliRunner().invoke(app, ["restore", str(folder / "grey0.png"), str(folder / "x.png"), "--op", "colorize",
                                   "--model", tiny_model_path, "--samples", "0"])  # fmt: skip
    assert bad.exit_code == 2 and "samples must be >= 1" in bad.output
