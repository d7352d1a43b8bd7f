"""One image of a multi-page file (the recto and verso of a print in one TIFF, a frame of an animation): the
manifest's ``file_page`` column and ``ddnm-batch restore --page`` pick it; decode reads that image and no other,
through Pillow, the 16-bit reader and the tifffile fallback; the ledger says which image a row restored, its
output's provenance names it, and a page that is not there is the row's one-line error."""

from __future__ import annotations

import json
from io import BytesIO

import numpy as np
import pytest
from PIL import Image
from pipeline_helpers import TEST_MAX_PIXELS, write_manifest
from typer.testing import CliRunner

from pipeline import metadata
from pipeline.cli import app
from pipeline.decode import decode_image, decode_row
from pipeline.fingerprint import row_fingerprint
from pipeline.manifest import ManifestError, read_manifest
from pipeline.report.entries import make_entry
from pipeline.report.settings import ReportSettings
from pipeline.rows import RowError
from pipeline.run import run_job
from pipeline.settings import JobSettings

tifffile = pytest.importorskip("tifffile")
LIMIT = 10**6


def pages_tiff(pages: list[np.ndarray], reduced: tuple[int, ...] = (), **kwargs) -> bytes:
    """A TIFF of ``pages`` (each its own IFD); those whose index is in ``reduced`` are marked as thumbnails."""
    buffer = BytesIO()
    with tifffile.TiffWriter(buffer) as tif:
        for index, page in enumerate(pages):
            tif.write(page, subfiletype=1 if index in reduced else 0, **kwargs)
    return buffer.getvalue()


def gray(value: int, h: int = 6, w: int = 8) -> np.ndarray:
    return np.full((h, w), value, dtype=np.uint8)


def test_the_page_asked_for_is_decoded_and_a_thumbnail_is_no_page():
    data = pages_tiff([gray(40), gray(80, 3, 4), gray(120, 5, 7)], reduced=(1,))
    first, second = decode_image(data, LIMIT), decode_image(data, LIMIT, page=2)
    assert (first.pages, first.page, first.samples.shape, int(first.samples.max())) == (2, 1, (1, 6, 8), 40)
    assert (second.pages, second.page, second.samples.shape, int(second.samples.max())) == (2, 2, (1, 5, 7), 120)
    with pytest.raises(RowError) as error:
        decode_image(data, LIMIT, page=3)
    assert error.value.error_type == "NoSuchPage" and "holds 2 images" in error.value.message


def test_a_later_page_is_held_to_the_pixel_limit():
    data = pages_tiff([gray(40, 4, 4), gray(90, 40, 40)])
    assert decode_image(data, 100).samples.shape == (1, 4, 4)
    with pytest.raises(RowError, match="above the limit of 100"):
        decode_image(data, 100, page=2)


def test_a_frame_of_an_animation():
    frames = [Image.new("L", (4, 4), v) for v in (10, 200, 90)]
    buffer = BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:])
    assert int(decode_image(buffer.getvalue(), LIMIT, page=2).samples.mean()) == 200


def test_a_48_bit_verso_is_read_at_16_bits():
    rng = np.random.default_rng(0)
    recto, verso = (rng.integers(0, 65536, (6, 9, 3), dtype=np.uint16) for _ in range(2))
    decoded = decode_image(pages_tiff([recto, verso], photometric="rgb"), LIMIT, page=2)
    assert decoded.mode == "RGB;16" and np.array_equal(decoded.samples, verso.transpose(2, 0, 1))


def test_a_page_pillow_cannot_open_is_read_by_the_fallback():
    pages = [np.zeros((4, 6, 2), dtype=np.uint16) for _ in range(2)]
    for value, page in zip((1000, 50000), pages):
        page[..., 0], page[..., 1] = value, 65535  # 16-bit gray with opaque alpha: Pillow refuses it
    data = pages_tiff(pages, photometric="minisblack", extrasamples=["unassalpha"])
    decoded = decode_image(data, LIMIT, page=2)
    assert (decoded.mode, decoded.pages, decoded.page, int(decoded.samples.max())) == ("LA;16", 2, 2, 50000)
    with pytest.raises(RowError, match="holds 2 images"):
        decode_image(data, LIMIT, page=5)


