"""Encode restored images as PNG with provenance inside the file, and write them (task stage).

8 bits a sample, or 16 where the scan had 16 (``sample_bits``: 16-bit grey TIFF/PNG, Pillow's ``I`` and ``F``
modes), written by :mod:`pipeline.png16`: a restoration keeps the tonal depth of the master it came from. The
scan's ICC profile is embedded where the output's colours are the scan's (``output_profile``), so a colour-managed
viewer shows an Adobe RGB or gray-gamma master's restoration as it shows the master.

The provenance travels with the image even when the Parquet record does not: PNG iTXt chunks
``Software`` and ``Description``, and an XMP packet (iTXt ``XML:com.adobe.xmp``) carrying
``Iptc4xmpExt:DigitalSourceType`` = algorithmicallyEnhanced plus the model, weights hash, seed
and consistency residual. No timestamps go into the image, so the same inputs, model and seed
give byte-identical files (the times live in the Parquet record).
"""

from __future__ import annotations

import json
import math
import time
from io import BytesIO
from xml.sax.saxutils import quoteattr

import numpy as np
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from . import descriptive, io, tiff_out
from .decode import GREY_16_MODES
from .metadata import DIGITAL_SOURCE_TYPE, software_version
from .ops import PLANS
from .png16 import encode_png16, quantize, to_uint16
from .resolution import INCH_M, output_dpi, png_pixels_per_metre
from .rgb16 import GRAY16_ALPHA_MODE, RGB16_MODE
from .tiff_fallback import RGB_FLOAT_MODE
from .rows import (
    ENCODED_COLUMNS, OUTPUT_WRITE_FAILED, STATUS_OK, RowError, error_fields, from_rows, to_rows, unpack_array,
)
from .settings import OUTPUT_FORMATS, JobSettings, guidance_params_json

DDNM_XMP_NAMESPACE = "urn:ddnm-batch:xmp:1.0"
CONTENT_TYPES = {"png": "image/png", "tiff": "image/tiff"}  # by --output-format

# ICC header bytes 16-20: the profile's data colour space, by the output's channel count it can describe.
ICC_COLOUR_SPACE = {1: b"GRAY", 3: b"RGB "}


def to_uint8(x: np.ndarray) -> np.ndarray:
    """``(C, H, W)`` floats in [-1, 1] to ``(H, W, C)`` uint8 (or ``(H, W)`` for one channel)."""
    samples = quantize(x, 255, np.uint8)
    return samples[0] if samples.shape[0] == 1 else samples.transpose(1, 2, 0)


def xmp_packet(provenance: dict[str, str], inherited: dict[str, str] | None = None) -> str:
    """An XMP packet: IPTC digital source type, creator tool, our own ``ddnm:`` fields, and the Dublin Core fields
    the output ``inherited`` from its scan or manifest row (:mod:`pipeline.descriptive`)."""
    fields = "".join(f"\n    ddnm:{key}={quoteattr(str(value))}" for key, value in sorted(provenance.items()))
    elements = descriptive.xmp_elements(inherited or {})
    close = f">\n{elements}\n  </rdf:Description>" if elements else "/>"
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">\n'
        ' <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">\n'
        '  <rdf:Description rdf:about=""\n'
        '    xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/"\n'
        '    xmlns:xmp="http://ns.adobe.com/xap/1.0/"\n'
        f"    {descriptive.namespace_attribute()}\n"
        f"    xmlns:ddnm={quoteattr(DDNM_XMP_NAMESPACE)}\n"
        f"    Iptc4xmpExt:DigitalSourceType={quoteattr(DIGITAL_SOURCE_TYPE)}\n"
        f"    xmp:CreatorTool={quoteattr('ddnm-batch ' + software_version())}"
        f"{fields}{close}\n"
        " </rdf:RDF>\n"
        "</x:xmpmeta>\n"
        '<?xpacket end="r"?>'
    )


def sample_bits(input_mode: str | None) -> int:
    """Bits a sample of the output for a scan decoded from Pillow mode ``input_mode``: 16 for 16-bit grey, for
    the integer (``I``) and float (``F``) modes, which hold more than 8 bits, and for a 48-bit TIFF or PNG read at
    16 bits (``RGB;16``, :mod:`pipeline.rgb16`), a 16-bit gray PNG or TIFF with alpha (``LA;16``) and a float RGB
    TIFF (``RGB;F``, :mod:`pipeline.tiff_fallback`); 8 otherwise (without its decoders Pillow reads a 48-bit file
    as 8-bit RGB, so its extra bits are gone before the restoration)."""
    deep = ("I", "F", RGB16_MODE, GRAY16_ALPHA_MODE, RGB_FLOAT_MODE)
    return 16 if input_mode in GREY_16_MODES or input_mode in deep else 8


