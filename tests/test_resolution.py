"""A restoration states the scan's resolution: a print scanned at 600 dpi is restored at 600 dpi, and ×4 super-
resolved at 2400 dpi (the same inches, four times the pixels), in the PNG's pHYs chunk (8 and 16 bits) and the
TIFF's resolution tags, through the pipeline and ``ddnm-batch restore``; a scan that states none gets none."""

from __future__ import annotations

from io import BytesIO

import numpy as np
import pytest
from PIL import Image
from pipeline_helpers import TEST_MAX_PIXELS, write_manifest
from typer.testing import CliRunner

from pipeline import encode, metadata
from pipeline.cli import app
from pipeline.decode import decode_image
from pipeline.run import run_job
from pipeline.settings import JobSettings


def saved(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buffer = BytesIO()
    image.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def dpi_of(data: bytes) -> tuple[float, float] | None:
    with Image.open(BytesIO(data)) as image:
        dpi = image.info.get("dpi")
    return None if dpi is None else (round(float(dpi[0]), 1), round(float(dpi[1]), 1))


@pytest.mark.parametrize("fmt", ["TIFF", "PNG", "JPEG"])
def test_decode_reads_the_scans_resolution(fmt):
    scan = Image.new("L", (8, 6), 90)
    assert decode_image(saved(scan, fmt, dpi=(600, 300)), 10**6).dpi == pytest.approx((600, 300), abs=0.01)
    assert decode_image(saved(scan, fmt), 10**6).dpi is None  # Pillow's TIFF says 1 x 1: an aspect, not a resolution


def test_a_tiff_in_centimetres_and_the_tifffile_fallback():
    tifffile = pytest.importorskip("tifffile")
    buffer = BytesIO()
    tifffile.imwrite(buffer, np.full((4, 6), 7, np.uint8), resolution=(100.0, 100.0), resolutionunit="CENTIMETER")
    assert decode_image(buffer.getvalue(), 10**6).dpi == pytest.approx((254.0, 254.0))
    la = np.zeros((4, 6, 2), dtype=np.uint16)
    la[..., 1] = 65535  # 16-bit gray with alpha: Pillow cannot open it, tifffile reads it
    buffer = BytesIO()
    tifffile.imwrite(buffer, la, photometric="minisblack", extrasamples=["unassalpha"], resolution=(1200, 1200),
                     resolutionunit="INCH")  # fmt: skip
    assert decode_image(buffer.getvalue(), 10**6).dpi == pytest.approx((1200.0, 1200.0))


@pytest.mark.parametrize("bits, fmt", [(8, "png"), (16, "png"), (8, "tiff"), (16, "tiff")])
def test_the_output_states_the_resolution_it_is_given(bits, fmt):
    x = np.zeros((3, 5, 7), dtype=np.float32)
    data = encode.encode_image(x, {"operator": "colorize", "model": "m", "seed": "0", "residual": "0",
                                   "sourceSha256": "ab"}, bits, b"", {}, fmt, dpi=(2400.0, 1200.0))  # fmt: skip
    assert dpi_of(data) == pytest.approx((2400.0, 1200.0), abs=0.1)
    plain = encode.encode_image(x, {"operator": "colorize", "model": "m", "seed": "0", "residual": "0",
                                    "sourceSha256": "ab"}, bits, b"", {}, fmt)  # fmt: skip
    assert dpi_of(plain) is None


def test_restore_scales_the_resolution_with_super_resolution(tmp_path):
    source = tmp_path / "print.png"
    source.write_bytes(saved(Image.new("L", (16, 12), 120), "PNG", dpi=(600, 600)))
    out = tmp_path / "print-x2.png"
    result = CliRunner().invoke(app, ["restore", str(source), str(out), "--op", "sr_avgpool", "--scale", "2",
                                      "--device", "cpu", "--steps", "2"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert dpi_of(out.read_bytes()) == pytest.approx((1200.0, 1200.0), abs=0.1)


def test_a_run_keeps_the_resolution(tiny_model_path, ray_local, tmp_path):
    (tmp_path / "print.tif").write_bytes(saved(Image.new("L", (32, 32), 100), "TIFF", dpi=(800, 800)))
    manifest = write_manifest(tmp_path / "m.csv", [{"id": "print", "uri": "print.tif"}])
    out = str(tmp_path / "out")
    summary = run_job(JobSettings.of(manifest_uri=manifest, out_uri=out, op="colorize", model=tiny_model_path,
                                     steps=2, device="cpu", max_pixels=TEST_MAX_PIXELS))  # fmt: skip
    assert summary.ok == 1
    row = metadata.latest_rows(metadata.read_all(out)).to_pylist()[0]
    assert dpi_of(open(row["output_uri"], "rb").read()) == pytest.approx((800.0, 800.0), abs=0.1)
    assert row["output_dpi"] == pytest.approx(800.0)  # the ledger says what the file states
