"""End to end on a real local Ray: local folders and a real S3 API (moto), resume, reproducibility, CLI."""

from __future__ import annotations

import hashlib
import os
from io import BytesIO

import numpy as np
import pytest
from PIL import Image
from pipeline_helpers import (
    TEST_MAX_PIXELS, bad_files, bad_rows, good_files, good_rows, grey_photo, grey_plate_16, png, write_files,
    write_manifest,
)
from typer.testing import CliRunner

from pipeline import io, metadata
from pipeline.cli import app
from pipeline.run import run_job
from pipeline.settings import JobSettings

STEPS = 3


def job(manifest: str, out: str, model: str, **overrides) -> JobSettings:
    options = dict(op="colorize", model=model, steps=STEPS, batch_size=2, device="cpu", max_pixels=TEST_MAX_PIXELS)
    return JobSettings.of(manifest_uri=manifest, out_uri=out, **{**options, **overrides})


# A 16-bit plate whose manifest row names its rights: the output keeps both (16 bits, dc:rights).
PLATE = {"id": "plate", "uri": "plate.tif", "op": "", "mask_uri": "", "params": "", "rights": "CC0-1.0"}


def ok_rows() -> list[dict]:
    return good_rows() + [PLATE]


def manifest_rows() -> list[dict]:
    return ok_rows() + [{k: v for k, v in r.items() if k != "expect"} for r in bad_rows()]


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    folder = tmp_path_factory.mktemp("archive")
    write_files(folder, {**good_files(), **bad_files(), "plate.tif": grey_plate_16(7)})
    write_manifest(folder / "all.csv", manifest_rows())
    write_manifest(folder / "first_two.csv", good_rows()[:2])
    return folder


@pytest.fixture(scope="module")
def first_run(tiny_model_path, ray_local, archive):
    out = str(archive / "out-first")
    summary = run_job(job(str(archive / "all.csv"), out, tiny_model_path, preview=2))
    return summary, out


def outputs(out: str) -> dict[str, bytes]:
    return {os.path.basename(u): io.read_bytes(u) for u in io.list_files(io.images_dir(out))}


def test_every_manifest_row_gets_exactly_one_metadata_row(first_run):
    summary, out = first_run
    expected_errors = {r["id"]: r["expect"] for r in bad_rows()}
    total, errors = len(manifest_rows()), len(expected_errors)
    assert (summary.total, summary.ok, summary.errors, summary.skipped) == (total, total - errors, errors, 0)
    assert total > errors > 5
    table = metadata.read_all(out)
    assert sorted(table["id"].to_pylist()) == sorted(r["id"] for r in manifest_rows())
    for row in table.to_pylist():
        if row["id"] in expected_errors:
            assert (row["status"], row["error_type"]) == ("error", expected_errors[row["id"]]), row["error_message"]
            assert row["output_uri"] is None and row["output_bits"] is None and row["output_channels"] is None
        else:
            assert row["status"] == "ok" and row["consistency_residual"] < 1e-3
            assert io.sha256_hex(io.read_bytes(row["output_uri"])) == row["output_sha256"]
            assert row["premis_event"] == "restoration" and "algorithmicallyEnhanced" in row["digital_source_type"]
    assert summary.errors_by_type == {t: 1 for t in expected_errors.values()}


def test_outputs_stay_inside_out_and_carry_provenance(first_run):
    _, out = first_run
    table = {r["id"]: r for r in metadata.read_all(out).to_pylist()}
    holes = table["../holes"]["output_uri"]
    assert os.path.dirname(holes) == os.path.join(out, "images")
    assert table["grey0"]["extra"] == '{"rights": "", "shelf": "A1"}'  # the manifest's other columns, as written
    with Image.open(BytesIO(io.read_bytes(table["grey0"]["output_uri"]))) as image:
        assert image.size == (32, 32) and image.mode == "RGB"
        assert table["grey0"]["weights_sha256"] in image.text["XML:com.adobe.xmp"]
    with Image.open(os.path.join(out, "preview.png")) as sheet:
        assert sheet.height > 2 * 32
    plate = io.read_bytes(table["plate"]["output_uri"])  # a 16-bit scan whose manifest row names its rights
    assert table["plate"]["input_mode"] == "I;16" and plate[24] == 16  # IHDR bit depth: 16 bits kept
    # the ledger says what each PNG kept: the plate coloured at its 16 bits, the 8-bit scans at 8
    kept = {k: (table[k]["output_bits"], table[k]["output_channels"], table[k]["output_icc"]) for k in table}
    assert (kept["plate"], kept["grey0"], kept["small"]) == ((16, 3, False), (8, 3, False), (8, 3, False))
    with Image.open(BytesIO(plate)) as image:
        assert image.text["Copyright"] == "CC0-1.0" and "<dc:rights>" in image.text["XML:com.adobe.xmp"]


