"""Restorations written as TIFF (``--output-format tiff``, ``ddnm-batch restore IN OUT.tif``): the same pixels as
the PNG at the same bits, lossless; the scan's ICC profile, the provenance XMP and the inherited rights inside; the
same bytes on a re-run; a ledger that resumes them and redoes them when the format changes."""

from __future__ import annotations

import functools
from io import BytesIO

import numpy as np
import pytest
from PIL import Image, ImageCms
from pipeline_helpers import TEST_MAX_PIXELS, write_manifest
from typer.testing import CliRunner

from pipeline import encode, metadata
from pipeline.cli import app
from pipeline.decode import decode_image
from pipeline.report.entries import kept_of_scan
from pipeline.run import run_job
from pipeline.settings import JobSettings

tifffile = pytest.importorskip("tifffile")


def tiff_tags(data: bytes) -> tuple[np.ndarray, dict]:
    with tifffile.TiffFile(BytesIO(data)) as tif:
        page = tif.pages[0]
        return page.asarray(), {tag.name: tag.value for tag in page.tags.values()}


def plate16(h: int = 24, w: int = 32) -> np.ndarray:
    """A smooth 16-bit plate whose levels 8 bits cannot hold."""
    yy, xx = np.mgrid[0:h, 0:w]
    return (18000 + 250 * xx + 170 * yy + 7 * ((xx * yy) % 13)).astype(np.uint16)


@functools.cache
def srgb_profile() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


@pytest.mark.parametrize("bits, channels", [(8, 3), (16, 3), (16, 1), (8, 1)])
def test_the_tiff_holds_the_pngs_pixels_and_metadata(bits, channels):
    x = np.random.default_rng(bits + channels).uniform(-1, 1, (channels, 12, 17)).astype(np.float32)
    provenance = {"operator": "sr_avgpool", "model": "m", "seed": "3", "residual": "1e-07", "sourceSha256": "ab"}
    inherited = {"creator": "J. Smith", "rights": "CC0 — Stadtarchiv Zürich", "title": "Quay"}
    profile = srgb_profile() if channels == 3 else b""
    tiff = encode.encode_image(x, provenance, bits, profile, inherited, "tiff")
    png = encode.encode_image(x, provenance, bits, profile, inherited, "png")
    assert tiff == encode.encode_image(x, provenance, bits, profile, inherited, "tiff")  # no time inside
    pixels, tags = tiff_tags(tiff)
    expected = decode_image(png, 10**6).samples
    assert np.array_equal(pixels if channels == 1 else pixels.transpose(2, 0, 1), expected.reshape(pixels.shape if
                          channels == 1 else expected.shape))  # fmt: skip
    assert pixels.dtype == (np.uint16 if bits == 16 else np.uint8) and tags["Compression"] == 8  # Adobe Deflate
    assert tags["ImageDescription"].startswith("Algorithmically enhanced with DDNM") and tags["Artist"] == "J. Smith"
    assert "Copyright" not in tags  # not ASCII: TIFF's tag cannot hold it, the XMP does
    xmp = bytes(tags["XMP"]).decode("utf-8")
    assert 'ddnm:residual="1e-07"' in xmp and "algorithmicallyEnhanced" in xmp and "Stadtarchiv Zürich" in xmp
    assert (tags.get("InterColorProfile") is not None) == bool(profile)
    decoded = decode_image(tiff, 10**6)  # the pipeline reads its own TIFF back: the review page's thumbnails
    assert decoded.inherited["rights"] == "CC0 — Stadtarchiv Zürich" and decoded.inherited["title"] == "Quay"
    assert kept_of_scan(tiff, decoded).startswith(f"{bits}-bit {'colour' if channels == 3 else 'gray'}")


def test_restore_writes_a_tiff_when_out_says_tif(tmp_path):
    plate = plate16()
    source = tmp_path / "plate.tif"
    Image.fromarray(plate).save(source)
    out = tmp_path / "plate-colour.tif"
    result = CliRunner().invoke(app, ["restore", str(source), str(out), "--op", "colorize", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    pixels, tags = tiff_tags(out.read_bytes())
    assert pixels.dtype == np.uint16 and pixels.shape == (24, 32, 3)  # 16 bits: the plate's levels are kept
    assert np.abs(pixels.astype(np.float64).mean(axis=2) - plate).max() <= 1.0  # A x̂ = y, to 16-bit rounding
    assert 'ddnm:operator="colorize"' in bytes(tags["XMP"]).decode("utf-8")


def test_a_run_writes_tiffs_resumes_them_and_redoes_them_as_png(tiny_model_path, ray_local, tmp_path):
    plate = tmp_path / "plate.tif"
    Image.fromarray(plate16(32, 32)).save(plate)
    manifest = write_manifest(tmp_path / "m.csv", [{"id": "plate", "uri": "plate.tif", "params": '{"scale": 2}',
                                                     "rights": "CC0-1.0"}])  # fmt: skip
    out = str(tmp_path / "out")
    options = dict(manifest_uri=manifest, out_uri=out, op="sr_avgpool", model=tiny_model_path, steps=2,
                   max_pixels=TEST_MAX_PIXELS, device="cpu")  # fmt: skip
    tiff_job = JobSettings.of(**options, output_format="tiff")
    first = run_job(tiff_job)
    assert first.ok == 1, first.errors_by_type
    row = metadata.latest_rows(metadata.read_all(out)).to_pylist()[0]
    assert row["output_uri"].endswith(".tif") and row["output_bits"] == 16
    pixels, tags = tiff_tags(open(row["output_uri"], "rb").read())
    assert pixels.dtype == np.uint16 and tags["Copyright"] == "CC0-1.0"
    assert (run_job(tiff_job).skipped, run_job(JobSettings.of(**options)).ok) == (1, 1)  # PNG: another file
    latest = metadata.latest_rows(metadata.read_all(out)).to_pylist()[0]
    assert latest["output_uri"].endswith(".png")


def test_the_format_is_read_as_a_person_writes_it():
    from pipeline.settings import output_format_named

    assert [output_format_named(t) for t in ("TIFF", " tif", "Png")] == ["tiff", "tiff", "png"]


def test_an_unknown_output_format_is_one_line():
    with pytest.raises(ValueError, match="output_format must be one of"):
        JobSettings("m.csv", "out", output_format="jpeg")
    result = CliRunner().invoke(app, ["run", "m.csv", "--out", "out", "--output-format", "jpeg"])
    assert result.exit_code == 2 and "output_format must be one of ['png', 'tiff']" in result.output
    assert "Traceback" not in result.output


def test_a_very_large_restoration_is_written_as_bigtiff_and_read_back(monkeypatch):
    from pipeline import tiff_out

    monkeypatch.setattr(tiff_out, "CLASSIC_TIFF_BYTES", 100)  # a 12×17 colour image stands in for a 600 MP plate
    x = np.random.default_rng(0).uniform(-1, 1, (3, 12, 17)).astype(np.float32)
    data = encode.encode_image(x, {"operator": "colorize", "model": "m", "seed": "0", "residual": "0",
                                   "sourceSha256": "ab"}, 16, b"", {}, "tiff")  # fmt: skip
    assert data[:4] == b"II+\x00"  # BigTIFF: 64-bit offsets
    assert np.array_equal(decode_image(data, 10**6).samples, encode.to_uint16(x))
