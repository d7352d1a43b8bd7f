"""What a scan's master had, its restoration keeps: 16 bits a sample for a 16-bit scan (``pipeline.png16``) and the
scan's ICC profile where the output's colours are the scan's (``encode.output_profile``).

Pillow reads the 16-bit files this project writes (grey exactly, RGB by its high bytes) and their provenance chunks;
through ``ddnm-batch restore`` a colorized 16-bit plate keeps its gray levels to 16-bit precision, where 8 bits would
move them by up to 128 steps of 65535; an sRGB-tagged scan keeps its profile when super-resolved, not when colorized."""

from __future__ import annotations

import functools
import struct
import zlib
from io import BytesIO

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.encode import encode_png, encode_row, output_profile, sample_bits
from pipeline.png16 import encode_png16, to_uint16
from pipeline.rows import STATUS_OK, pack_array
from pipeline.settings import JobSettings


def read_png16(data: bytes) -> np.ndarray:
    """``(C, H, W)`` uint16 of a PNG this project wrote: IHDR and IDAT parsed, CRCs checked, the Up filter undone."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, at = {}, 8
    while at < len(data):
        (length,) = struct.unpack(">I", data[at:at + 4])
        kind, body = data[at + 4:at + 8], data[at + 8:at + 8 + length]
        assert struct.unpack(">I", data[at + 8 + length:at + 12 + length])[0] == zlib.crc32(kind + body)
        chunks.setdefault(kind, b"")
        chunks[kind] += body
        at += 12 + length
    width, height, depth, colour, *_ = struct.unpack(">IIBBBBB", chunks[b"IHDR"])
    assert depth == 16
    channels = {0: 1, 2: 3}[colour]
    raw = np.frombuffer(zlib.decompress(chunks[b"IDAT"]), np.uint8).reshape(height, 1 + width * channels * 2)
    assert (raw[:, 0] == 2).all()  # every row Up-filtered
    rows = np.cumsum(raw[:, 1:], axis=0, dtype=np.uint64) % 256  # Up: each byte adds the one above, modulo 256
    samples = rows.astype(np.uint8).view(">u2").reshape(height, width, channels)
    return samples.transpose(2, 0, 1).astype(np.uint16)


def bit_depth(png: bytes) -> int:
    return png[24]  # IHDR's bit depth: 8 signature + 4 length + 4 type + 4 width + 4 height bytes in


def test_grey_16_bit_is_read_back_exactly_by_pillow():
    samples = np.random.default_rng(0).integers(0, 65536, size=(1, 37, 53), dtype=np.uint16)  # wraps every filter
    png = encode_png16(samples, {"Software": "test"})
    with Image.open(BytesIO(png)) as image:
        assert image.mode in ("I;16", "I") and image.size == (53, 37)
        np.testing.assert_array_equal(np.asarray(image).astype(np.uint16), samples[0])
    np.testing.assert_array_equal(read_png16(png), samples)


def test_rgb_16_bit_matches_pillow_in_its_high_bytes_and_keeps_its_text():
    samples = np.random.default_rng(1).integers(0, 65536, size=(3, 21, 34), dtype=np.uint16)
    png = encode_png16(samples, {"Software": "ddnm-batch test", "Description": "réstored — ok"})
    with Image.open(BytesIO(png)) as image:  # Pillow reads 16-bit RGB as 8-bit RGB: the high byte of each sample
        assert image.mode == "RGB" and image.size == (34, 21)
        np.testing.assert_array_equal(np.asarray(image).transpose(2, 0, 1), samples >> 8)
        assert image.info["Software"] == "ddnm-batch test" and image.info["Description"] == "réstored — ok"
    np.testing.assert_array_equal(read_png16(png), samples)
    assert encode_png16(samples, {"Software": "ddnm-batch test", "Description": "réstored — ok"}) == png  # stable


def test_to_uint16_rounds_and_clips():
    x = np.array([[[-2.0, -1.0, 0.0, 1.0, 3.0]]])
    np.testing.assert_array_equal(to_uint16(x), [[[0, 0, 32768, 65535, 65535]]])


@pytest.mark.parametrize("mode, bits", [("I;16", 16), ("I;16B", 16), ("I", 16), ("F", 16), ("L", 8), ("RGB", 8),
                                        ("CMYK", 8), (None, 8)])
def test_sample_bits_follow_the_scan(mode, bits):
    assert sample_bits(mode) == bits


def test_encode_row_writes_16_bits_for_a_16_bit_scan(tmp_path):
    x = np.random.default_rng(2).uniform(-1, 1, size=(3, 8, 12)).astype(np.float32)
    row = {"id": "plate", "op": "colorize", "params": "{}", "status": STATUS_OK, "restored_npy": pack_array(x),
           "model_name": "m", "weights_sha256": "0" * 64, "seed": 1, "steps": 2, "samples": 1,
           "consistency_residual": 0.0, "input_sha256": "1" * 64}  # fmt: skip
    settings = JobSettings("-", str(tmp_path / "out"))
    written, outs = {}, {}
    for mode in ("I;16", "L"):
        outs[mode] = out = encode_row({**row, "id": f"plate-{mode}", "input_mode": mode}, settings)
        assert out["status"] == STATUS_OK, out
        written[mode] = open(out["output_uri"], "rb").read()
    assert bit_depth(written["I;16"]) == 16 and bit_depth(written["L"]) == 8
    assert [outs[m]["output_bits"] for m in ("I;16", "L")] == [16, 8]  # the ledger says what the file holds
    np.testing.assert_array_equal(read_png16(written["I;16"]), to_uint16(x))
    with pytest.raises(ValueError, match="8 or 16"):
        encode_png(x, {}, bits=12)


def test_a_colorized_16_bit_plate_keeps_its_gray_levels_at_16_bits(tmp_path):
    # A smooth plate whose levels are not multiples of 257: 8 bits could not hold them.
    yy, xx = np.mgrid[0:40, 0:48]
    plate = (18000 + 250 * xx + 170 * yy + 7 * ((xx * yy) % 13)).astype(np.uint16)
    source = tmp_path / "plate.tif"
    Image.fromarray(plate).save(source)  # 16-bit grey TIFF, as glass plates are scanned
    out = tmp_path / "plate.png"
    result = CliRunner().invoke(app, ["restore", str(source), str(out), "--op", "colorize", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    png = out.read_bytes()
    assert bit_depth(png) == 16 and "(16-bit)" in " ".join(result.output.split())  # and the summary says so
    colour = read_png16(png).astype(np.float64)
    assert colour.shape == (3, 40, 48)
    gray = colour.mean(axis=0)  # colorize's A: the channel mean, which DDNM keeps equal to the scan
    assert np.abs(gray - plate).max() <= 1.0  # rounding of three channels; 8 bits would be off by up to 128
    assert np.abs(colour - gray).max() > 100  # and it is coloured, not three copies of the plate


def test_restore_refuses_an_output_name_that_is_not_png_or_tiff(tmp_path):
    result = CliRunner().invoke(app, ["restore", "in.tif", str(tmp_path / "out.jpg"), "--op", "colorize"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "name it" in result.output and "out.png or" in result.output and "out.tif" in result.output


# --- the scan's ICC profile travels to the output where the output's colours are the scan's ---------------------

@functools.cache
def rgb_profile() -> bytes:
    """One sRGB profile for the whole module: LittleCMS stamps each new profile with the time it was made."""
    from PIL import ImageCms

    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def gray_profile() -> bytes:
    profile = bytearray(rgb_profile())
    profile[16:20] = b"GRAY"  # the header's data colour space is all output_profile reads
    return bytes(profile)


@pytest.mark.parametrize("profile, op, channels, kept", [
    ("rgb", "sr_bicubic", 3, True), ("rgb", "denoise", 3, True), ("gray", "denoise", 1, True),
    ("rgb", "colorize", 3, False), ("rgb", "old_photo", 3, False),  # the colours are the prior's
    ("gray", "sr_bicubic", 3, False), ("rgb", "denoise", 1, False),  # a profile for other channels
    ("none", "denoise", 3, False),
])
def test_output_profile_follows_whose_colours_the_output_has(profile, op, channels, kept):
    data = {"rgb": rgb_profile(), "gray": gray_profile(), "none": b""}[profile]
    assert output_profile(data, op, channels) == (data if kept else b"")


@pytest.mark.parametrize("bits", [8, 16])
def test_the_profile_is_embedded_at_either_depth(bits):
    x = np.random.default_rng(3).uniform(-1, 1, size=(3, 6, 7)).astype(np.float32)
    provenance = {"operator": "denoise", "model": "m", "seed": "1", "residual": "0", "sourceSha256": "0"}
    with Image.open(BytesIO(encode_png(x, provenance, bits, rgb_profile()))) as image:
        assert image.info["icc_profile"] == rgb_profile()
    with Image.open(BytesIO(encode_png(x, provenance, bits))) as image:
        assert "icc_profile" not in image.info


def test_restore_keeps_the_scans_profile_for_sr_and_drops_it_for_colorize(tmp_path):
    source = tmp_path / "tagged.png"
    pixels = np.random.default_rng(4).integers(40, 200, size=(16, 16, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(source, icc_profile=rgb_profile())
    for op, extra, kept in (("sr_avgpool", ["--scale", "2", "--steps", "2"], True),
                            ("colorize", ["--steps", "2", "--samples", "2"], False)):
        out = tmp_path / f"{op}.png"
        result = CliRunner().invoke(app, ["restore", str(source), str(out), "--op", op, "--device", "cpu", *extra])
        assert result.exit_code == 0, result.output
        with Image.open(out) as image:
            assert image.info.get("icc_profile", b"") == (rgb_profile() if kept else b""), op


# --- a grey scan restored by an RGB prior comes back grey, unless the operator adds colour -------------------------

def test_in_source_channels_folds_the_rgb_lift_back_for_grey_scans():
    from pipeline.measurement import in_source_channels

    x = np.random.default_rng(5).uniform(-1, 1, size=(3, 4, 5))
    np.testing.assert_allclose(in_source_channels(x, 1, "sr_bicubic"), x.mean(axis=0, keepdims=True))
    for source, op in ((1, "colorize"), (1, "old_photo"), (3, "sr_bicubic"), (3, "denoise")):
        assert in_source_channels(x, source, op) is x, (source, op)


def test_a_16_bit_plate_super_resolved_is_a_16_bit_grey_png_consistent_to_16_bits(tmp_path):
    yy, xx = np.mgrid[0:16, 0:16]
    plate = (16000 + 1100 * xx + 700 * yy + 5 * ((xx * yy) % 11)).astype(np.uint16)
    source, out = tmp_path / "plate.tif", tmp_path / "plate_x2.png"
    Image.fromarray(plate).save(source)
    result = CliRunner().invoke(app, ["restore", str(source), str(out), "--op", "sr_avgpool", "--scale", "2",
                                      "--steps", "2", "--device", "cpu"])  # fmt: skip
    assert result.exit_code == 0, result.output
    with Image.open(out) as image:  # grey, as the plate: no tint from the prior's channels
        assert image.mode in ("I;16", "I") and image.size == (32, 32)
        restored = np.asarray(image).astype(np.float64)
    pooled = restored.reshape(16, 2, 16, 2).mean(axis=(1, 3))  # A: 2x2 average pooling
    assert np.abs(pooled - plate).max() <= 1.0  # consistent at 16 bits


@pytest.mark.parametrize("op, channels, kept", [("sr_avgpool", 3, True), ("colorize", 3, False), ("denoise", 1, False)])
def test_the_ledger_row_says_what_the_png_kept(tmp_path, op, channels, kept):
    x = np.random.default_rng(3).uniform(-1, 1, size=(channels, 6, 5)).astype(np.float32)
    row = {"id": op, "op": op, "params": "{}", "status": STATUS_OK, "restored_npy": pack_array(x), "model_name": "m",
           "weights_sha256": "0" * 64, "seed": 1, "steps": 2, "samples": 1, "consistency_residual": 0.0,
           "input_sha256": "1" * 64, "input_mode": "RGB", "icc_profile": rgb_profile()}  # fmt: skip
    out = encode_row(row, JobSettings("-", str(tmp_path / "out")))
    with Image.open(out["output_uri"]) as image:
        assert ("icc_profile" in image.info) == kept and len(image.getbands()) == channels
    assert (out["output_bits"], out["output_channels"], out["output_icc"]) == (8, channels, kept)


def test_the_same_pixels_give_the_same_bytes_whatever_the_residuals_last_digits(tmp_path):
    """One thread and two gave a restoration identical pixels and residuals 2.92839e-08 / 2.92812e-08: the PNG
    states 3 significant figures, so its bytes are the same on either machine (the ledger keeps the full value)."""
    x = np.random.default_rng(4).uniform(-1, 1, size=(3, 5, 7)).astype(np.float32)
    row = {"op": "sr_avgpool", "params": "{}", "status": STATUS_OK, "restored_npy": pack_array(x), "model_name": "m",
           "weights_sha256": "0" * 64, "seed": 1, "steps": 2, "samples": 1, "input_sha256": "1" * 64,
           "input_mode": "RGB"}  # fmt: skip
    settings = JobSettings("-", str(tmp_path / "out"))
    written = [encode_row({**row, "id": f"r{i}", "consistency_residual": r}, settings)
               for i, r in enumerate((2.92839e-08, 2.92812e-08, 2.97e-08))]  # fmt: skip
    png = [open(w["output_uri"], "rb").read() for w in written]
    assert png[0] == png[1] != png[2]
    assert written[0]["consistency_residual"] == 2.92839e-08


@pytest.mark.parametrize("top, dtype", [(255, np.uint8), (65535, np.uint16)])
def test_quantising_in_bands_gives_the_whole_image_values(top, dtype):
    """png16.quantize converts a band of rows at a time (a large plate's float64 temporaries stay small): every band
    height gives rint((x + 1)·top/2) clipped, as one whole-image conversion does."""
    from pipeline.png16 import quantize

    x = np.random.default_rng(5).uniform(-1.1, 1.1, size=(3, 23, 17)).astype(np.float32)
    whole = np.clip(np.rint((x.astype(np.float64) + 1.0) * (top / 2)), 0, top).astype(dtype)
    for band_pixels in (1, 17 * 5, 10**6):
        np.testing.assert_array_equal(quantize(x, top, dtype, band_pixels=band_pixels), whole)
