"""The review report (``ddnm-batch report``): a real Ray run through the CLI, its files and numbers,
the null-space maps against operator identities, S3 output, and the page in a headless Chromium."""

from __future__ import annotations

import csv
import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
import report_browser
from PIL import Image, ImageCms
from pipeline_helpers import TEST_MAX_PIXELS, bad_files, good_files, good_rows, write_files, write_manifest
from typer.testing import CliRunner

from pipeline import io, metadata
from pipeline.cli import app
from pipeline.decode import decode_image, decode_mask
from pipeline.manifest import read_manifest
from pipeline.report import ReportSettings, build_report
from pipeline.report.entries import make_entry
from pipeline.report.nullspace import null_space_view
from pipeline.rows import RowError

HTML_ID = "<i>grey1</i>"  # must show as text, never as markup


def manifest_rows() -> list[dict]:
    rows = [dict(r) for r in good_rows()]
    rows[1]["id"] = HTML_ID
    return rows + [{"id": "empty", "uri": "empty.png"}, {"id": "corrupt", "uri": "corrupt.png"}]


@pytest.fixture(scope="module")
def reviewed(tiny_model_path, ray_local, tmp_path_factory):
    """A real run through the CLI (which builds the report), then the report rebuilt in 2-row data files."""
    folder = tmp_path_factory.mktemp("review")
    write_files(folder, {**good_files(), **bad_files()})
    manifest = write_manifest(folder / "manifest.csv", manifest_rows())
    out = folder / "out"
    args = ["run", manifest, "--out", str(out), "--op", "colorize", "--model", tiny_model_path, "--steps", "2",
            "--batch-size", "2", "--device", "cpu", "--max-pixels", str(TEST_MAX_PIXELS), "--samples", "2"]  # fmt: skip
    cli = CliRunner().invoke(app, args)
    stamps = {p.name: p.stat().st_mtime_ns for p in (out / "report" / "thumbs").iterdir()}
    rebuilt = build_report(ReportSettings(str(out), workers=2, chunk_rows=4))
    ledger = {r["id"]: r for r in metadata.latest_rows(metadata.read_all(str(out))).to_pylist()}
    return {"out": out, "cli": cli, "result": rebuilt, "ledger": ledger, "thumb_stamps": stamps}


def page_config(index: Path) -> dict:
    found = re.search(r'<script id="report-config" type="application/json">(.*?)</script>', index.read_text(), re.S)
    return json.loads(found.group(1))


def entries(out: Path) -> dict[str, dict]:
    """The rows the page loads, read from the data files its config lists."""
    report = out / "report"
    rows = []
    for chunk in page_config(report / "index.html")["chunks"]:
        text = (report / chunk).read_text()
        assert text.startswith("ddnmReportAddRows(") and text.endswith(");\n")
        rows += json.loads(text[len("ddnmReportAddRows(") : -len(");\n")])
    return {row["id"]: row for row in rows}


def test_run_ends_by_printing_the_report_path(reviewed):
    cli, out = reviewed["cli"], reviewed["out"]
    assert cli.exit_code == 1, cli.output  # two rows failed
    assert f"review report: {out / 'report' / 'index.html'}" in cli.output
    # CliRunner's output is not a terminal, as a cron job's log is not: progress came as lines, ending at 100 %
    lines = [line for line in cli.output.splitlines() if line.startswith("restoring:")]
    assert lines and "100%" in lines[-1] and "6/6 images" in lines[-1] and "2 errors" in lines[-1], cli.output


def test_one_entry_per_manifest_row_with_small_thumbnails(reviewed):
    out, ledger = reviewed["out"], reviewed["ledger"]
    rows = entries(out)
    assert sorted(rows) == sorted(r["id"] for r in manifest_rows()) == sorted(ledger)
    assert len(page_config(out / "report" / "index.html")["chunks"]) == 2 and reviewed["result"].rows == 6
    assert {k: rows[k]["error_type"] for k in ("empty", "corrupt")} == {"empty": "EmptyFile", "corrupt": "CorruptImage"}
    for row_id in ("grey0", HTML_ID, "small", "../holes"):
        row = rows[row_id]
        assert row["status"] == "ok" and row["residual"] == ledger[row_id]["consistency_residual"] < 1e-3
        assert row["samples"] == 2 and row["uncertainty"] == ledger[row_id]["uncertainty"] > 0
        assert sorted(row["thumbs"]) == ["after", "before", "heat", "pinv"], row["note"]
        sizes = {view: Image.open(out / "report" / path).size for view, path in row["thumbs"].items()}
        assert len(set(sizes.values())) == 1 and max(sizes["after"]) <= 256  # aligned for the slider
        assert row["thumbs"]["heat"].endswith(".png") and row["thumbs"]["after"].endswith(".jpg")
    assert rows["small"]["input_size"] == "16x16" and rows["small"]["output_size"] == "32x32"
    assert rows["grey0"]["extra"] == {"shelf": "A1"} and rows["grey0"]["seed"] == str(ledger["grey0"]["seed"])
    assert rows["grey0"]["kept"] == "8-bit colour" and rows["empty"]["kept"] == ""  # colorized; no output
    assert "after" not in rows["empty"]["thumbs"] and rows["corrupt"]["thumbs"] == {}
    assert "cannot decode the source" in rows["corrupt"]["note"]