def test_the_manifest_column(tmp_path):
    rows = [{"id": "recto", "uri": "p.tif"}, {"id": "verso", "uri": "p.tif", "file_page": "2.0"}]
    pages = [row.file_page for row in read_manifest(write_manifest(tmp_path / "m.csv", rows), "colorize")]
    assert pages == [0, 2]
    bad = [{"id": f"r{i}", "uri": "p.tif", "file_page": value} for i, value in enumerate(("0", "two", "1.5"))]
    with pytest.raises(ManifestError) as error:
        read_manifest(write_manifest(tmp_path / "bad.csv", bad), "colorize")
    assert str(error.value).count("file_page must be a whole number from 1") == 3


def test_only_a_later_page_changes_a_rows_settings_key():
    row = {"op": "colorize", "params": "{}", "mask_uri": "", "extra": "{}"}
    before = row_fingerprint("job", row)
    assert row_fingerprint("job", {**row, "file_page": 0}) == before == row_fingerprint("job", {**row, "file_page": 1})
    assert row_fingerprint("job", {**row, "file_page": 2}) != before


def test_decode_row_says_which_image_it_read_or_could_not(tmp_path):
    (tmp_path / "p.tif").write_bytes(pages_tiff([gray(40), gray(200)]))
    settings = JobSettings(str(tmp_path / "m.csv"), str(tmp_path / "out"))
    row = {"id": "verso", "uri": str(tmp_path / "p.tif"), "mask_uri": "", "op": "colorize", "params": "{}",
           "extra": "{}", "file_page": 2}  # fmt: skip
    out = decode_row(row, settings)
    assert (out["status"], out["input_pages"], out["input_page"]) == ("ok", 2, 2)
    missing = decode_row({**row, "file_page": 3}, settings)
    assert (missing["status"], missing["error_type"], missing["input_page"]) == ("error", "NoSuchPage", 3)


def test_a_batch_reads_a_multi_page_file_once_for_all_its_rows(tmp_path, monkeypatch):
    from pipeline import io
    from pipeline.decode import decode_batch
    from pipeline.rows import MANIFEST_COLUMNS, from_rows, to_rows

    (tmp_path / "p.tif").write_bytes(pages_tiff([gray(40), gray(200)]))
    Image.fromarray(np.full((8, 8), 90, np.uint8)).save(tmp_path / "other.png")
    reads = []
    real = io.read_bytes
    monkeypatch.setattr(io, "read_bytes", lambda uri, options=None: reads.append(uri) or real(uri, options))
    base = {"mask_uri": "", "op": "colorize", "params": "{}", "extra": "{}", "negative": False}
    rows = [{**base, "id": "recto", "uri": str(tmp_path / "p.tif"), "file_page": 1},
            {**base, "id": "verso", "uri": str(tmp_path / "p.tif"), "file_page": 2},
            {**base, "id": "other", "uri": str(tmp_path / "other.png"), "file_page": 0},
            {**base, "id": "gone", "uri": str(tmp_path / "gone.png"), "file_page": 0},
            {**base, "id": "gone-again", "uri": str(tmp_path / "gone.png"), "file_page": 0}]  # fmt: skip
    settings = JobSettings(str(tmp_path / "m.csv"), str(tmp_path / "out"))
    out = {r["id"]: r for r in to_rows(decode_batch(from_rows(rows, MANIFEST_COLUMNS), settings))}
    assert reads.count(str(tmp_path / "p.tif")) == 1  # recto and verso: one read
    assert reads.count(str(tmp_path / "gone.png")) == 2  # a failed read is not kept: each row tries
    assert (out["recto"]["input_page"], out["verso"]["input_page"]) == (1, 2)
    assert out["recto"]["input_sha256"] == out["verso"]["input_sha256"]
    assert out["recto"]["pixels_npy"] != out["verso"]["pixels_npy"]  # each row still decodes its own page
    assert out["other"]["status"] == "ok" and out["gone"]["error_type"] == "NotFound"


