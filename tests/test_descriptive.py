"""A restoration inherits its scan's title, creator, rights and description (``pipeline.descriptive``): from the
manifest row's columns first, else the file's XMP, else its EXIF; they land in the output's XMP (``dc:*``) and PNG
text chunks, through the library encoder, the pipeline's decode → encode rows and ``ddnm-batch restore``."""

from __future__ import annotations

import json
from io import BytesIO
from xml.etree import ElementTree

import numpy as np
import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo
from typer.testing import CliRunner

from pipeline import descriptive
from pipeline.cli import app
from pipeline.decode import decode_image, decode_row
from pipeline.encode import encode_png, encode_row
from pipeline.rows import STATUS_OK, RowError, pack_array
from pipeline.settings import JobSettings

DC, RDF = descriptive.DC, descriptive.RDF


def jpeg_with_exif(**tags) -> bytes:
    image = Image.fromarray(np.full((12, 16), 120, dtype=np.uint8))
    exif = image.getexif()
    for field, value in tags.items():
        exif[descriptive.EXIF_TAGS[field]] = value
    buffer = BytesIO()
    image.save(buffer, "JPEG", exif=exif.tobytes())
    return buffer.getvalue()


def png_with_xmp(packet: str) -> bytes:
    info = PngInfo()
    info.add_itxt("XML:com.adobe.xmp", packet)
    buffer = BytesIO()
    Image.fromarray(np.full((12, 16), 90, dtype=np.uint8)).save(buffer, "PNG", pnginfo=info)
    return buffer.getvalue()


SOURCE_XMP = f"""<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="{RDF}">
<rdf:Description rdf:about="" xmlns:dc="{DC}">
 <dc:title><rdf:Alt><rdf:li xml:lang="x-default">Harbour at dawn</rdf:li>
  <rdf:li xml:lang="fr">Port</rdf:li></rdf:Alt></dc:title>
 <dc:creator><rdf:Seq><rdf:li>A. Photographer</rdf:li><rdf:li>B. Assistant</rdf:li></rdf:Seq></dc:creator>
 <dc:rights><rdf:Alt><rdf:li xml:lang="x-default">CC BY 4.0, City Archive</rdf:li></rdf:Alt></dc:rights>
</rdf:Description></rdf:RDF></x:xmpmeta>"""


def written_fields(png: bytes) -> tuple[dict, dict]:
    """The output's dc:* fields (from its XMP, parsed as XML) and its PNG text chunks."""
    with Image.open(BytesIO(png)) as image:
        text = dict(image.text)
    root = ElementTree.fromstring(text["XML:com.adobe.xmp"].split("?>", 1)[1].rsplit("<?xpacket", 1)[0])
    fields = {}
    for field in descriptive.FIELDS:
        element = root.find(f".//{{{DC}}}{field}")
        if element is not None:
            fields[field] = "; ".join(li.text for li in element.iter(f"{{{RDF}}}li"))
    return fields, text


def inherited(data: bytes) -> dict[str, str]:
    """The fields decoding reads from a scan, in the same opening of the file as its pixels."""
    return decode_image(data, 10**6).inherited


def test_exif_fields_are_read():
    data = jpeg_with_exif(creator="J. Smith\x00", rights=" Public domain ", description="Quay, 1902")
    expected = {"creator": "J. Smith", "rights": "Public domain", "description": "Quay, 1902"}
    assert inherited(data) == expected


def test_a_scan_beyond_pillows_own_pixel_limit_keeps_its_rights(monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 50)  # the 12x16 scan is 192 pixels: a "bomb" to Pillow
    assert inherited(jpeg_with_exif(rights="Public domain")) == {"rights": "Public domain"}
    assert Image.MAX_IMAGE_PIXELS == 50  # and the limit is put back


@pytest.mark.parametrize("filler", ["OLYMPUS DIGITAL CAMERA", "SONY DSC", "KODAK Digital Still Camera  ",
                                    "DCIM\\108GOPRO\\GOPR2137.JPG", "default"])
def test_a_devices_filler_is_no_description_but_a_caption_is(filler):
    assert inherited(jpeg_with_exif(description=filler, rights="Public domain")) == {"rights": "Public domain"}
    assert inherited(jpeg_with_exif(description="Digital camera shop, Oslo 1998")) == {
        "description": "Digital camera shop, Oslo 1998"}
    extra = json.dumps({"description": filler})  # the catalogue's own words are taken as they are
    assert descriptive.for_row(extra, {})["description"] == filler.strip()


def test_an_imaging_librarys_header_is_no_description():
    tifffile = pytest.importorskip("tifffile")
    buffer = BytesIO()
    tifffile.imwrite(buffer, np.full((12, 16, 3), 90, dtype=np.uint8), photometric="rgb")  # writes {"shape": ...}
    with Image.open(BytesIO(buffer.getvalue())) as image:
        assert image.tag_v2[descriptive.EXIF_TAGS["description"]].startswith('{"shape"')
    assert inherited(buffer.getvalue()) == {}
    for header in ("ImageJ=1.53t\nimages=1\n", '<?xml version="1.0"?><OME xmlns="x"></OME>'):
        assert descriptive.placeholder(header)