def test_rebuild_reuses_unchanged_rows(reviewed):
    """The second build (2-row data files) kept the 4 restored rows' entries and did not rewrite a thumbnail."""
    thumbs = reviewed["out"] / "report" / "thumbs"
    assert reviewed["result"].reused == 4 and reviewed["result"].thumbnails == 16
    assert {p.name: p.stat().st_mtime_ns for p in thumbs.iterdir()} == reviewed["thumb_stamps"]


def test_null_space_map_is_dark_where_the_measurement_fixes_the_image(reviewed):
    out, row = reviewed["out"], reviewed["ledger"]["../holes"]
    assert row["mask_uri"].endswith("mask.png")  # the ledger records masks, so reviews and re-runs find them
    source = decode_image(io.read_bytes(row["source_uri"]), TEST_MAX_PIXELS).samples
    mask = decode_mask(io.read_bytes(row["mask_uri"]), source.shape[1:], TEST_MAX_PIXELS)
    restored = decode_image(io.read_bytes(row["output_uri"]), TEST_MAX_PIXELS).samples
    view = null_space_view("inpaint", row["params"], source, mask, restored)
    assert view.departure[:, :16].max() <= 1 / 255  # known half: x̂ = y up to 8-bit rounding
    assert view.departure[:, 16:].mean() > 0.02  # the hole: what the model invented
    entry = entries(out)["../holes"]
    assert entry["invented"] == pytest.approx(view.mean) and entry["invented_area"] == pytest.approx(view.invented_area)
    heat = np.asarray(Image.open(out / "report" / entry["thumbs"]["heat"]).convert("L"), dtype=float)
    assert heat[:, :16].mean() + 20 < heat[:, 16:].mean()


def test_null_space_view_identities():
    """Colorize: A⁺y is the grey image, chroma is invisible to A. SR avgpool: A⁺y repeats pixels."""
    rng = np.random.default_rng(0)
    grey = rng.integers(40, 200, (1, 8, 10), dtype=np.uint8)
    view = null_space_view("colorize", "{}", grey, None, np.repeat(grey, 3, axis=0))
    assert view.departure.max() < 1e-6 and view.invented_area == 0.0
    chroma = np.stack([grey[0] + 30, grey[0] - 30, grey[0]]).astype(np.uint8)  # same channel mean
    view = null_space_view("colorize", "{}", grey, None, chroma)
    assert np.allclose(view.departure, 2 * 30 / (3 * 255), atol=1e-6) and view.invented_area == 0.0
    upsampled = np.repeat(np.repeat(grey, 2, axis=1), 2, axis=2)
    view = null_space_view("sr_avgpool", '{"scale": 2}', grey, None, upsampled)
    assert view.departure.max() < 1e-6 and view.pinv.shape == (1, 16, 20)
    with pytest.raises(RowError, match="restored image is"):
        null_space_view("sr_avgpool", '{"scale": 2}', grey, None, grey)


def test_changed_source_gets_no_null_space_map(reviewed, tmp_path):
    row = {**reviewed["ledger"]["grey0"], "input_sha256": "0" * 64}
    entry = make_entry(0, row, ReportSettings(str(tmp_path)))
    assert sorted(entry["thumbs"]) == ["after"] and entry["invented"] is None
    assert "source file changed since the run" in entry["note"]


def test_summary_shows_counts_model_and_version_and_nothing_remote(reviewed):
    html = (reviewed["out"] / "report" / "index.html").read_text()
    ok_row = reviewed["ledger"]["grey0"]
    for text in ("id='count-ok'>4<", "id='count-error'>2<", "EmptyFile", "CorruptImage", ok_row["model_name"],
                 ok_row["weights_sha256"], ok_row["software_version"], ok_row["run_id"]):  # fmt: skip
        assert text in html, text
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)  # no remote resources
    assert "Content-Security-Policy" in html and "connect-src" not in html  # default-src 'none' blocks fetches
    assert HTML_ID not in html  # ids live in the data files and reach the page as text only


