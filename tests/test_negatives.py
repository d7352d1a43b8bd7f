"""Scans of negatives (glass plates, sheet film): the manifest's ``negative`` column, ``run --negative`` and
``restore --negative`` restore the positive. Decode inverts the samples in their own depth; the measurement, the
consistency certificate, the review page and the preview are of the positive; the ledger (``input_negative``) and
the output's provenance (``ddnm:sourceNegative``) say it was inverted; only a negative changes a row's settings key,
so ledgers written before the column resume as they were."""

from __future__ import annotations

from io import BytesIO
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pipeline_helpers import TEST_MAX_PIXELS, write_manifest
from typer.testing import CliRunner

from pipeline import metadata
from pipeline.cli import app
from pipeline.decode import decode_image, decode_row, inverted
from pipeline.fingerprint import row_fingerprint
from pipeline.manifest import ManifestError, read_manifest
from pipeline.report.entries import make_entry
from pipeline.report.settings import ReportSettings
from pipeline.run import run_job
from pipeline.settings import JobSettings

LIMIT = 10**6
HOPPER = Path(__file__).resolve().parents[1] / "examples" / "scans" / "hopper.png"


def positive_gray(size: int = 32) -> np.ndarray:
    """A real photograph's gray, small: the print a plate would give."""
    with Image.open(HOPPER) as image:
        return np.asarray(image.convert("L").resize((size, size), Image.Resampling.LANCZOS))


def png(samples: np.ndarray) -> bytes:
    buffer = BytesIO()
    Image.fromarray(samples).save(buffer, format="PNG")
    return buffer.getvalue()


def test_inversion_keeps_the_depth_and_undoes_itself():
    rng = np.random.default_rng(0)
    for dtype, top in ((np.uint8, 255), (np.uint16, 65535)):
        samples = rng.integers(0, top + 1, (3, 5, 7)).astype(dtype)
        positive = inverted(samples)
        assert positive.dtype == dtype and np.array_equal(positive.astype(int), top - samples.astype(int))
        assert np.array_equal(inverted(positive), samples)
    floats = rng.random((1, 4, 4)).astype(np.float32)
    assert inverted(floats).dtype == np.float32 and np.allclose(inverted(floats), 1.0 - floats)


def test_a_16_bit_plate_decodes_to_its_positive():
    plate = (np.arange(64, dtype=np.uint16).reshape(8, 8) * 1000).astype(np.uint16)
    buffer = BytesIO()
    Image.fromarray(plate).save(buffer, format="PNG")  # 16-bit gray PNG (mode I;16)
    as_scanned, positive = decode_image(buffer.getvalue(), LIMIT), decode_image(buffer.getvalue(), LIMIT, negative=True)
    assert as_scanned.samples.dtype == positive.samples.dtype == np.uint16
    assert np.array_equal(positive.samples[0], 65535 - plate)


def test_the_manifest_column_and_the_runs_default(tmp_path):
    rows = [{"id": str(i), "uri": "p.png", "negative": value} for i, value in enumerate(("yes", "No", "1", "", "TRUE"))]
    manifest = write_manifest(tmp_path / "m.csv", rows)
    assert [r.negative for r in read_manifest(manifest, "colorize")] == [True, False, True, False, True]
    # --negative holds for the empty cell only: a row's own "no" is a positive print in a box of plates
    assert [r.negative for r in read_manifest(manifest, "colorize", default_negative=True)] == [
        True, False, True, True, True]
    bad = [{"id": "a", "uri": "p.png", "negative": "maybe"}, {"id": "b", "uri": "p.png", "negative": "2"}]
    with pytest.raises(ManifestError) as error:
        read_manifest(write_manifest(tmp_path / "bad.csv", bad), "colorize")
    assert str(error.value).count("negative must be yes or no") == 2


def test_only_a_negative_changes_a_rows_settings_key():
    row = {"op": "colorize", "params": "{}", "mask_uri": "", "extra": "{}", "file_page": 0}
    before = row_fingerprint("job", row)
    assert row_fingerprint("job", {**row, "negative": False}) == before
    assert row_fingerprint("job", {**row, "negative": True}) != before


def test_decode_row_inverts_and_says_so(tmp_path):
    (tmp_path / "plate.png").write_bytes(png(255 - positive_gray()))
    settings = JobSettings(str(tmp_path / "m.csv"), str(tmp_path / "out"))
    row = {"id": "plate", "uri": str(tmp_path / "plate.png"), "mask_uri": "", "op": "colorize", "params": "{}",
           "extra": "{}", "file_page": 0, "negative": True}  # fmt: skip
    out = decode_row(row, settings)
    assert (out["status"], out["input_negative"]) == ("ok", True)
    missing = decode_row({**row, "uri": str(tmp_path / "gone.png")}, settings)
    assert (missing["status"], missing["input_negative"]) == ("error", True)  # error rows say it too