def test_resume_skips_finished_rows_and_reproduces_bytes(tiny_model_path, ray_local, archive, first_run):
    _, first_out = first_run
    out = str(archive / "out-resumed")
    partial = run_job(job(str(archive / "first_two.csv"), out, tiny_model_path))
    assert (partial.ok, partial.errors) == (2, 0)
    stamps = {name: os.stat(os.path.join(out, "images", name)).st_mtime_ns for name in outputs(out)}

    resumed = run_job(job(str(archive / "all.csv"), out, tiny_model_path))
    # skipped although all.csv has a rights column that first_two.csv lacks: an empty value gives the output nothing
    assert (resumed.skipped, resumed.ok, resumed.errors) == (2, len(ok_rows()) - 2, len(bad_rows()))
    for name, stamp in stamps.items():  # finished outputs are not rewritten
        assert os.stat(os.path.join(out, "images", name)).st_mtime_ns == stamp
    table = metadata.read_all(out)
    ok_ids = [r["id"] for r in table.to_pylist() if r["status"] == "ok"]
    assert sorted(ok_ids) == sorted(r["id"] for r in ok_rows())  # no duplicates, no loss
    assert len(metadata.latest_rows(table)) == len(manifest_rows())
    assert outputs(out) == outputs(first_out)  # same seed, same bytes


def test_changing_the_seed_changes_the_outputs(tiny_model_path, ray_local, archive, first_run):
    _, first_out = first_run
    out = str(archive / "out-seed")
    write_manifest(archive / "one.csv", good_rows()[:1])
    run_job(job(str(archive / "one.csv"), out, tiny_model_path, seed=1))
    name = io.output_name("grey0")
    assert outputs(out)[name] != outputs(first_out)[name]




@pytest.mark.slow  # three runs (~30 s; minutes on a loaded machine); the rule's parts have fast tests without Ray
def test_a_redigitised_scan_or_changed_settings_are_restored_again(tiny_model_path, ray_local, tmp_path):
    """Resume is keyed by the input's bytes and the settings, not the id alone; the ledger keeps every attempt.
    Also a 1-pixel-high strip (tiled on a window-sized canvas), which once failed in the seam metric."""
    strip = png(np.random.default_rng(3).integers(0, 256, (1, 40), dtype=np.uint8))
    write_files(tmp_path, {"grey0.png": grey_photo(0), "grey1.png": grey_photo(1), "strip.png": strip})
    manifest = write_manifest(tmp_path / "m.csv", [{"id": i, "uri": f"{i}.png"} for i in ("grey0", "grey1", "strip")])
    out = str(tmp_path / "out")
    first = run_job(job(manifest, out, tiny_model_path))
    assert (first.ok, first.errors, first.skipped) == (3, 0, 0), first.errors_by_type
    (tmp_path / "grey1.png").write_bytes(grey_photo(7))  # re-digitised: same id, new bytes
    redone = run_job(job(manifest, out, tiny_model_path))
    assert (redone.ok, redone.skipped) == (1, 2)
    changed = run_job(job(manifest, out, tiny_model_path, steps=STEPS + 1))
    assert (changed.ok, changed.skipped) == (3, 0)
    attempts = metadata.read_all(out).to_pylist()
    assert sorted(r["id"] for r in attempts) == ["grey0", "grey0", "grey1", "grey1", "grey1", "strip", "strip"]
    latest = {r["id"]: r for r in metadata.latest_rows(metadata.read_all(out)).to_pylist()}
    assert {r["run_id"] for r in latest.values()} == {changed.run_id} and latest["grey1"]["steps"] == STEPS + 1
    assert latest["grey1"]["input_sha256"] == io.sha256_hex(grey_photo(7))
    assert len({r["settings_sha256"] for r in attempts if r["id"] == "grey0"}) == 2
    assert (latest["strip"]["output_width"], latest["strip"]["output_height"]) == (40, 1)