def test_report_of_a_run_on_s3(reviewed, s3_bucket):
    options, bucket = s3_bucket
    for part in (reviewed["out"] / "metadata").glob("part-*.parquet"):
        io.write_bytes_atomic(f"{bucket}/out/metadata/{part.name}", part.read_bytes(), options)
    result = build_report(ReportSettings(f"{bucket}/out", options, workers=2))
    assert result.index_uri == f"{bucket}/out/report/index.html" and (result.rows, result.reused) == (6, 0)
    fs, _ = io.filesystem_for(bucket, options)
    head = fs.info(result.index_uri)
    assert head["ContentType"].startswith("text/html")  # a static bucket renders it
    assert len(io.list_files(f"{bucket}/out/report/thumbs", options)) == result.thumbnails == 16


@pytest.fixture
def s3_bucket(s3_endpoint):
    """A fresh bucket on the session's real S3 API (moto); ``(storage_options, s3://bucket)``."""
    options = {"endpoint_url": s3_endpoint, "key": "testing", "secret": "testing"}
    bucket = "review-" + os.urandom(4).hex()
    fs, _ = io.filesystem_for(f"s3://{bucket}", options)
    fs.mkdir(bucket)
    return options, f"s3://{bucket}"


def test_page_in_headless_chromium(reviewed, tmp_path):
    """Loads without console errors (from file:// and over HTTP), one table row per manifest row, status filter,
    before/after view, decisions kept across a reload and exported as CSV that is a valid manifest for a re-run."""
    reason = report_browser.missing_reason()
    if reason:
        pytest.skip(reason)
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    index_url = (reviewed["out"] / "report" / "index.html").as_uri()
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    with report_browser.headless_chromium(str(downloads)) as driver:
        def table_ids() -> list[str]:
            return [tr.get_attribute("data-id") for tr in driver.find_elements(By.CSS_SELECTOR, "#rows tbody tr")]

        def row(row_id: str):
            return next(tr for tr in driver.find_elements(By.CSS_SELECTOR, "#rows tbody tr")
                        if tr.get_attribute("data-id") == row_id)  # fmt: skip

        driver.get(index_url)
        report_browser.wait_for(lambda: driver.execute_script("return document.body.dataset.loaded"), what="data")
        assert sorted(table_ids()) == sorted(r["id"] for r in manifest_rows())
        assert row(HTML_ID).find_element(By.CSS_SELECTOR, "td.row-id").text == HTML_ID  # text, not markup
        assert driver.find_elements(By.CSS_SELECTOR, "#rows tbody i") == []

        Select(driver.find_element(By.ID, "filter-status")).select_by_value("error")
        assert sorted(table_ids()) == ["corrupt", "empty"]
        Select(driver.find_element(By.ID, "filter-status")).select_by_value("")
        driver.find_element(By.ID, "filter-text").send_keys("grey")
        assert sorted(table_ids()) == [HTML_ID, "grey0"]
        driver.find_element(By.ID, "filter-text").clear()
        driver.execute_script("document.getElementById('filter-text').dispatchEvent(new Event('input'))")
        driver.find_element(By.CSS_SELECTOR, "th[data-key='residual']").click()
        residuals = [r["consistency_residual"] for r in sorted(reviewed["ledger"].values(), key=_residual_order)]
        assert [reviewed["ledger"][i]["consistency_residual"] for i in table_ids()] == residuals

        row("grey0").find_element(By.CSS_SELECTOR, "td.row-id").click()  # opens the detail view
        dialog = driver.find_element(By.ID, "detail")
        assert dialog.get_attribute("open") is not None
        loaded = driver.execute_script(
            "return [...document.querySelectorAll('#detail img.view-img')].map(i => i.complete && i.naturalWidth)")
        assert len(loaded) == 4 and all(loaded)  # before, after, A⁺y, null-space map
        driver.execute_script("const s = document.querySelector('#detail input[type=range]');"
                              "s.value = 20; s.dispatchEvent(new Event('input'));")  # fmt: skip
        assert "80%" in dialog.find_element(By.CSS_SELECTOR, "img.before").get_attribute("style")
        dialog.find_element(By.CSS_SELECTOR, "input.note").send_keys("sky colour invented")
        dialog.find_element(By.CSS_SELECTOR, "button.reject").click()
        dialog.find_element(By.CSS_SELECTOR, "button.close").click()
        row("small").find_element(By.CSS_SELECTOR, "button.accept").click()
        row("../holes").find_element(By.CSS_SELECTOR, "button.reject").click()
        driver.save_screenshot(str(tmp_path / "report.png"))

        driver.refresh()  # decisions live in localStorage
        report_browser.wait_for(lambda: driver.execute_script("return document.body.dataset.loaded"), what="reload")
        assert "decision-rejected" in row("grey0").get_attribute("class")
        driver.find_element(By.ID, "export-decisions").click()
        driver.find_element(By.ID, "export-rejected").click()
        decisions = report_browser.wait_for(lambda: _csv_rows(downloads / "decisions.csv"), what="decisions.csv")
        rejected = report_browser.wait_for(lambda: _csv_rows(downloads / "rejected.csv"), what="rejected.csv")
        assert report_browser.console_errors(driver) == []

        with report_browser.static_server(str(reviewed["out"] / "report")) as base_url:  # as from a static bucket
            driver.get(f"{base_url}/index.html")
            report_browser.wait_for(lambda: driver.execute_script("return document.body.dataset.loaded"), what="http")
            assert sorted(table_ids()) == sorted(r["id"] for r in manifest_rows())
            assert report_browser.console_errors(driver) == []

    assert list(decisions[0])[:10] == ["id", "uri", "op", "mask_uri", "params", "file_page", "negative", "decision",
                                       "note", "output_sha256"]  # fmt: skip
    assert {r["id"]: (r["decision"], r["note"]) for r in decisions} == {
        "grey0": ("rejected", "sky colour invented"), "small": ("accepted", ""), "../holes": ("rejected", "")}
    assert Image.open(tmp_path / "report.png").format == "PNG"
    rerun = read_manifest(str(downloads / "rejected.csv"))
    ledger = reviewed["ledger"]
    assert sorted((r.id, r.uri, r.op, r.mask_uri) for r in rerun) == [
        (i, ledger[i]["source_uri"], ledger[i]["op"], ledger[i]["mask_uri"] or "") for i in ("../holes", "grey0")]
    grey0 = next(r for r in rerun if r.id == "grey0")
    assert (grey0.file_page, grey0.negative) == (0, False)  # the first image, written "no": not a negative
    assert {r["id"]: r["negative"] for r in rejected} == {"grey0": "no", "../holes": "no"}
    assert json.loads(grey0.extra) == {"decision": "rejected", "note": "sky colour invented",
                                       "output_sha256": ledger["grey0"]["output_sha256"], "shelf": "A1"}  # fmt: skip


