"""48-bit RGB TIFF (16 bits a sample: colour film and transparencies) read at 16 bits, where Pillow reads 8.

Pillow has no 16-bit RGB mode: it opens a 48-bit TIFF as 8-bit RGB, dropping the low byte of every sample. Where
the optional ``tifffile`` package is installed (``pip install 'ddnm-batch[tiff16]'``, with ``imagecodecs`` for
LZW, PackBits and JPEG compression) the samples are read again with it, turned upright by the TIFF's orientation
tag as Pillow would, and recorded with the pseudo-mode :data:`RGB16_MODE`, so the restoration is written at 16
bits (``encode.sample_bits``). Without it, or for a compression it cannot decode, the file is read by Pillow at 8
bits as before: 16 bits are a gain, never a reason for a row to fail.
"""

from __future__ import annotations

from io import BytesIO

import numpy as np
from PIL import Image

RGB16_MODE = "RGB;16"  # the ledger's input_mode for a TIFF read at 16 bits a sample (not a Pillow mode)
BITS_PER_SAMPLE, ORIENTATION = 258, 0x0112  # TIFF tags


def read_rgb16(img: Image.Image, data: bytes) -> np.ndarray | None:
    """Upright ``(3, H, W)`` uint16 samples of a 48-bit (or 64-bit RGBA) TIFF that Pillow opened as ``img`` from
    ``data``; ``None`` for any other file, or when ``tifffile`` is missing or cannot decode it."""
    if img.format != "TIFF" or img.mode not in ("RGB", "RGBA"):
        return None
    bits = img.tag_v2.get(BITS_PER_SAMPLE)
    if not bits or any(b != 16 for b in (bits if isinstance(bits, tuple) else (bits,))):
        return None
    try:
        import tifffile

        with tifffile.TiffFile(BytesIO(data)) as tif:
            page = tif.pages[0]
            samples = page.asarray()
            tag = page.tags.get(ORIENTATION)
    except Exception:  # noqa: BLE001 - not installed, or a codec it lacks: Pillow's 8 bits stand
        return None
    if samples.dtype != np.uint16 or samples.ndim != 3 or samples.shape[2] not in (3, 4):
        return None
    if samples.shape[2] == 4:  # RGBA over white, as decode composites Pillow's RGBA
        alpha = samples[..., 3:].astype(np.float64) / 65535.0
        samples = np.rint(samples[..., :3] * alpha + 65535.0 * (1.0 - alpha)).astype(np.uint16)
    # Pillow turns a TIFF upright as it opens it (and then forgets the tag), so the tag is read here, from the file
    upright = _upright(samples, int(tag.value) if tag is not None else 1)
    if upright.shape[:2] != (img.height, img.width):  # not the image Pillow sees: keep to Pillow's reading
        return None
    return np.ascontiguousarray(upright.transpose(2, 0, 1))


def _upright(a: np.ndarray, orientation: int) -> np.ndarray:
    """``(H, W, C)`` turned upright for TIFF/EXIF ``orientation``, as Pillow turns the image (test_tiff16 checks
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