@pytest.fixture
def s3_archive(s3_endpoint):
    """good + bad images and a manifest in a fresh bucket; returns (storage_options, bucket URI)."""
    bucket = "archive-" + hashlib.sha256(os.urandom(8)).hexdigest()[:8]
    options = {"endpoint_url": s3_endpoint, "key": "testing", "secret": "testing"}
    fs, _ = io.filesystem_for(f"s3://{bucket}", options)
    fs.mkdir(bucket)
    files = {**good_files(), **bad_files()}
    for name, data in files.items():
        io.write_bytes_atomic(f"s3://{bucket}/in/{name}", data, options)
    rows = good_rows()[:2] + [{"id": "corrupt", "uri": "corrupt.png"}]
    lines = ["id,uri"] + [f"{r['id']},{r['uri']}" for r in rows]
    io.write_bytes_atomic(f"s3://{bucket}/in/manifest.csv", ("\n".join(lines) + "\n").encode(), options)
    return options, f"s3://{bucket}"


def test_s3_in_and_out(tiny_model_path, ray_local, s3_archive):
    options, bucket = s3_archive
    settings = job(f"{bucket}/in/manifest.csv", f"{bucket}/out", tiny_model_path, storage_options=options)
    summary = run_job(settings)
    assert (summary.ok, summary.errors) == (2, 1)
    table = metadata.read_all(f"{bucket}/out", options)
    assert sorted(table["id"].to_pylist()) == ["corrupt", "grey0", "grey1"]
    for row in table.to_pylist():
        if row["status"] == "ok":
            assert row["output_uri"].startswith(f"{bucket}/out/images/")
            assert row["source_uri"].startswith(f"{bucket}/in/")
            assert io.sha256_hex(io.read_bytes(row["output_uri"], options)) == row["output_sha256"]
            fs, path = io.filesystem_for(row["output_uri"], options)
            assert fs.info(path)["ContentType"] == "image/png"  # S3 serves it as an image
    again = run_job(settings)
    assert (again.skipped, again.ok, again.errors) == (2, 0, 1)


def test_cli_exit_codes(tiny_model_path, ray_local, archive):
    runner = CliRunner()
    write_manifest(archive / "cli.csv", good_rows()[:1] + [{"id": "empty", "uri": "empty.png"}])
    base = ["run", str(archive / "cli.csv"), "--out", str(archive / "out-cli"), "--op", "colorize",
            "--model", tiny_model_path, "--steps", "2", "--device", "cpu"]  # fmt: skip
    result = runner.invoke(app, base)
    assert result.exit_code == 1, result.output  # one row failed
    assert "EmptyFile" in result.output and "restored" in result.output
    bad = runner.invoke(app, ["run", str(archive / "cli.csv"), "--out", str(archive / "o"), "--op", "colourise"])
    assert bad.exit_code == 2 and "unknown operator 'colourise'" in bad.output
    options = runner.invoke(app, base + ["--storage-options", "[1]"])
    assert options.exit_code == 2 and "JSON object" in options.output


def test_cli_passes_guidance_through_to_every_row(tiny_model_path, ray_local, archive):
    write_manifest(archive / "guided.csv", good_rows()[:2])
    out = archive / "out-guided"
    args = ["run", str(archive / "guided.csv"), "--out", str(out), "--op", "colorize", "--model", tiny_model_path,
            "--steps", "2", "--device", "cpu", "--sigma-y", "0.1", "--guidance", "idpg", "--gamma", "4",
            "--travel-length", "1", "--samples", "2", "--no-report"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    rows = metadata.read_all(str(out)).to_pylist()
    assert len(rows) == 2 and {r["status"] for r in rows} == {"ok"}
    assert {r["guidance"] for r in rows} == {"idpg"}
    assert {r["guidance_params"] for r in rows} == {'{"gamma": 4.0}'}
    assert {r["samples"] for r in rows} == {2} and all(r["uncertainty"] > 0 for r in rows)
    assert {r["convention"] for r in rows} == {"paper"}


def test_cli_records_the_reference_convention_and_its_eta(tiny_model_path, ray_local, archive):
    write_manifest(archive / "reference.csv", good_rows()[:1])
    out = archive / "out-reference"
    args = ["run", str(archive / "reference.csv"), "--out", str(out), "--op", "colorize", "--model", tiny_model_path,
            "--steps", "2", "--device", "cpu", "--convention", "reference", "--no-report"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    rows = metadata.read_all(str(out)).to_pylist()
    assert [(r["status"], r["convention"], r["eta"]) for r in rows] == [("ok", "reference", 0.85)]