def _residual_order(row: dict) -> tuple:
    """The page's ascending sort: numbers first (ascending), then rows without one, in ledger order."""
    value = row["consistency_residual"]
    return (value is None, value or 0.0)


def _csv_rows(path: Path) -> list[dict] | None:
    if not path.exists():
        return None
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_kept_of_scan_names_depth_profile_and_inherited_fields():
    from pipeline.encode import encode_png
    from pipeline.report.entries import kept_of_scan

    x = np.zeros((1, 4, 6), dtype=np.float32)
    provenance = {"operator": "denoise", "model": "m", "seed": "1", "residual": "0", "sourceSha256": "0"}
    grey_profile = bytearray(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    grey_profile[16:20] = b"GRAY"
    png = encode_png(x, provenance, 16, bytes(grey_profile), {"creator": "J. Smith", "rights": "CC0-1.0"})
    assert kept_of_scan(png, decode_image(png, 10**6)) == "16-bit gray; ICC profile; creator: J. Smith; rights: CC0-1.0"
    plain = encode_png(np.zeros((3, 4, 6), dtype=np.float32), provenance)
    assert kept_of_scan(plain, decode_image(plain, 10**6)) == "8-bit colour"


def test_an_entry_says_when_the_scan_held_more_than_was_restored(tmp_path):
    """A two-page TIFF's row (ledger input_pages 2) gets a note saying which of its images was restored."""
    source = tmp_path / "print.png"
    Image.new("L", (8, 8), 90).save(source)
    data = source.read_bytes()
    row = metadata.table_from_rows([{"id": "print", "status": "error", "source_uri": str(source),
                                     "input_sha256": io.sha256_hex(data), "input_pages": 2}]).to_pylist()[0]
    entry = make_entry(0, row, ReportSettings(str(tmp_path / "out"), workers=1))
    assert "holds 2 images (pages or frames); image 1 was restored" in entry["note"]
    row[metadata.INPUT_PAGES] = 1
    assert "holds" not in make_entry(0, row, ReportSettings(str(tmp_path / "out"), workers=1))["note"]
