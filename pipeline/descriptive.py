"""Descriptive metadata a restoration inherits: title, creator, rights and description (Dublin Core).

An archive's scan says who made the photograph and under which rights it may be used, in the file (EXIF
``ImageDescription``/``Artist``/``Copyright``, XMP ``dc:*``) or in the catalogue the manifest was exported from.
A derivative that drops the rights statement cannot be published, so the output carries them: the manifest's
``title``/``creator``/``rights``/``description`` columns first (the catalogue is the authority), else the scan's
XMP, else its EXIF. They go into the output's XMP as ``dc:*`` and into the PNG's ``Title``/``Author``/``Copyright``
text chunks (``pipeline.encode``).

Cameras, scanners and imaging libraries fill the file's text tags with what is no statement about the photograph
("OLYMPUS DIGITAL CAMERA", "SONY DSC", a DCIM path, tifffile's ``{"shape": ...}``, an ImageJ or OME-XML header).
A derivative that repeats it as its ``dc:description`` would mislead a catalogue, so such values are dropped
(``placeholder``); the manifest's columns are the catalogue's own words and are taken as they are.
"""

from __future__ import annotations

import json
import re
from xml.etree import ElementTree
from xml.sax.saxutils import escape, quoteattr

from PIL import Image

FIELDS = ("title", "creator", "rights", "description")
DC = "http://purl.org/dc/elements/1.1/"
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
EXIF_TAGS = {"description": 0x010E, "creator": 0x013B, "rights": 0x8298}  # ImageDescription, Artist, Copyright
XMP_TAG = 700  # TIFF's XMP packet (EXIF's tag numbers above are TIFF's own too)
PNG_KEYWORDS = {"title": "Title", "creator": "Author", "rights": "Copyright"}  # PNG's predefined text keywords
MAX_CHARS = 2000  # a caption, not a document: longer values are cut
# What devices and software write where a caption belongs (whole value, any case; blanks collapsed): a maker's
# "<MAKE> DIGITAL [STILL] CAMERA" / "<MAKE> DSC", a memory card's DCIM path, or a generic word.
_PLACEHOLDER = re.compile(
    r"(?:[\w.-]+ ){0,3}(?:digital (?:still )?camera|dsc|digital image)"
    r"|.*\bdcim[\\/].*"
    r"|default|image|picture|photo|untitled|none|n/?a|description|ascii|binary comment|created with gimp",
    re.IGNORECASE)
# Machine-readable headers that imaging libraries store in ImageDescription: JSON (tifffile), ImageJ, OME-XML.
_MACHINE_HEADER = re.compile(r"\{.*\}|imagej=.*|<\?xml.*|<ome[\s>].*", re.IGNORECASE | re.DOTALL)


def for_row(extra_json: str | None, from_scan: dict[str, str]) -> dict[str, str]:
    """The fields an output inherits: the manifest's ``extra`` columns over the scan file's own (``from_image``)."""
    return {**from_scan, **from_manifest(extra_json)}


def from_manifest(extra_json: str | None) -> dict[str, str]:
    """``title``/``creator``/``rights``/``description`` among a manifest row's other columns (any letter case)."""
    try:
        extra = json.loads(extra_json) if extra_json else {}
    except ValueError:
        return {}
    found = {str(key).strip().lower(): value for key, value in extra.items()} if isinstance(extra, dict) else {}
    return {field: _clean(found[field]) for field in FIELDS if _clean(found.get(field))}


def from_image(img: Image.Image) -> dict[str, str]:
    """The scan's XMP ``dc:*`` fields, else its EXIF ones, from the image Pillow opened for decoding
    (``pipeline.decode``); ``{}`` for a file without them or whose metadata cannot be read."""
    try:
        return _pick(img.getexif().get, _xmp_of(img))
    except Exception:  # noqa: BLE001 - metadata is a courtesy; the pixels decide whether the row fails
        return {}


def from_tiff_tags(values: dict[int, object]) -> dict[str, str]:
    """The same fields from a TIFF's tag values by number (``pipeline.tiff_fallback``, for a TIFF Pillow cannot
    open): its XMP (tag 700), else ImageDescription, Artist and Copyright."""
    try:
        return _pick(values.get, values.get(XMP_TAG))
    except Exception:  # noqa: BLE001 - as from_image
        return {}


def _pick(tag_value, xmp) -> dict[str, str]:
    """XMP ``dc:*`` over the EXIF/TIFF text tags that ``tag_value(number)`` gives."""
    fields = {field: _clean(tag_value(tag)) for field, tag in EXIF_TAGS.items()}
    fields.update(_from_xmp(xmp))
    return {field: fields[field] for field in FIELDS if fields.get(field) and not placeholder(fields[field])}


def placeholder(value: str) -> bool:
    """Whether a file's text tag holds a device's or library's filler rather than a statement about the photo."""
    return bool(_PLACEHOLDER.fullmatch(" ".join(value.split())) or _MACHINE_HEADER.fullmatch(value.strip()))


def xmp_elements(fields: dict[str, str]) -> str:
    """The ``dc:*`` elements of an rdf:Description: title, rights and description as language alternatives,
    creator as an ordered list (XMP's rules for these Dublin Core properties)."""
    out = []
    for field in FIELDS:
        if value := fields.get(field):
            kind, lang = ("Seq", "") if field == "creator" else ("Alt", ' xml:lang="x-default"')
            out.append(f"   <dc:{field}><rdf:{kind}><rdf:li{lang}>{escape(value)}</rdf:li></rdf:{kind}></dc:{field}>")
    return "\n".join(out)


def png_text(fields: dict[str, str]) -> dict[str, str]:
    """PNG text chunks for the fields that PNG names (``Title``, ``Author``, ``Copyright``)."""
    return {keyword: fields[field] for field, keyword in PNG_KEYWORDS.items() if fields.get(field)}


def namespace_attribute() -> str:
    return f"xmlns:dc={quoteattr(DC)}"


def _xmp_of(img: Image.Image) -> bytes | str | None:
    """The XMP packet where Pillow leaves it: JPEG/WebP/PNG ``info``, TIFF tag 700."""
    packet = img.info.get("xmp") or img.info.get("XML:com.adobe.xmp")
    if packet is None and hasattr(img, "tag_v2"):
        packet = img.tag_v2.get(700)
    return packet


def _from_xmp(packet: bytes | str | None) -> dict[str, str]:
    if not packet:
        return {}
    text = packet.decode("utf-8", "replace") if isinstance(packet, bytes) else str(packet)
    if "<!DOCTYPE" in text or "<!ENTITY" in text:  # no entity expansion from a file we did not write
        return {}
    start, end = text.find("<x:xmpmeta"), text.rfind("</x:xmpmeta>")
    try:
        root = ElementTree.fromstring(text[start:end + len("</x:xmpmeta>")] if 0 <= start < end else text)
    except ElementTree.ParseError:
        return {}
    fields = {}
    for field in FIELDS:
        element = root.find(f".//{{{DC}}}{field}")
        if element is None:
            continue
        items = [_clean(li.text) for li in element.iter(f"{{{RDF}}}li")]
        fields[field] = "; ".join(item for item in items if item) if field == "creator" else next(
            (item for item in items if item), _clean(element.text))
    return {field: value for field, value in fields.items() if value}


def _clean(value) -> str:
    """Text without NULs or surrounding blanks, at most :data:`MAX_CHARS` characters; non-text values are ''."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        return ""
    return value.replace("\x00", "").strip()[:MAX_CHARS]
