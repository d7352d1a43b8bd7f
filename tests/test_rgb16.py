"""A 48-bit RGB TIFF or PNG (colour film at 16 bits a sample) is read at 16 bits where its decoder (tifffile,
imagecodecs) is installed (``pipeline.rgb16``), turned upright as Pillow turns it, and restored into a 16-bit PNG;
where the decoder cannot read it, Pillow's 8 bits stand and the row does not fail."""

from __future__ import annotations

import struct
import zlib
from io import BytesIO

import imagecodecs
import numpy as np
import pytest
import tifffile
from PIL import Image, ImageOps
from test_output_fidelity import bit_depth, read_png16
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.decode import decode_image
from pipeline.encode import sample_bits
from pipeline.png16 import encode_png16
from pipeline.rgb16 import GRAY16_ALPHA_MODE, J2K_SOC_SIZ, RGB16_MODE, _j2k_bits

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
    decoded, mode, *_ = decode_image(tiff48(samples, compression=compression), LIMIT)
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


@pytest.mark.parametrize("kind", ["tif", "png"])
def test_without_a_decoder_pillows_8_bits_stand(monkeypatch, kind):
    failure = KeyError("<COMPRESSION.LZW: 5> requires the 'imagecodecs' package") if kind == "tif" else \
        RuntimeError("no libpng")  # fmt: skip

    def cannot(*args, **kwargs):
        raise failure

    monkeypatch.setattr(*((tifffile, "TiffFile") if kind == "tif" else (imagecodecs, "png_decode")), cannot)
    samples = film()
    decoded, mode, *_ = decode_image(tiff48(samples) if kind == "tif" else png48(samples), LIMIT)
    assert mode == "RGB" and decoded.dtype == np.uint8 and sample_bits(mode) == 8
    np.testing.assert_array_equal(decoded, (samples >> 8).transpose(2, 0, 1))


def test_16_bit_rgba_is_composited_over_white():
    rgba = np.zeros((2, 3, 4), dtype=np.uint16)
    rgba[..., :3], rgba[..., 3] = 20000, 0  # fully transparent
    rgba[0, 0] = (1000, 2000, 3000, 65535)  # one opaque pixel
    buffer = BytesIO()
    tifffile.imwrite(buffer, rgba, photometric="rgb", extrasamples=["unassalpha"])
    decoded, mode, *_ = decode_image(buffer.getvalue(), LIMIT)
    assert mode == RGB16_MODE
    assert decoded[:, 0, 0].tolist() == [1000, 2000, 3000] and (decoded[:, 1, :] == 65535).all()


@pytest.mark.parametrize("suffix", ["tif", "png"])
def test_a_48_bit_scan_super_resolved_keeps_16_bits(tmp_path, suffix):
    yy, xx = np.mgrid[0:16, 0:16]
    base = 15000 + 900 * xx + 600 * yy
    samples = np.stack([base, base + 3001, base + 7003], axis=-1).astype(np.uint16)
    source, out = tmp_path / f"film.{suffix}", tmp_path / "film.png"
    source.write_bytes(tiff48(samples) if suffix == "tif" else png48(samples))
    result = CliRunner().invoke(app, ["restore", str(source), str(out), "--op", "sr_avgpool", "--scale", "2",
                                      "--steps", "2", "--device", "cpu"])  # fmt: skip
    assert result.exit_code == 0, result.output
    png = out.read_bytes()
    assert bit_depth(png) == 16
    restored = read_png16(png).astype(np.float64)  # (3, 32, 32)
    pooled = restored.reshape(3, 16, 2, 16, 2).mean(axis=(2, 4))  # A: 2x2 average pooling
    assert np.abs(pooled - samples.transpose(2, 0, 1)).max() <= 1.0  # consistent to 16 bits; 8 would be ~128 off


def png48(samples: np.ndarray, orientation: int = 1) -> bytes:
    """A 48-bit (or 64-bit RGBA) PNG by libpng, with an ``eXIf`` chunk before IDAT when ``orientation`` is set."""
    png = imagecodecs.png_encode(samples)
    if orientation == 1:
        return png
    exif = Image.Exif()
    exif[0x0112] = orientation
    body = exif.tobytes().removeprefix(b"Exif\x00\x00")  # the chunk holds the bare TIFF structure
    chunk = struct.pack(">I", len(body)) + b"eXIf" + body + struct.pack(">I", zlib.crc32(b"eXIf" + body))
    at = png.index(b"IDAT") - 4
    return png[:at] + chunk + png[at:]


def test_a_48_bit_png_is_read_at_16_bits():
    samples = film(7, 5, seed=3)
    decoded, mode, *_ = decode_image(png48(samples), LIMIT)
    assert mode == RGB16_MODE and decoded.dtype == np.uint16
    np.testing.assert_array_equal(decoded, samples.transpose(2, 0, 1))


