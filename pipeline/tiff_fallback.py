"""TIFFs Pillow cannot open, read with ``tifffile``: 16-bit gray with alpha, floating-point RGB.

Pillow refuses these as "cannot identify the format", so an archive's retouched 16-bit plate saved with
transparency was an error row. Where ``tifffile`` is installed (the ``[rgb16]`` extra) the first full-resolution
page is read instead: turned upright by its orientation tag, alpha composited over white (as decode composites
Pillow's LA and RGBA), its ICC profile kept, its title, creator and rights read from its XMP and text tags as for any
scan (``pipeline.descriptive``). Without ``tifffile``, or for a layout it cannot turn into gray or RGB, the row
keeps Pillow's error.
"""

from __future__ import annotations

from io import BytesIO

import numpy as np

from . import descriptive
from .rgb16 import GRAY16_ALPHA_MODE, RGB16_MODE, _upright
from .rows import RowError

TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")  # classic and BigTIFF, either byte order
ICC_TAG, ORIENTATION_TAG = 34675, 274
TEXT_TAGS = (*descriptive.EXIF_TAGS.values(), descriptive.XMP_TAG)  # what descriptive.from_tiff_tags reads
RGB_FLOAT_MODE = "RGB;F"  # the ledger's input_mode for floating-point RGB (not a Pillow mode); written at 16 bits
# (channels, kind) -> the input_mode recorded: Pillow's name where Pillow has one
MODES = {(1, "u1"): "L", (1, "u2"): "I;16", (1, "f"): "F", (3, "u1"): "RGB", (3, "u2"): RGB16_MODE,
         (3, "f"): RGB_FLOAT_MODE}  # fmt: skip


def is_tiff(data: bytes) -> bool:
    return data[:4] in TIFF_MAGIC


def read_tiff(data: bytes, max_pixels: int) -> tuple[np.ndarray, str, bytes, dict[str, str], int] | None:
    """``(samples (C, H, W), input_mode, icc_profile, inherited, pages)`` of a TIFF Pillow cannot open (inherited:
    its title, creator, rights and description), or None where tifffile
    is missing or cannot make gray or RGB of it; raises :class:`RowError` for more pixels than ``max_pixels``."""
    try:
        import tifffile

        with tifffile.TiffFile(BytesIO(data)) as tif:
            pages = [p for p in tif.pages if not int(getattr(p, "subfiletype", 0)) & 1] or list(tif.pages)
            page = pages[0]
            if page.imagelength * page.imagewidth > max_pixels:
                raise RowError("DecompressionBomb", f"image is {page.imagewidth}x{page.imagelength} = "
                                                    f"{page.imagewidth * page.imagelength} pixels, above the limit of "
                                                    f"{max_pixels}; raise --max-pixels if the file is trusted")
            samples, axes = page.asarray(), page.axes
            icc = page.tags.get(ICC_TAG)
            orientation = page.tags.get(ORIENTATION_TAG)
            profile = bytes(icc.value) if icc is not None else b""
            turn = int(orientation.value) if orientation is not None else 1
            text = {tag: page.tags[tag].value for tag in TEXT_TAGS if tag in page.tags}
    except RowError:
        raise
    except Exception:  # noqa: BLE001 - not installed, or a file it cannot read either: Pillow's error stands
        return None
    if axes.startswith("S") and samples.ndim == 3:  # planar: (samples, rows, columns)
        samples = samples.transpose(1, 2, 0)
    if samples.ndim == 2:
        samples = samples[..., None]
    kind = "f" if samples.dtype.kind == "f" else samples.dtype.str[1:]  # "u1", "u2", "f"
    channels = samples.shape[-1] if samples.ndim == 3 else 0
    colour = {1: 1, 2: 1, 3: 3, 4: 3}.get(channels)
    if colour is None or (colour, kind) not in MODES:
        return None
    unit = over_white(samples, kind, alpha=channels in (2, 4))
    mode = GRAY16_ALPHA_MODE if (channels, kind) == (2, "u2") else MODES[(colour, kind)]
    upright = np.ascontiguousarray(_upright(unit, turn).transpose(2, 0, 1))
    return upright, mode, profile, descriptive.from_tiff_tags(text), len(pages)


def over_white(samples: np.ndarray, kind: str, alpha: bool) -> np.ndarray:
    """``(H, W, C)`` without its alpha channel, composited over white; integers stay integers of their depth,
    floats are clipped to [0, 1] (decode reads Pillow's ``F`` the same way)."""
    if kind == "f":
        samples = np.clip(samples.astype(np.float32), 0.0, 1.0)
    if not alpha:
        return samples
    top = 1.0 if kind == "f" else float(np.iinfo(samples.dtype).max)
    weight = samples[..., -1:].astype(np.float64) / top
    blended = samples[..., :-1] * weight + top * (1.0 - weight)
    return blended.astype(np.float32) if kind == "f" else np.rint(blended).astype(samples.dtype)
