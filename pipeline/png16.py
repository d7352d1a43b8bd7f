"""16-bit PNG (grey or RGB) with text chunks: what a 16-bit scan is restored into.

Glass plates and film are scanned at 16 bits a sample; a restoration written at 8 bits would throw away the
tonal steps the archive paid for (and, for colorize, quantise the gray levels that DDNM keeps exactly: the range
space A⁺y). Pillow writes 16-bit grey PNG but not 16-bit RGB, so both are written here, by the PNG specification
(ISO/IEC 15948): signature, IHDR (bit depth 16, colour type 0 grey or 2 RGB), the text chunks, IDAT, IEND. Every
row uses filter type 2 ("Up", the byte-wise difference to the row above), which compresses smooth photographs
far better than no filter and is one vectorised subtraction. zlib at a fixed level, so the bytes are stable.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

SIGNATURE = b"\x89PNG\r\n\x1a\n"
COLOUR_TYPE = {1: 0, 3: 2}  # channels → PNG colour type (0 grey, 2 truecolour)
FILTER_UP = 2


def to_uint16(x: np.ndarray) -> np.ndarray:
    """``(C, H, W)`` floats in [-1, 1] to ``(C, H, W)`` uint16 (the 16-bit twin of ``encode.to_uint8``)."""
    return quantize(x, 65535, np.uint16)


def quantize(x: np.ndarray, top: int, dtype: type, band_pixels: int = 1 << 22) -> np.ndarray:
    """``(C, H, W)`` floats in [-1, 1] to integers 0…``top``: rint((x + 1)·top/2), clipped, in float64 (so every
    machine rounds alike), a band of rows at a time: whole-image float64 temporaries of a 41 MP colour restoration
    were 1 GB each, the largest part of its 3.4 GB peak."""
    out = np.empty(x.shape, dtype=dtype)
    rows = max(1, band_pixels // max(1, x.shape[-1]))
    for start in range(0, x.shape[-2], rows):
        band = x[..., start:start + rows, :].astype(np.float64)
        band += 1.0
        band *= top / 2
        np.rint(band, out=band)
        np.clip(band, 0, top, out=band)
        out[..., start:start + rows, :] = band
    return out


def encode_png16(samples: np.ndarray, text: dict[str, str], icc_profile: bytes = b"",
                 pixels_per_metre: tuple[int, int] | None = None) -> bytes:  # fmt: skip
    """PNG bytes of ``samples`` (``(C, H, W)`` uint16, C = 1 or 3) with one uncompressed iTXt chunk per ``text``
    entry (keyword → UTF-8 text), in the order given, an iCCP chunk for ``icc_profile`` if there is one, and a pHYs
    chunk for ``pixels_per_metre`` (x, y) if given."""
    if samples.dtype != np.uint16 or samples.ndim != 3 or samples.shape[0] not in COLOUR_TYPE:
        raise ValueError(f"need (1 or 3, H, W) uint16 samples, got {samples.dtype} {samples.shape}")
    channels, height, width = samples.shape
    header = struct.pack(">IIBBBBB", width, height, 16, COLOUR_TYPE[channels], 0, 0, 0)
    interleaved = np.ascontiguousarray(samples.transpose(1, 2, 0), dtype=">u2")  # big-endian, as PNG stores it
    rows = interleaved.view(np.uint8).reshape(height, width * channels * 2)
    filtered = np.empty((height, rows.shape[1] + 1), dtype=np.uint8)
    filtered[:, 0] = FILTER_UP
    filtered[0, 1:] = rows[0]  # the row above the first is taken as zeros
    filtered[1:, 1:] = rows[1:] - rows[:-1]  # uint8 arithmetic wraps modulo 256, as the filter is defined
    chunks = [_chunk(b"IHDR", header)]
    if icc_profile:  # iCCP: profile name, NUL, compression method 0 (zlib), the compressed profile; before IDAT
        chunks.append(_chunk(b"iCCP", b"ICC profile\x00\x00" + zlib.compress(icc_profile, 6)))
    if pixels_per_metre:  # pHYs: pixels a unit along x and y, unit 1 = the metre; before IDAT
        chunks.append(_chunk(b"pHYs", struct.pack(">IIB", *pixels_per_metre, 1)))
    chunks += [_chunk(b"iTXt", _itxt(keyword, value)) for keyword, value in text.items()]
    chunks += [_chunk(b"IDAT", zlib.compress(filtered.tobytes(), 6)), _chunk(b"IEND", b"")]
    return SIGNATURE + b"".join(chunks)


def _itxt(keyword: str, value: str) -> bytes:
    # keyword, NUL, compression flag 0, method 0, empty language tag + NUL, empty translated keyword + NUL, text
    return keyword.encode("latin-1") + b"\x00\x00\x00\x00\x00" + value.encode("utf-8")


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
