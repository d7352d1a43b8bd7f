"""Restorations written as TIFF (``--output-format tiff``): the format an archive's production masters are kept in.

Lossless (Adobe Deflate with the horizontal predictor, which suits photographs), at the bits the PNG would have
(8, or 16 where the scan had 16), gray or RGB, with what the PNG carries: the scan's ICC profile (tag 34675) where
the output's colours are the scan's, the provenance and Dublin Core fields in an XMP packet (tag 700), the
description (ImageDescription), Software, the resolution (``pipeline.resolution``), and the creator and rights in
Artist and Copyright where they are ASCII, as TIFF 6 asks (the XMP holds them in any script). ``tifffile`` writes
it; nothing time-dependent goes in, so the same restoration gives the same bytes.
"""

from __future__ import annotations

from io import BytesIO

import numpy as np

ARTIST, COPYRIGHT, XMP = 315, 33432, 700  # TIFF tags
STRIP_BYTES = 1 << 20  # uncompressed bytes a strip, about
CLASSIC_TIFF_BYTES = 3 << 30  # above this many pixel bytes (a 530 MP 16-bit colour plate), BigTIFF


def encode_tiff(samples: np.ndarray, description: str, software: str, xmp: str, icc_profile: bytes = b"",
                inherited: dict[str, str] | None = None, dpi: tuple[float, float] | None = None) -> bytes:  # fmt: skip
    """TIFF bytes of ``samples`` (``(C, H, W)`` uint8 or uint16, C = 1 or 3)."""
    import tifffile

    if samples.dtype not in (np.uint8, np.uint16) or samples.ndim != 3 or samples.shape[0] not in (1, 3):
        raise ValueError(f"need (1 or 3, H, W) uint8 or uint16 samples, got {samples.dtype} {samples.shape}")
    gray = samples.shape[0] == 1
    data = samples[0] if gray else np.ascontiguousarray(samples.transpose(1, 2, 0))
    tags = [(XMP, "B", None, xmp.encode("utf-8"), False)]
    for tag, field in ((ARTIST, "creator"), (COPYRIGHT, "rights")):
        if (value := (inherited or {}).get(field)) and value.isascii():
            tags.append((tag, "s", None, value, False))
    buffer = BytesIO()
    row_bytes = data.shape[1] * samples.shape[0] * samples.itemsize
    tifffile.imwrite(
        buffer, data, photometric="minisblack" if gray else "rgb", compression="zlib", predictor=True,
        rowsperstrip=max(1, STRIP_BYTES // row_bytes),  # strips, not one of the whole image: readers read in parts
        bigtiff=data.nbytes > CLASSIC_TIFF_BYTES,  # a classic TIFF's offsets are 32-bit; most readers know BigTIFF
        description=_ascii(description), software=_ascii(software), iccprofile=icc_profile or None,
        extratags=tags, metadata=None,  # no tifffile JSON in ImageDescription: ours is the description
        **({"resolution": dpi, "resolutionunit": "INCH"} if dpi else {}),
    )  # fmt: skip
    return buffer.getvalue()


def _ascii(text: str) -> str:
    """TIFF's ASCII tags hold 7-bit text: anything else becomes '?' (the XMP keeps the exact text)."""
    return text.encode("ascii", "replace").decode("ascii")