def test_xmp_fields_are_read_and_beat_exif():
    fields = inherited(png_with_xmp(SOURCE_XMP))
    assert fields == {"title": "Harbour at dawn", "creator": "A. Photographer; B. Assistant",
                      "rights": "CC BY 4.0, City Archive"}  # fmt: skip
    assert inherited(png_with_xmp("<x:xmpmeta><broken")) == {}  # unreadable metadata: none, and the pixels decode
    with pytest.raises(RowError):  # an unreadable file is the row's error, as before
        decode_image(b"not an image", 10**6)


def test_xmp_with_entities_is_not_expanded():
    packet = ('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
              + SOURCE_XMP.replace("Harbour at dawn", "&b;"))
    assert inherited(png_with_xmp(packet)) == {}


def test_the_manifest_is_read_in_any_letter_case_and_wins_over_the_file():
    extra = json.dumps({"Title": "Pagoda", "RIGHTS": "", "source": "x", "creator": "Catalogue name"})
    assert descriptive.from_manifest(extra) == {"title": "Pagoda", "creator": "Catalogue name"}
    assert descriptive.from_manifest("{not json") == {} and descriptive.from_manifest("[1]") == {}
    merged = descriptive.for_row(extra, inherited(png_with_xmp(SOURCE_XMP)))
    assert merged == {"title": "Pagoda", "creator": "Catalogue name", "rights": "CC BY 4.0, City Archive"}


def test_the_output_carries_them_in_xmp_and_png_text_escaped():
    inherited = {"title": "Fish & <chips>", "creator": "O'Brien \"Jr\"", "rights": "© 1902 Archive"}
    x = np.zeros((3, 4, 5), dtype=np.float32)
    provenance = {"operator": "colorize", "model": "m", "seed": "1", "residual": "0", "sourceSha256": "0"}
    fields, text = written_fields(encode_png(x, provenance, 8, b"", inherited))
    assert fields == inherited
    assert (text["Title"], text["Author"], text["Copyright"]) == (inherited["title"], inherited["creator"],
                                                                inherited["rights"])  # fmt: skip
    fields, text = written_fields(encode_png(x, provenance, 16, b"", inherited))
    assert fields == inherited and text["Copyright"] == inherited["rights"]
    fields, text = written_fields(encode_png(x, provenance))
    assert fields == {} and "Copyright" not in text


def test_decode_row_hands_them_to_encode_row(tmp_path):
    source = tmp_path / "scan.jpg"
    source.write_bytes(jpeg_with_exif(creator="J. Smith", rights="Public domain"))
    settings = JobSettings("-", str(tmp_path / "out"))
    row = {"id": "scan", "uri": str(source), "op": "colorize", "mask_uri": "", "params": "{}",
           "extra": json.dumps({"title": "Quay"})}  # fmt: skip
    decoded = decode_row(row, settings)
    assert decoded["status"] == STATUS_OK, decoded
    restored = {**{k: v for k, v in decoded.items() if k not in ("pixels_npy", "mask_npy")},
                "restored_npy": pack_array(np.zeros((3, 12, 16), dtype=np.float32)), "model_name": "m",
                "weights_sha256": "0" * 64, "seed": 1, "steps": 2, "samples": 1, "consistency_residual": 0.0}
    out = encode_row(restored, settings)
    assert out["status"] == STATUS_OK, out
    fields, _ = written_fields(open(out["output_uri"], "rb").read())
    assert fields == {"title": "Quay", "creator": "J. Smith", "rights": "Public domain"}


def test_restore_keeps_the_scans_rights(tmp_path):
    source = tmp_path / "scan.jpg"
    source.write_bytes(jpeg_with_exif(creator="J. Smith", rights="Public domain"))
    out = tmp_path / "out.png"
    result = CliRunner().invoke(app, ["restore", str(source), str(out), "--op", "colorize", "--steps", "2",
                                      "--samples", "2", "--device", "cpu"])  # fmt: skip
    assert result.exit_code == 0, result.output
    fields, text = written_fields(out.read_bytes())
    assert fields == {"creator": "J. Smith", "rights": "Public domain"} and text["Copyright"] == "Public domain"
    assert "(8-bit, creator, rights)" in " ".join(result.output.split())


def test_a_changed_rights_statement_changes_the_rows_fingerprint_and_nothing_else_does():
    from pipeline.fingerprint import row_fingerprint

    def key(**extra) -> str:
        return row_fingerprint("job", {"op": "colorize", "params": "{}", "mask_uri": "", "extra": json.dumps(extra)})

    assert key(rights="CC0-1.0") != key(rights="CC-BY-4.0")
    assert key(rights="CC0-1.0", shelf="A1") == key(rights="CC0-1.0", shelf="B7")  # other columns: no new work
    assert key(shelf="A1") == key() == row_fingerprint("job", {"op": "colorize", "params": "{}", "mask_uri": ""})
