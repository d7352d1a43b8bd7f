"""pipeline.decode: every Pillow mode an archive holds, EXIF rotation, and each kind of bad file."""

from __future__ import annotations

from io import BytesIO

import numpy as np
import pytest
from PIL import Image, ImageCms

from pipeline.decode import decode_image, decode_mask, decode_row, to_signed_unit
from pipeline.rows import RowError
from pipeline.settings import JobSettings

LIMIT = 10_000_000


def encoded(image: Image.Image, fmt: str = "PNG", **save_kwargs) -> bytes:
    buffer = BytesIO()
    image.save(buffer, format=fmt, **save_kwargs)
    return buffer.getvalue()


def gradient(h: int = 6, w: int = 10) -> np.ndarray:
    return (np.arange(h * w).reshape(h, w) * 255 // (h * w - 1)).astype(np.uint8)


@pytest.mark.parametrize(
    ("mode", "fmt", "channels"),
    [("1", "PNG", 1), ("L", "PNG", 1), ("LA", "PNG", 1), ("RGB", "PNG", 3), ("RGBA", "PNG", 3), ("P", "PNG", 3),
     ("CMYK", "JPEG", 3), ("CMYK", "TIFF", 3), ("I;16", "PNG", 1), ("I", "TIFF", 1), ("F", "TIFF", 1),
     ("YCbCr", "JPEG", 3)],
)  # fmt: skip
def test_every_mode_decodes_to_grey_or_rgb_in_range(mode, fmt, channels):
    source = Image.fromarray(gradient()).convert(mode)
    samples, source_mode, *_ = decode_image(encoded(source, fmt), LIMIT)
    x = to_signed_unit(samples)
    assert samples.shape == (channels, 6, 10)
    assert x.dtype == np.float32 and -1.0 <= x.min() and x.max() <= 1.0
    assert source_mode  # the stored mode is reported as read


def test_grey_values_map_linearly_to_minus_one_one():
    samples, mode, *_ = decode_image(encoded(Image.fromarray(np.array([[0, 255]], dtype=np.uint8))), LIMIT)
    assert mode == "L"
    np.testing.assert_allclose(to_signed_unit(samples)[0, 0], [-1.0, 1.0])


def test_sixteen_bit_grey_keeps_its_depth():
    values = np.array([[0, 257, 65535]], dtype=np.uint16)
    samples = decode_image(encoded(Image.fromarray(values)), LIMIT).samples
    assert samples.dtype == np.uint16
    np.testing.assert_allclose(to_signed_unit(samples)[0, 0], [-1.0, 257 / 65535 * 2 - 1, 1.0], atol=1e-6)


def test_transparent_pixels_are_composited_over_white():
    rgba = np.zeros((2, 2, 4), dtype=np.uint8)
    rgba[0, 0] = [10, 20, 30, 255]  # opaque
    samples = decode_image(encoded(Image.fromarray(rgba, "RGBA")), LIMIT).samples
    assert tuple(samples[:, 0, 0]) == (10, 20, 30)
    assert tuple(samples[:, 1, 1]) == (255, 255, 255)


def test_palette_with_transparency_is_composited():
    image = Image.fromarray(gradient(2, 2)).convert("P")
    image.info["transparency"] = 0
    samples = decode_image(encoded(image, transparency=0), LIMIT).samples
    assert samples.shape[0] == 3 and samples.max() == 255


def test_exif_orientation_is_applied():
    image = Image.fromarray(gradient(6, 10))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    samples = decode_image(encoded(image, "JPEG", exif=exif.tobytes()), LIMIT).samples
    assert samples.shape == (1, 10, 6)


def test_icc_profile_is_noted():
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    has_icc = decode_image(encoded(Image.new("RGB", (4, 4)), icc_profile=profile), LIMIT).icc_profile
    no_icc = decode_image(encoded(Image.new("RGB", (4, 4))), LIMIT).icc_profile
    assert has_icc and not no_icc


def png_bytes() -> bytes:
    rng = np.random.default_rng(0)
    return encoded(Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)))