def test_restore_page_two(tmp_path):
    source = tmp_path / "print.tif"
    source.write_bytes(pages_tiff([gray(30, 16, 16), gray(220, 16, 16)]))
    out = tmp_path / "verso.png"
    result = CliRunner().invoke(app, ["restore", str(source), str(out), "--op", "colorize", "--device", "cpu",
                                      "--page", "2"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "holds 2 images (pages or frames); image 2 is restored" in " ".join(result.output.split())
    with Image.open(out) as image:
        assert np.asarray(image.convert("L")).mean() > 150  # the light verso, not the dark recto
        assert 'ddnm:sourcePage="2"' in image.text["XML:com.adobe.xmp"]
    missing = CliRunner().invoke(app, ["restore", str(source), str(out), "--op", "colorize", "--page", "3"])
    assert missing.exit_code == 2 and "file_page 3 asked for, but the file holds 2 images" in missing.output
    assert "Traceback" not in missing.output


def test_a_run_restores_recto_and_verso_as_two_rows(tiny_model_path, ray_local, tmp_path):
    (tmp_path / "print.tif").write_bytes(pages_tiff([gray(30, 32, 32), gray(220, 32, 32)]))
    rows = [{"id": "recto", "uri": "print.tif", "file_page": ""}, {"id": "verso", "uri": "print.tif", "file_page": 2},
            {"id": "third", "uri": "print.tif", "file_page": 3}]  # fmt: skip
    manifest, out = write_manifest(tmp_path / "m.csv", rows), str(tmp_path / "out")
    settings = JobSettings.of(manifest_uri=manifest, out_uri=out, op="colorize", model=tiny_model_path, steps=2,
                              batch_size=2, device="cpu", max_pixels=TEST_MAX_PIXELS, preview=2)  # fmt: skip
    first = run_job(settings)
    with Image.open(tmp_path / "out" / "preview.png") as sheet:  # the verso's row shows the verso before and after
        gray_sheet = np.asarray(sheet.convert("L")).astype(float)
    verso_before = gray_sheet[4 + 192 + 4:4 + 2 * 192 + 4, 4:4 + 192]
    assert verso_before.mean() > 150
    assert (first.ok, first.errors) == (2, 1)
    latest = {r["id"]: r for r in metadata.latest_rows(metadata.read_all(out)).to_pylist()}
    assert [(latest[i]["input_page"], latest[i]["input_pages"]) for i in ("recto", "verso")] == [(1, 2), (2, 2)]
    assert (latest["third"]["error_type"], latest["third"]["input_page"]) == ("NoSuchPage", 3)
    brightness = {}
    for row_id in ("recto", "verso"):
        with Image.open(latest[row_id]["output_uri"]) as image:
            brightness[row_id] = np.asarray(image.convert("L")).mean()
            provenance = image.text["XML:com.adobe.xmp"]
        assert ('ddnm:sourcePage="2"' in provenance) == (row_id == "verso")
    assert brightness["recto"] < 100 < brightness["verso"]
    entry = make_entry(0, latest["verso"], ReportSettings(out, workers=1))  # the review page shows the verso
    assert "holds 2 images (pages or frames); image 2 was restored" in entry["note"]
    with Image.open(tmp_path / "out" / "report" / entry["thumbs"]["before"]) as before:
        assert np.asarray(before.convert("L")).mean() > 150
    again = run_job(settings)  # both pages are finished work; the missing page is tried again
    assert (again.skipped, again.ok, again.errors) == (2, 0, 1)
    assert json.loads(latest["verso"]["extra"]) == {}  # file_page is a known column, not a carried one


def test_scan_lists_each_page_of_a_multi_page_tiff_on_s3(s3_endpoint, tiny_model_path, ray_local):
    """``scan --pages`` on a real S3 API: a two-page TIFF (with a thumbnail) is two rows, the first under the file's
    own id; the manifest it writes restores both, and a second scan against that ledger finds nothing new."""
    import hashlib
    import os

    from pipeline import io
    from pipeline.scan import ScanSettings, scan

    bucket = "pages-" + hashlib.sha256(os.urandom(8)).hexdigest()[:8]
    options = {"endpoint_url": s3_endpoint, "key": "testing", "secret": "testing"}
    io.filesystem_for(f"s3://{bucket}", options)[0].mkdir(bucket)
    files = {"box/print.tif": pages_tiff([gray(30, 32, 32), gray(90, 8, 8), gray(220, 32, 32)], reduced=(1,)),
             "box/single.tif": pages_tiff([gray(60, 32, 32)]), "box/photo.png": gray_png(100)}  # fmt: skip
    for name, data in files.items():
        io.write_bytes_atomic(f"s3://{bucket}/in/{name}", data, options)
    prefix, out, manifest = f"s3://{bucket}/in", f"s3://{bucket}/out", f"s3://{bucket}/new.csv"
    found = scan(ScanSettings(prefix_uri=prefix, storage_options=options, pages=True))
    assert [(i.id, i.page) for i in found.new] == [
        ("box/photo.png", 0), ("box/print.tif", 0), ("box/print.tif#page=2", 2), ("box/single.tif", 0)]
    assert (found.listed, found.later_pages) == (3, 1)
    assert [i.id for i in scan(ScanSettings(prefix_uri=prefix, storage_options=options)).new] == [
        "box/photo.png", "box/print.tif", "box/single.tif"]  # without --pages: one row a file, as before
    result = CliRunner().invoke(app, ["scan", prefix, "--out", manifest, "--ledger", out, "--op", "colorize",
                                      "--pages", "--storage-options", json.dumps(options)])  # fmt: skip
    assert result.exit_code == 0 and result.stdout.strip().splitlines()[-1] == "4", result.output
    assert "(and 1 later pages of multi-page TIFFs)" in result.output
    settings = JobSettings.of(manifest_uri=manifest, out_uri=out, model=tiny_model_path, steps=2, batch_size=4,
                              device="cpu", max_pixels=TEST_MAX_PIXELS, storage_options=options)  # fmt: skip
    assert (run_job(settings).ok, run_job(settings).skipped) == (4, 4)
    latest = {r["id"]: r for r in metadata.latest_rows(metadata.read_all(out, options)).to_pylist()}
    assert (latest["box/print.tif#page=2"]["input_page"], latest["box/print.tif"]["input_page"]) == (2, 1)
    again = scan(ScanSettings(prefix_uri=prefix, ledger_uri=out, storage_options=options, pages=True))
    assert (len(again.new), again.restored) == (0, 4)


def gray_png(value: int) -> bytes:
    buffer = BytesIO()
    Image.fromarray(gray(value, 32, 32)).save(buffer, "PNG")
    return buffer.getvalue()


def test_counting_pages_reads_no_pixels_and_minds_no_pixel_limit(tmp_path, monkeypatch):
    from pipeline.pages import count_pages

    (tmp_path / "two.tif").write_bytes(pages_tiff([gray(30, 32, 32), gray(220, 32, 32)]))
    (tmp_path / "broken.tif").write_bytes(b"II*\x00" + b"\x00" * 10)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10)  # each page is a "bomb" to Pillow's open
    assert count_pages([str(tmp_path / "two.tif"), str(tmp_path / "broken.tif")]) == [2, 1]
    assert Image.MAX_IMAGE_PIXELS == 10  # and the limit is put back


def test_counting_the_pages_of_a_large_tiff_on_s3_fetches_its_directories_not_its_pixels(s3_endpoint, monkeypatch):
    import hashlib
    import os

    import s3fs

    from pipeline import io
    from pipeline.pages import count_pages

    bucket = "count-" + hashlib.sha256(os.urandom(8)).hexdigest()[:8]
    options = {"endpoint_url": s3_endpoint, "key": "testing", "secret": "testing"}
    io.filesystem_for(f"s3://{bucket}", options)[0].mkdir(bucket)
    noise = np.random.default_rng(0).integers(0, 256, (2000, 1500), dtype=np.uint8)  # 3 MB a page, incompressible
    data = pages_tiff([noise, noise[::-1]])
    io.write_bytes_atomic(f"s3://{bucket}/plate.tif", data, options)
    fetched = []
    original = s3fs.core.S3File._fetch_range
    monkeypatch.setattr(s3fs.core.S3File, "_fetch_range",
                        lambda self, start, end: fetched.append(end - start) or original(self, start, end))
    assert count_pages([f"s3://{bucket}/plate.tif"], options) == [2]
    assert 0 < sum(fetched) < 1_000_000  # a few 64 KB reads; s3fs's 50 MB default block fetched the whole 6 MB
