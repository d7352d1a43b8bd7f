"""Deep colour scans (48-bit RGB TIFF and PNG, JPEG 2000 at 9–16 bits: colour film, transparencies, preservation
masters) read at 16 bits, where Pillow reads 8.

Pillow has no 16-bit RGB mode: it opens such a file as 8-bit RGB, dropping the low bits of every sample. Where the
optional decoders are installed (``pip install 'ddnm-batch[rgb16]'``: ``tifffile`` for TIFF, and ``imagecodecs``
for PNG, JPEG 2000 and LZW, PackBits and JPEG-compressed TIFFs) the samples are read again with them,
turned upright by the file's orientation as Pillow would, and recorded with the pseudo-mode :data:`RGB16_MODE`, so
the restoration is written at 16 bits (``encode.sample_bits``). Without them, or for a file they cannot decode, the
file is read by Pillow at 8 bits as before: 16 bits are a gain, never a reason for a row to fail.
"""

from __future__ import annotations

from io import BytesIO

import numpy as np
from PIL import Image

RGB16_MODE = "RGB;16"  # the ledger's input_mode for a colour scan read at 16 bits a sample (not a Pillow mode)
GRAY16_ALPHA_MODE = "LA;16"  # a 16-bit gray PNG with alpha (Pillow opens it as 8-bit RGBA), composited over white
BITS_PER_SAMPLE, ORIENTATION = 258, 0x0112  # TIFF tags (the second is EXIF's too)
PNG_BIT_DEPTH, PNG_COLOUR_TYPE = 24, 25  # byte offsets in a PNG: 8-byte signature, IHDR length and type, W, H
PNG_RGB, PNG_GRAY_ALPHA, PNG_RGBA = 2, 4, 6  # IHDR colour types Pillow reads at 8 bits (16-bit gray it reads deep)
J2K_SOC_SIZ = b"\xff\x4f\xff\x51"  # a JPEG 2000 codestream opens with SOC and then the SIZ marker


def read_rgb16(img: Image.Image, data: bytes) -> np.ndarray | None:
    """Upright ``(3, H, W)`` uint16 samples of a 48-bit (or 64-bit RGBA) TIFF or PNG, or a JPEG 2000 of 9–16 bits
    (``(1, H, W)`` for a 16-bit gray PNG with alpha, :data:`GRAY16_ALPHA_MODE`), that Pillow opened as ``img`` from
    ``data``; ``None`` for any other file, or when no decoder is installed or it cannot decode the file."""
    if img.mode not in ("RGB", "RGBA"):
        return None
    if img.format == "TIFF":
        read = _tiff_rgb16
    elif img.tell():  # a later frame of an animated PNG: its decoder reads the first
        return None
    elif img.format == "PNG" and data[PNG_BIT_DEPTH] == 16 and data[PNG_COLOUR_TYPE] in (PNG_RGB, PNG_GRAY_ALPHA,
                                                                                         PNG_RGBA):
        read = _png_rgb16
    elif img.format == "JPEG2000" and (_j2k_bits(data) or 0) > 8:
        read = _jpeg2000_rgb16
    else:
        return None
    try:
        samples, orientation, turned = read(img, data)
    except Exception:  # noqa: BLE001 - not installed, or a codec it lacks: Pillow's 8 bits stand
        return None
    if samples is None or samples.dtype != np.uint16 or samples.ndim != 3 or samples.shape[2] not in (2, 3, 4):
        return None
    samples = over_white(samples, alpha=samples.shape[2] in (2, 4))
    as_pillow_sees = turn_upright(samples, orientation) if turned else samples
    if as_pillow_sees.shape[:2] != (img.height, img.width):  # not the image Pillow sees: keep to Pillow's reading
        return None
    upright = as_pillow_sees if turned else turn_upright(samples, orientation)
    return np.ascontiguousarray(upright.transpose(2, 0, 1))


def _tiff_rgb16(img: Image.Image, data: bytes) -> tuple[np.ndarray | None, int, bool]:
    """The TIFF's samples, its orientation, and True: Pillow turns a TIFF upright as it opens it (and then forgets
    the tag), so the tag is read here, from the file."""
    bits = img.tag_v2.get(BITS_PER_SAMPLE)
    if not bits or any(b != 16 for b in (bits if isinstance(bits, tuple) else (bits,))):
        return None, 1, True
    import tifffile

    with tifffile.TiffFile(BytesIO(data)) as tif:
        page = tif.pages[img.tell()]  # Pillow's frames are the TIFF's pages (its main IFD chain), as tifffile's
        tag = page.tags.get(ORIENTATION)
        return page.asarray(), int(tag.value) if tag is not None else 1, True