@pytest.mark.parametrize(
    ("data", "error_type"),
    [
        (b"", "EmptyFile"),
        (b"this is not an image at all" * 10, "CorruptImage"),
        (png_bytes()[: len(png_bytes()) // 2], "TruncatedImage"),
        (png_bytes()[:40] + b"\x00" * 200 + png_bytes()[240:], "CorruptImage"),
    ],
    ids=["zero-byte", "garbage", "truncated", "damaged"],
)
def test_bad_files_raise_row_errors(data, error_type):
    with pytest.raises(RowError) as info:
        decode_image(data, LIMIT)
    assert info.value.error_type == error_type
    assert info.value.message


def test_decompression_bomb_limit_is_configurable():
    data = encoded(Image.new("L", (100, 100)))
    assert decode_image(data, 10_000)[0].shape == (1, 100, 100)
    with pytest.raises(RowError) as info:
        decode_image(data, 9_999)
    assert info.value.error_type == "DecompressionBomb"
    assert "10000 pixels" in info.value.message and "--max-pixels" in info.value.message


def test_pillow_global_limit_is_left_as_it_was():
    before = Image.MAX_IMAGE_PIXELS
    decode_image(encoded(Image.new("L", (10, 10))), 500)
    with pytest.raises(RowError):
        decode_image(encoded(Image.new("L", (100, 100))), 500)
    assert Image.MAX_IMAGE_PIXELS == before


def test_far_over_the_limit_is_still_a_row_error():
    # Pillow itself raises DecompressionBombError past twice its limit, before our own check.
    with pytest.raises(RowError) as info:
        decode_image(encoded(Image.new("1", (2000, 2000))), 1000)
    assert info.value.error_type == "DecompressionBomb"
    # The message quotes the limit in force (--max-pixels), not Pillow's threshold of twice it.
    assert "4000000 pixels" in info.value.message and "limit of 1000 pixels" in info.value.message
    assert "2000 pixels" not in info.value.message


def test_mask_white_is_known_and_size_must_match():
    mask = np.array([[0, 255, 200], [10, 128, 255]], dtype=np.uint8)
    known = decode_mask(encoded(Image.fromarray(mask)), (2, 3), LIMIT)
    np.testing.assert_array_equal(known, [[False, True, True], [False, True, True]])
    with pytest.raises(RowError) as info:
        decode_mask(encoded(Image.fromarray(mask)), (3, 2), LIMIT)
    assert info.value.error_type == "MaskSizeMismatch"
    assert "3x2" in info.value.message and "2x3" in info.value.message


def settings_for(tmp_path) -> JobSettings:
    return JobSettings.of(manifest_uri=str(tmp_path / "m.csv"), out_uri=str(tmp_path / "out"), op="inpaint")


def row_for(uri: str, mask_uri: str = "") -> dict:
    return {"id": "r1", "uri": uri, "op": "inpaint", "mask_uri": mask_uri, "params": "{}", "extra": "{}"}


def test_decode_row_reads_hashes_and_packs(tmp_path):
    path, mask_path = tmp_path / "a.png", tmp_path / "m.png"
    path.write_bytes(encoded(Image.new("RGB", (5, 4), (1, 2, 3))))
    mask_path.write_bytes(encoded(Image.new("L", (5, 4), 255)))
    out = decode_row(row_for(str(path), str(mask_path)), settings_for(tmp_path))
    assert out["status"] == "ok" and out["input_width"] == 5 and out["input_height"] == 4
    assert len(out["input_sha256"]) == 64 and out["pixels_npy"] and out["mask_npy"]
    assert "uri" not in out and out["source_uri"] == str(path)


def test_decode_row_turns_failures_into_error_rows(tmp_path):
    path = tmp_path / "a.png"
    path.write_bytes(encoded(Image.new("RGB", (5, 4))))
    (tmp_path / "m.png").write_bytes(encoded(Image.new("L", (4, 5))))
    missing = decode_row(row_for(str(tmp_path / "nope.png")), settings_for(tmp_path))
    mismatch = decode_row(row_for(str(path), str(tmp_path / "m.png")), settings_for(tmp_path))
    assert (missing["status"], missing["error_type"]) == ("error", "NotFound")
    assert (mismatch["status"], mismatch["error_type"]) == ("error", "MaskSizeMismatch")
    assert missing["decode_s"] >= 0


def test_a_scale_that_would_make_the_output_too_large_is_an_error_row_quoting_the_limit(tmp_path):
    path = tmp_path / "small.png"
    path.write_bytes(encoded(Image.new("L", (10, 8))))
    settings = JobSettings.of(manifest_uri=str(tmp_path / "m.csv"), out_uri=str(tmp_path / "out"), max_pixels=5000)

    def decoded(scale):
        row = {"id": "r", "uri": str(path), "op": "sr_bicubic", "mask_uri": "", "params": f'{{"scale": {scale}}}',
               "extra": "{}"}  # fmt: skip
        return decode_row(row, settings)

    assert decoded(7)["status"] == "ok"  # 70x56 = 3920 pixels
    for scale, pixels in ((8, 5120), (10**6, 80 * 10**12)):
        out = decoded(scale)
        assert (out["status"], out["error_type"]) == ("error", "OutputTooLarge")
        assert f"= {pixels} pixels" in out["error_message"] and "limit of 5000 pixels" in out["error_message"]
        assert "pixels_npy" not in out


def test_a_row_restored_before_is_skipped_only_while_its_bytes_are_unchanged(tmp_path):
    path, mask_path = tmp_path / "a.png", tmp_path / "m.png"
    path.write_bytes(encoded(Image.new("RGB", (5, 4), (1, 2, 3))))
    mask_path.write_bytes(encoded(Image.new("L", (5, 4), 255)))
    first = decode_row(row_for(str(path), str(mask_path)), settings_for(tmp_path))
    hashes = {"resume_input_sha256": first["input_sha256"], "resume_mask_sha256": first["mask_sha256"]}
    again = decode_row({**row_for(str(path), str(mask_path)), **hashes}, settings_for(tmp_path))
    assert again["status"] == "skipped" and "pixels_npy" not in again  # not decoded at all
    legacy = decode_row({**row_for(str(path), str(mask_path)), **hashes, "resume_mask_sha256": "*"},
                        settings_for(tmp_path))  # fmt: skip
    assert legacy["status"] == "skipped"
    mask_path.write_bytes(encoded(Image.new("L", (5, 4), 0)))  # a new mask
    assert decode_row({**row_for(str(path), str(mask_path)), **hashes}, settings_for(tmp_path))["status"] == "ok"
    mask_path.write_bytes(encoded(Image.new("L", (5, 4), 255)))
    path.write_bytes(encoded(Image.new("RGB", (5, 4), (1, 2, 4))))  # re-digitised: same id, new bytes
    redone = decode_row({**row_for(str(path), str(mask_path)), **hashes}, settings_for(tmp_path))
    assert redone["status"] == "ok" and redone["input_sha256"] != first["input_sha256"] and redone["pixels_npy"]


def tiff_pages(sizes: list[tuple[int, int]], reduced: tuple[int, ...] = ()) -> bytes:
    """A TIFF of gray pages of ``sizes``; pages whose index is in ``reduced`` are marked reduced-resolution."""
    import tifffile

    buffer = BytesIO()
    with tifffile.TiffWriter(buffer) as tif:
        for index, (h, w) in enumerate(sizes):
            tif.write(np.full((h, w), 40 * (index + 1), dtype=np.uint8), subfiletype=1 if index in reduced else 0)
    return buffer.getvalue()


@pytest.mark.parametrize("sizes, reduced, pages", [
    ([(6, 8)], (), 1),
    ([(6, 8), (6, 8)], (), 2),  # recto and verso of a print in one file
    ([(6, 8), (3, 4)], (1,), 1),  # a scanner's thumbnail is not a page
])  # fmt: skip
def test_the_pages_of_a_tiff_are_counted_and_the_first_is_restored(sizes, reduced, pages):
    decoded = decode_image(tiff_pages(sizes, reduced), LIMIT)
    assert decoded.pages == pages and decoded.samples.shape == (1, 6, 8) and (decoded.samples == 40).all()


def test_a_single_image_and_an_animation(tmp_path):
    assert decode_image(encoded(Image.new("L", (4, 4))), LIMIT).pages == 1
    frames = [Image.new("L", (4, 4), v) for v in (10, 200, 90)]
    buffer = BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:])
    decoded = decode_image(buffer.getvalue(), LIMIT)
    assert decoded.pages == 3 and decoded.samples.shape[1:] == (4, 4)


def test_decode_row_records_the_pages_for_the_ledger(tmp_path):
    (tmp_path / "two.tif").write_bytes(tiff_pages([(6, 8), (6, 8)]))
    row = {"id": "two", "uri": str(tmp_path / "two.tif"), "mask_uri": "", "op": "colorize", "params": "{}",
           "extra": "{}"}  # fmt: skip
    out = decode_row(row, JobSettings(str(tmp_path / "m.csv"), str(tmp_path / "out")))
    assert out["status"] == "ok" and out["input_pages"] == 2


def test_restore_says_when_the_file_holds_more_than_it_restores(tmp_path):
    from typer.testing import CliRunner

    from pipeline.cli import app

    source = tmp_path / "print.tif"
    source.write_bytes(tiff_pages([(16, 16), (16, 16)]))
    result = CliRunner().invoke(app, ["restore", str(source), str(tmp_path / "out.png"), "--op", "colorize",
                                      "--device", "cpu"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "holds 2 images (pages or frames); image 1 is restored. Pass --page N" in " ".join(result.output.split())
