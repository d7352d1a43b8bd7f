"""A 48-bit RGB TIFF (colour film at 16 bits a sample) is read at 16 bits where tifffile is installed
(``pipeline.tiff16``), turned upright as Pillow turns it, and restored into a 16-bit PNG; where tifffile cannot
read it, Pillow's 8 bits stand and the row does not fail."""

from __future__ import annotations

from io import BytesIO

import numpy as np
import pytest
import tifffile
from PIL import Image, ImageOps
from test_output_fidelity import bit_depth, read_png16
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.decode import decode_image
from pipeline.encode import sample_bits
from pipeline.tiff16 import RGB16_MODE

LIMIT = 10**6


def tiff48(samples: np.ndarray, orientation: int = 1, compression=None) -> bytes:
    buffer = BytesIO()
    tifffile.imwrite(buffer, samples, photometric="rgb", compression=compression,
                     extratags=[(274, "H", 1, orientation, True)])  # fmt: skip
    return buffer.getvalue()


def film(h: int = 6, w: int = 9, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 65536, size=(h, w, 3), dtype=np.uint16)


@pytest.mark.parametrize("compression", [None, "zlib"])
def test_a_48_bit_tiff_is_read_at_16_bits(compression):
    samples = film()
    decoded, mode, _, _ = decode_image(tiff48(samples, compression=compression), LIMIT)
    assert mode == RGB16_MODE and sample_bits(mode) == 16 and decoded.dtype == np.uint16
    np.testing.assert_array_equal(decoded, samples.transpose(2, 0, 1))


@pytest.mark.parametrize("orientation", range(1, 9))
def test_it_is_turned_upright_as_pillow_turns_it(orientation):
    data = tiff48(film(5, 8, seed=orientation), orientation)
    decoded = decode_image(data, LIMIT).samples
    with Image.open(BytesIO(data)) as image:  # Pillow's 8 bits: the high byte of each sample, turned by Pillow
        expected = np.asarray(ImageOps.exif_transpose(image).convert("RGB")).transpose(2, 0, 1)
    assert decoded.dtype == np.uint16 and decoded.shape == expected.shape
    np.testing.assert_array_equal(decoded >> 8, expected)


def test_without_a_decoder_pillows_8_bits_stand(monkeypatch):
    def cannot(*args, **kwargs):
        raise KeyError("<COMPRESSION.LZW: 5> requires the 'imagecodecs' package")

    monkeypatch.setattr(tifffile, "TiffFile", cannot)
    samples = film()
    decoded, mode, _, _ = decode_image(tiff48(samples), LIMIT)
    assert mode == "RGB" and decoded.dtype == np.uint8 and sample_bits(mode) == 8
    np.testing.assert_array_equal(decoded, (samples >> 8).transpose(2, 0, 1))


def test_16_bit_rgba_is_composited_over_white():
    rgba = np.zeros((2, 3, 4), dtype=np.uint16)
    rgba[..., :3], rgba[..., 3] = 20000, 0  # fully transparent
    rgba[0, 0] = (1000, 2000, 3000, 65535)  # one opaque pixel
    buffer = BytesIO()
    tifffile.imwrite(buffer, rgba, photometric="rgb", extrasamples=["unassalpha"])
    decoded, mode, _, _ = decode_image(buffer.getvalue(), LIMIT)
    assert mode == RGB16_MODE
    assert decoded[:, 0, 0].tolist() == [1000, 2000, 3000] and (decoded[:, 1, :] == 65535).all()


def test_a_48_bit_scan_super_resolved_keeps_16_bits(tmp_path):
    yy, xx = np.mgrid[0:16, 0:16]
    base = 15000 + 900 * xx + 600 * yy
    samples = np.stack([base, base + 3001, base + 7003], axis=-1).astype(np.uint16)
    source, out = tmp_path / "film.tif", tmp_path / "film.png"
    source.write_bytes(tiff48(samples))
    result = CliRunner().invoke(app, ["restore", str(source), str(out), "--op", "sr_avgpool", "--scale", "2",
                                      "--steps", "2", "--device", "cpu"])  # fmt: skip
    assert result.exit_code == 0, result.output
    png = out.read_bytes()
    assert bit_depth(png) == 16
    restored = read_png16(png).astype(np.float64)  # (3, 32, 32)
    pooled = restored.reshape(3, 16, 2, 16, 2).mean(axis=(2, 4))  # A: 2x2 average pooling
    assert np.abs(pooled - samples.transpose(2, 0, 1)).max() <= 1.0  # consistent to 16 bits; 8 would be ~128 off
