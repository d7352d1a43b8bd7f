"""TIFFs Pillow cannot open (16-bit gray with alpha, float RGB) are read with tifffile (pipeline/tiff_fallback.py):
upright, alpha over white, profile kept, at 16 bits; without tifffile, Pillow's one-line error stands."""

from __future__ import annotations

from io import BytesIO

import numpy as np
import pytest
import tifffile
from PIL import Image
from typer.testing import CliRunner

from pipeline import tiff_fallback
from pipeline.cli import app
from pipeline.decode import decode_image
from pipeline.encode import sample_bits
from pipeline.rgb16 import GRAY16_ALPHA_MODE
from pipeline.rows import RowError

LIMIT = 10**6


def gray_alpha_16(h: int = 4, w: int = 6, orientation: int = 1, tags: tuple = (), **kwargs) -> tuple[bytes, np.ndarray]:
    la = np.zeros((h, w, 2), dtype=np.uint16)
    la[..., 0] = (np.arange(h * w, dtype=np.uint32).reshape(h, w) * 2731 % 65536).astype(np.uint16)
    la[..., 1] = 65535
    la[-1, -1, 1] = 0  # one transparent pixel: white
    buffer = BytesIO()
    tifffile.imwrite(buffer, la, photometric="minisblack", extrasamples=["unassalpha"],
                     extratags=[(274, "H", 1, orientation, True), *tags], **kwargs)  # fmt: skip
    return buffer.getvalue(), la


def test_pillow_cannot_open_these():
    with pytest.raises(Exception):
        Image.open(BytesIO(gray_alpha_16()[0]))


def test_16_bit_gray_with_alpha_is_read_gray_at_16_bits_over_white():
    data, la = gray_alpha_16()
    decoded = decode_image(data, LIMIT)
    expected = la[..., 0].copy()
    expected[-1, -1] = 65535
    assert decoded.mode == GRAY16_ALPHA_MODE and sample_bits(decoded.mode) == 16 and decoded.pages == 1
    np.testing.assert_array_equal(decoded.samples, expected[None])


@pytest.mark.parametrize("orientation", [1, 3, 6, 8])
def test_it_is_turned_upright_by_its_orientation_tag(orientation):
    data, la = gray_alpha_16(3, 5, orientation)
    decoded = decode_image(data, LIMIT).samples[0]
    # Pillow cannot open the file, so the same picture is turned by Pillow as its orientation asks
    reference = Image.fromarray((la[..., 0] >> 8).astype(np.uint8))
    turned = {1: reference, 3: reference.rotate(180), 6: reference.rotate(-90, expand=True),
              8: reference.rotate(90, expand=True)}[orientation]  # fmt: skip
    expected = np.asarray(turned).astype(np.uint16)
    mask = decoded != 65535  # the one white (transparent) pixel is not in the reference
    np.testing.assert_array_equal((decoded >> 8)[mask], expected[mask])
    assert decoded.shape == expected.shape


def test_float_rgb_is_read_clipped_to_unit_range_and_written_at_16_bits():
    rgb = np.random.default_rng(0).uniform(-0.2, 1.2, size=(4, 5, 3)).astype(np.float32)
    buffer = BytesIO()
    tifffile.imwrite(buffer, rgb, photometric="rgb")
    decoded = decode_image(buffer.getvalue(), LIMIT)
    assert decoded.mode == tiff_fallback.RGB_FLOAT_MODE and sample_bits(decoded.mode) == 16
    np.testing.assert_allclose(decoded.samples, np.clip(rgb, 0, 1).transpose(2, 0, 1))


def test_its_profile_is_kept_and_its_size_is_limited():
    from PIL import ImageCms

    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    data, _ = gray_alpha_16(iccprofile=profile)
    assert decode_image(data, LIMIT).icc_profile == profile
    with pytest.raises(RowError) as error:
        decode_image(data, 10)
    assert error.value.error_type == "DecompressionBomb" and "above the limit of 10" in error.value.message


def test_without_tifffile_pillows_error_stands(monkeypatch):
    def cannot(*args, **kwargs):
        raise ImportError("No module named 'tifffile'")

    monkeypatch.setattr(tifffile, "TiffFile", cannot)
    with pytest.raises(RowError) as error:
        decode_image(gray_alpha_16()[0], LIMIT)
    assert error.value.error_type == "CorruptImage"
    with pytest.raises(RowError):  # and a file that is not a TIFF at all is not handed to it
        decode_image(b"not an image at all", LIMIT)


def test_restore_super_resolves_it_into_a_16_bit_gray_png(tmp_path):
    from test_output_fidelity import bit_depth

    data, _ = gray_alpha_16(8, 8)
    (tmp_path / "plate.tif").write_bytes(data)
    out = tmp_path / "plate.png"
    result = CliRunner().invoke(app, ["restore", str(tmp_path / "plate.tif"), str(out), "--op", "sr_avgpool",
                                      "--scale", "2", "--steps", "2", "--device", "cpu"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert bit_depth(out.read_bytes()) == 16
    with Image.open(out) as image:
        assert image.size == (16, 16) and image.mode in ("I;16", "I")  # gray stays gray


def test_its_title_creator_and_rights_are_inherited():
    xmp = ('<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
           '<rdf:Description xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title><rdf:Alt>'
           '<rdf:li xml:lang="x-default">Plate 17</rdf:li></rdf:Alt></dc:title></rdf:Description></rdf:RDF>'
           '</x:xmpmeta>').encode()  # fmt: skip
    data, _ = gray_alpha_16(metadata=None, description="Harbour, 1902",
                            tags=((315, "s", 0, "A. Photographer", True), (33432, "s", 0, "CC0-1.0", True),
                                  (700, "B", len(xmp), xmp, True)))  # fmt: skip
    assert decode_image(data, LIMIT).inherited == {"title": "Plate 17", "creator": "A. Photographer",
                                                   "rights": "CC0-1.0", "description": "Harbour, 1902"}  # fmt: skip