@pytest.mark.parametrize("orientation", range(1, 9))
def test_a_48_bit_png_is_turned_upright_as_pillow_turns_it(orientation):
    data = png48(film(5, 8, seed=orientation), orientation)
    decoded = decode_image(data, LIMIT).samples
    with Image.open(BytesIO(data)) as image:
        expected = np.asarray(ImageOps.exif_transpose(image).convert("RGB")).transpose(2, 0, 1)
    assert decoded.dtype == np.uint16 and decoded.shape == expected.shape
    np.testing.assert_array_equal(decoded >> 8, expected)


def test_a_64_bit_png_is_composited_over_white():
    rgba = np.zeros((2, 3, 4), dtype=np.uint16)
    rgba[0, 0] = (1000, 2000, 3000, 65535)
    decoded, mode, *_ = decode_image(png48(rgba), LIMIT)
    assert mode == RGB16_MODE
    assert decoded[:, 0, 0].tolist() == [1000, 2000, 3000] and (decoded[:, 1, :] == 65535).all()


def test_an_8_bit_png_and_a_16_bit_grey_png_are_left_to_pillow():
    rgb8 = np.random.default_rng(1).integers(0, 256, size=(4, 6, 3), dtype=np.uint8)
    decoded, mode, *_ = decode_image(imagecodecs.png_encode(rgb8), LIMIT)
    assert mode == "RGB" and decoded.dtype == np.uint8
    grey = np.random.default_rng(2).integers(0, 65536, size=(1, 4, 6), dtype=np.uint16)
    decoded, mode, *_ = decode_image(encode_png16(grey, {}), LIMIT)
    assert mode != RGB16_MODE and sample_bits(mode) == 16
    np.testing.assert_array_equal(decoded.astype(np.uint16), grey)


def test_a_restored_48_bit_png_reads_back_at_16_bits_as_the_next_input():
    """The project's own 16-bit colour output is a 16-bit input: a restoration of a restoration loses no bits."""
    samples = film(6, 4, seed=9).transpose(2, 0, 1)
    decoded, mode, *_ = decode_image(encode_png16(samples, {"Software": "test"}), LIMIT)
    assert mode == RGB16_MODE
    np.testing.assert_array_equal(decoded, samples)


@pytest.mark.parametrize("codecformat", ["jp2", "j2k"])
@pytest.mark.parametrize("bits", [12, 16])
def test_a_deep_colour_jpeg_2000_is_read_at_16_bits(codecformat, bits):
    """Preservation masters are often JPEG 2000: a JP2 file or a bare codestream, at 12 or 16 bits a sample. Fewer
    than 16 are shifted up as Pillow shifts a 12-bit gray JPEG 2000 (full scale stays full scale)."""
    samples = np.random.default_rng(bits).integers(0, 2**bits, size=(6, 9, 3), dtype=np.uint16)
    data = imagecodecs.jpeg2k_encode(samples, level=0, codecformat=codecformat, bitspersample=bits)  # lossless
    decoded, mode, *_ = decode_image(data, LIMIT)
    assert mode == RGB16_MODE and decoded.dtype == np.uint16
    np.testing.assert_array_equal(decoded, (samples << (16 - bits)).transpose(2, 0, 1))


def test_an_8_bit_jpeg_2000_and_a_broken_header_are_left_to_pillow():
    samples = np.random.default_rng(0).integers(0, 256, size=(6, 9, 3), dtype=np.uint8)
    data = imagecodecs.jpeg2k_encode(samples, level=0, codecformat="jp2")
    decoded, mode, *_ = decode_image(data, LIMIT)
    assert mode == "RGB" and decoded.dtype == np.uint8
    np.testing.assert_array_equal(decoded, samples.transpose(2, 0, 1))
    assert _j2k_bits(b"\x00\x00\x00\x0cjP  \r\n\x87\n" + b"\x00\x00\x00\x00") is None  # no codestream box
    assert _j2k_bits(J2K_SOC_SIZ + b"\x00" * 10) is None  # a SIZ marker cut short


def test_a_16_bit_gray_png_with_alpha_stays_gray_at_16_bits():
    """Pillow opens it as 8-bit RGBA (a gray master would come back colour, at 8 bits): it is read as gray at 16
    bits, transparent pixels white, as decode composites Pillow's LA."""
    la = np.zeros((3, 5, 2), dtype=np.uint16)
    la[..., 0] = np.arange(15, dtype=np.uint16).reshape(3, 5) * 4001
    la[..., 1] = 65535
    la[2, 4, 1] = 0  # one transparent pixel
    decoded, mode, *_ = decode_image(imagecodecs.png_encode(la), LIMIT)
    assert mode == GRAY16_ALPHA_MODE and sample_bits(mode) == 16 and decoded.shape == (1, 3, 5)
    expected = la[..., 0].copy()
    expected[2, 4] = 65535
    np.testing.assert_array_equal(decoded[0], expected)