def test_restore_negative(tmp_path):
    truth = positive_gray()
    (tmp_path / "plate.png").write_bytes(png(255 - truth))
    out = tmp_path / "print.png"
    result = CliRunner().invoke(app, ["restore", str(tmp_path / "plate.png"), str(out), "--op", "colorize",
                                      "--device", "cpu", "--negative"])  # fmt: skip
    assert result.exit_code == 0, result.output
    with Image.open(out) as image:
        restored = np.asarray(image.convert("RGB")).astype(float)
        assert 'ddnm:sourceNegative="inverted"' in image.text["XML:com.adobe.xmp"]
    # colorize keeps the channel mean at y (range-space consistency): the positive's gray, not the plate's
    assert np.abs(restored.mean(axis=2) - truth).max() <= 2.0


def test_a_run_restores_a_box_of_plates_as_positives(tiny_model_path, ray_local, tmp_path):
    truth = positive_gray()
    (tmp_path / "plate.png").write_bytes(png(255 - truth))
    (tmp_path / "print.png").write_bytes(png(truth))
    rows = [{"id": "plate", "uri": "plate.png", "negative": ""}, {"id": "print", "uri": "print.png", "negative": "no"}]
    manifest, out = write_manifest(tmp_path / "m.csv", rows), str(tmp_path / "out")
    settings = JobSettings.of(manifest_uri=manifest, out_uri=out, op="colorize", model=tiny_model_path, steps=2,
                              batch_size=2, device="cpu", max_pixels=TEST_MAX_PIXELS, preview=2,
                              negative=True)  # fmt: skip
    first = run_job(settings)
    assert (first.ok, first.errors) == (2, 0)
    latest = {r["id"]: r for r in metadata.latest_rows(metadata.read_all(out)).to_pylist()}
    assert (latest["plate"]["input_negative"], latest["print"]["input_negative"]) == (True, False)
    for row_id in ("plate", "print"):
        with Image.open(latest[row_id]["output_uri"]) as image:
            restored = np.asarray(image.convert("RGB")).astype(float)
            provenance = image.text["XML:com.adobe.xmp"]
        assert np.abs(restored.mean(axis=2) - truth).max() <= 2.0, row_id  # both are the print's gray
        assert ('ddnm:sourceNegative="inverted"' in provenance) == (row_id == "plate")
    with Image.open(tmp_path / "out" / "preview.png") as sheet:  # the plate's "before" is its positive
        before = np.asarray(sheet.convert("L")).astype(float)[4:4 + 192, 4:4 + 192]
    shown = np.asarray(Image.fromarray(truth).resize((192, 192), Image.Resampling.NEAREST)).astype(float)
    assert np.abs(before - shown).mean() < 2.0
    entry = make_entry(0, latest["plate"], ReportSettings(out, workers=1))
    assert "restored, as its positive" in entry["note"]
    assert (entry["negative"], entry["file_page"]) == (True, 1)  # what the review page's rejected.csv writes back
    with Image.open(tmp_path / "out" / "report" / entry["thumbs"]["before"]) as thumb:
        assert abs(np.asarray(thumb.convert("L")).mean() - truth.mean()) < 8
    again = run_job(settings)
    assert (again.skipped, again.ok) == (2, 0)
    flipped = JobSettings.of(manifest_uri=manifest, out_uri=out, op="colorize", model=tiny_model_path, steps=2,
                             batch_size=2, device="cpu", max_pixels=TEST_MAX_PIXELS)  # fmt: skip
    redone = run_job(flipped)  # without --negative the plate's empty cell means a positive: another picture
    assert (redone.ok, redone.skipped) == (1, 1)


def test_the_dry_run_counts_the_negatives(tmp_path):
    (tmp_path / "plate.png").write_bytes(png(255 - positive_gray()))
    (tmp_path / "print.png").write_bytes(png(positive_gray()))
    rows = [{"id": "plate", "uri": "plate.png"}, {"id": "print", "uri": "print.png", "negative": "no"}]
    manifest = write_manifest(tmp_path / "m.csv", rows)
    result = CliRunner().invoke(app, ["run", manifest, "--out", str(tmp_path / "out"), "--op", "colorize",
                                      "--negative", "--dry-run"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "of them negatives (restored as positives) │ 1" in result.output


def test_a_submitted_job_carries_negative_and_the_noise_estimate():
    from pipeline.job_spec import from_json, to_json

    settings = JobSettings.of("s3://a/m.csv", "s3://a/out", negative=True, estimate_sigma_y=True)
    carried = from_json(to_json(settings))
    assert carried == settings and carried.negative and carried.restore.estimate_sigma_y