def output_profile(profile: bytes | None, op: str, channels: int) -> bytes:
    """The scan's ICC ``profile`` if it describes the output, else b"" (viewers then assume sRGB).

    DDNM keeps the values as stored (A⁺y of the scan's own numbers) and the prior fills the null space in the same
    numbers, so the profile that gave the scan's numbers their colour gives the output's theirs. Not where the
    operator removes colour (colorize, old_photo): there the colours are the prior's, learnt from sRGB photos, and
    the scan's profile (gray gamma, or a sepia print's RGB) would reinterpret them. Nor where the profile's colour
    space does not fit the output's channels: a GRAY profile cannot describe an RGB image. (A gray scan restored
    without colour comes back gray, ``measurement.in_source_channels``, so its gray profile fits.)"""
    if not profile or len(profile) < 20 or (op in PLANS and PLANS[op].removes_colour):
        return b""
    return bytes(profile) if profile[16:20] == ICC_COLOUR_SPACE.get(channels) else b""


def encode_image(x: np.ndarray, provenance: dict[str, str], bits: int = 8, icc_profile: bytes = b"",
                 inherited: dict[str, str] | None = None, output_format: str = "png",
                 dpi: tuple[float, float] | None = None) -> bytes:  # fmt: skip
    """The restoration as ``output_format`` (``png`` or ``tiff``): the same pixels, profile and metadata, and the
    resolution ``dpi`` (pixels an inch, ``pipeline.resolution.output_dpi``) where the scan stated one."""
    if output_format == "png":
        return encode_png(x, provenance, bits, icc_profile, inherited, dpi)
    if output_format != "tiff":
        raise ValueError(f"output format must be one of {sorted(OUTPUT_FORMATS)}, got {output_format!r}")
    if bits not in (8, 16):
        raise ValueError(f"bits must be 8 or 16, got {bits}")
    samples = to_uint16(x) if bits == 16 else quantize(x, 255, np.uint8)
    return tiff_out.encode_tiff(samples, _description(provenance), f"ddnm-batch {software_version()}",
                                xmp_packet(provenance, inherited), icc_profile, inherited, dpi)  # fmt: skip


def encode_png(x: np.ndarray, provenance: dict[str, str], bits: int = 8, icc_profile: bytes = b"",
               inherited: dict[str, str] | None = None, dpi: tuple[float, float] | None = None) -> bytes:
    """Lossless PNG of ``x`` (``(C, H, W)`` in [-1, 1]) at ``bits`` (8 or 16) a sample, with provenance chunks,
    ``icc_profile`` (if any; see :func:`output_profile`) and the title, creator and rights it ``inherited``."""
    if bits not in (8, 16):
        raise ValueError(f"bits must be 8 or 16, got {bits}")
    text = {"Software": f"ddnm-batch {software_version()}", "Description": _description(provenance),
            **descriptive.png_text(inherited or {}), "XML:com.adobe.xmp": xmp_packet(provenance, inherited)}
    ppm = png_pixels_per_metre(dpi) if dpi else None
    if bits == 16:
        return encode_png16(to_uint16(x), text, icc_profile, ppm)
    info = PngInfo()
    for keyword, value in text.items():
        info.add_itxt(keyword, value)
    buffer = BytesIO()
    extra = {"icc_profile": icc_profile} if icc_profile else {}
    if ppm:
        extra["dpi"] = tuple(p * INCH_M for p in ppm)  # Pillow writes round(dpi / 0.0254): the same pHYs as 16 bits
    Image.fromarray(to_uint8(x)).save(buffer, format="PNG", pnginfo=info, **extra)
    return buffer.getvalue()


def _description(p: dict[str, str]) -> str:
    return (
        f"Algorithmically enhanced with DDNM zero-shot restoration (operator {p['operator']}); "
        f"model {p['model']}, seed {p['seed']}, consistency residual {p['residual']}. "
        f"Source image sha256 {p['sourceSha256']}"
        + (f", image {p['sourcePage']} of the file." if p.get("sourcePage") else ".")
    )


def residual_text(residual: float) -> str:
    """The certificate ‖A x̂ − y‖ / ‖y‖ as the PNG states it: 3 significant figures. It needs no more, and the fourth
    changes with the CPU's thread count (the same sums in another order: 2.92839e-08 on one thread, 2.92812e-08 on
    two, for pixels that are identical), which would make the same restoration's bytes differ between machines."""
    return f"{residual:.3g}"