def _png_rgb16(img: Image.Image, data: bytes) -> tuple[np.ndarray, int, bool]:
    """The PNG's samples, its EXIF orientation (an ``eXIf`` chunk), and False: Pillow opens a PNG as stored, and
    decode turns it upright (``ImageOps.exif_transpose``), so these samples must be turned the same way."""
    import imagecodecs

    return imagecodecs.png_decode(data), int(img.getexif().get(ORIENTATION, 1)), False


def _jpeg2000_rgb16(img: Image.Image, data: bytes) -> tuple[np.ndarray, int, bool]:
    """The JPEG 2000 image's samples at 16 bits and no turn (JPEG 2000 has no orientation). Samples of fewer bits
    are shifted up to 16 as Pillow shifts a 12-bit gray JPEG 2000 into ``I;16``: full scale stays full scale."""
    import imagecodecs

    samples, bits = imagecodecs.jpeg2k_decode(data), _j2k_bits(data) or 16
    return (samples << (16 - bits)).astype(np.uint16) if samples.dtype == np.uint16 else samples, 1, False


def _j2k_bits(data: bytes) -> int | None:
    """Bits a sample of a JPEG 2000 file (a bare codestream, or the ``jp2c`` box of a JP2), from its SIZ marker;
    None where the components differ, are signed, or the header cannot be read."""
    at = 0 if data.startswith(J2K_SOC_SIZ) else _jp2c_offset(data)
    if at is None or data[at:at + 4] != J2K_SOC_SIZ or len(data) < at + 42:
        return None
    components = int.from_bytes(data[at + 40:at + 42], "big")  # Csiz, after Lsiz, Rsiz and eight 32-bit sizes
    ssiz = data[at + 42:at + 42 + 3 * components:3]  # Ssiz of each component (then its XRsiz, YRsiz)
    if len(ssiz) != components or len(set(ssiz)) != 1 or ssiz[0] & 0x80:
        return None
    return (ssiz[0] & 0x7F) + 1


def _jp2c_offset(data: bytes) -> int | None:
    """Where the codestream box's contents start in a JP2 file (ISO 15444-1 annex I boxes), or None."""
    at = 0
    while at + 8 <= len(data):
        length, kind, header = int.from_bytes(data[at:at + 4], "big"), data[at + 4:at + 8], 8
        if length == 1:  # the 64-bit length follows the type
            length, header = int.from_bytes(data[at + 8:at + 16], "big"), 16
        if kind == b"jp2c":
            return at + header
        if length < header:  # 0 (to the end) on any box but the last, or damaged
            return None
        at += length
    return None


def over_white(samples: np.ndarray, alpha: bool) -> np.ndarray:
    """``(H, W, C)`` without its alpha channel (the last, where ``alpha``), composited over white as decode composites
    Pillow's LA and RGBA; integers stay integers of their depth, floats are clipped to [0, 1] (decode reads Pillow's
    ``F`` the same way)."""
    floating = samples.dtype.kind == "f"
    if floating:
        samples = np.clip(samples.astype(np.float32), 0.0, 1.0)
    if not alpha:
        return samples
    top = 1.0 if floating else float(np.iinfo(samples.dtype).max)
    weight = samples[..., -1:].astype(np.float64) / top
    blended = samples[..., :-1] * weight + top * (1.0 - weight)
    return blended.astype(np.float32) if floating else np.rint(blended).astype(samples.dtype)


def turn_upright(a: np.ndarray, orientation: int) -> np.ndarray:
    """``(H, W, C)`` turned upright for TIFF/EXIF ``orientation``, as Pillow turns the image (test_rgb16 checks
    all eight against it)."""
    turns = {
        2: lambda x: x[:, ::-1],  # mirror left-right
        3: lambda x: x[::-1, ::-1],  # rotate 180
        4: lambda x: x[::-1, :],  # mirror top-bottom
        5: lambda x: x.transpose(1, 0, 2),  # transpose
        6: lambda x: np.rot90(x, -1),  # rotate 90 clockwise
        7: lambda x: np.rot90(x, 2).transpose(1, 0, 2),  # transverse
        8: lambda x: np.rot90(x, 1),  # rotate 90 counter-clockwise
    }
    return turns.get(orientation, lambda x: x)(a)