def provenance_for(row: dict) -> dict[str, str]:
    """The ``ddnm:`` XMP fields of a restored row (stable text, so PNG bytes are stable)."""
    return {
        "operator": row["op"],
        "params": row["params"],
        "model": row["model_name"],
        "weightsSha256": row["weights_sha256"],
        "seed": str(row["seed"]),
        "steps": str(row["steps"]),
        "samples": str(row.get("samples", 1)),
        "residual": residual_text(row["consistency_residual"]),
        "sourceSha256": row["input_sha256"],
        **({"workSize": str(row["work_size"])} if row.get("work_size", -1) not in (None, -1) else {}),
        **colour_strength_provenance(row.get("colour_strength")),
        **({"startT": str(row["start_t"])} if row.get("start_t", -1) not in (None, -1) else {}),
        **({"sourcePage": str(row["input_page"])} if (row.get("input_page") or 1) > 1 else {}),  # a verso, a frame
        **({"sourceNegative": "inverted"} if row.get("input_negative") else {}),  # restored as the plate's positive
    }


def colour_strength_provenance(strength: float | None) -> dict[str, str]:
    """``colourStrength`` where a colour task's chroma was scaled (not 1); none for the prior's own colour and for
    rows of other operators (None, or NaN once the ledger's float column holds it)."""
    if strength is None or math.isnan(strength) or strength == 1.0:
        return {}
    return {"colourStrength": f"{strength:g}"}


def noise_provenance(estimated: float | None, stated: float) -> dict[str, str]:
    """The ``ddnm:`` fields of the noise level DDNM+ assumed: ``sigmaY`` (estimated for this image where
    ``estimated`` is a number, ``sigmaYEstimated``; else the run's ``--sigma-y``); none for plain DDNM."""
    if estimated is not None and not math.isnan(estimated):
        return {"sigmaY": f"{estimated:.4g}", "sigmaYEstimated": "true"}
    return {"sigmaY": f"{stated:.4g}"} if stated > 0 else {}


def restored_provenance(row: dict, settings: JobSettings) -> dict[str, str]:
    """Every ``ddnm:`` field of a restored image, as ``run`` (:func:`encode_row`) and ``ddnm-batch restore`` both
    write it: the row's own (:func:`provenance_for`), the noise level DDNM+ assumed (the row's ``sigma_y`` where it
    was estimated), and the guidance rule, its parameters and the convention the settings chose."""
    sampler = settings.restore.sampler
    return {**provenance_for(row), **noise_provenance(row.get("sigma_y"), sampler.sigma_y),
            "guidance": sampler.guidance, "guidanceParams": guidance_params_json(settings),
            "convention": sampler.convention}


def encode_row(row: dict, settings: JobSettings) -> dict:
    """Encode and write one restored row; error rows pass through. Returns a new row dict."""
    started = time.time()
    out = {k: v for k, v in row.items() if k != "restored_npy"}
    if row["status"] == STATUS_OK:
        try:
            x = unpack_array(row["restored_npy"])
            provenance = restored_provenance(row, settings)
            profile = output_profile(row.get("icc_profile"), row["op"], x.shape[0])
            inherited = json.loads(row.get("descriptive") or "{}")
            bits = sample_bits(row.get("input_mode"))
            dpi = output_dpi((row.get("dpi_x"), row.get("dpi_y")), (row.get("input_height"), row.get("input_width")),
                             x.shape[1:])  # fmt: skip
            image = encode_image(x, provenance, bits, profile, inherited, settings.output_format, dpi)
            uri = io.output_uri_for(settings.out_uri, row["id"], OUTPUT_FORMATS[settings.output_format])
            _write(uri, image, settings, CONTENT_TYPES[settings.output_format])
            out.update(output_uri=uri, output_sha256=io.sha256_hex(image))
            out.update(output_height=x.shape[1], output_width=x.shape[2], output_bits=bits, output_channels=x.shape[0],
                       output_icc=bool(profile), output_dpi=dpi[0] if dpi else None)
        except Exception as exc:  # noqa: BLE001 - a failed write is that row's error
            out.update(error_fields(exc))
        out["encode_s"] = time.time() - started
    out["finished_at"] = time.time()
    return out


def _write(uri: str, image: bytes, settings: JobSettings, content_type: str) -> None:
    """Write the image (transient errors retried in :mod:`pipeline.io`); a failure is an
    ``OutputWriteFailed`` row, on which the driver checks whether OUT itself is gone (:mod:`pipeline.sink`).
    On S3 the object says what it is (a browser or the console shows an image, not a download)."""
    try:
        io.write_bytes_atomic(uri, image, settings.storage_options, content_type)
    except Exception as exc:  # noqa: BLE001 - OSError, botocore errors...
        raise RowError(OUTPUT_WRITE_FAILED, f"cannot write {uri}: {type(exc).__name__}: {exc}") from exc


def encode_batch(batch: dict[str, np.ndarray], settings: JobSettings) -> dict[str, np.ndarray]:
    """Ray task UDF: restored rows in, metadata-ready rows out (a new dict)."""
    return from_rows([encode_row(row, settings) for row in to_rows(batch)], ENCODED_COLUMNS)
