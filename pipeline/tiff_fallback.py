"""TIFFs Pillow cannot open, read with ``tifffile``: 16-bit gray with alpha, floating-point RGB.

Pillow refuses these as "cannot identify the format", so an archive's retouched 16-bit plate saved with
transparency was an error row. Where ``tifffile`` is installed (the ``[rgb16]`` extra) the full-resolution page
asked for (the first unless the manifest's ``file_page`` says otherwise) is read instead: turned upright by its
orientation tag, alpha composited over white (as decode composites Pillow's LA and RGBA), its ICC profile and
resolution kept, its title, creator and rights read from its XMP and text tags as for any scan
(``pipeline.descriptive``). Without ``tifffile``, or for a layout it cannot turn into gray or RGB, the row keeps
Pillow's error.
"""

from __future__ import annotations

from io import BytesIO
from typing import Callable

import numpy as np

from . import descriptive
from .rgb16 import GRAY16_ALPHA_MODE, ORIENTATION, RGB16_MODE, over_white, turn_upright
from .pages import check_page
from .resolution import stated_dpi
from .rows import RowError

TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")  # classic and BigTIFF, either byte order
ICC_TAG = 34675
X_RESOLUTION, Y_RESOLUTION, RESOLUTION_UNIT = 282, 283, 296
RESOLUTION_TAGS = (X_RESOLUTION, Y_RESOLUTION, RESOLUTION_UNIT)
TEXT_TAGS = (*descriptive.EXIF_TAGS.values(), descriptive.XMP_TAG)  # what descriptive.from_tiff_tags reads
RGB_FLOAT_MODE = "RGB;F"  # the ledger's input_mode for floating-point RGB (not a Pillow mode); written at 16 bits
# (channels, kind) -> the input_mode recorded: Pillow's name where Pillow has one
MODES = {(1, "u1"): "L", (1, "u2"): "I;16", (1, "f"): "F", (3, "u1"): "RGB", (3, "u2"): RGB16_MODE,
         (3, "f"): RGB_FLOAT_MODE}  # fmt: skip


def is_tiff(data: bytes) -> bool:
    return data[:4] in TIFF_MAGIC


def read_tiff(data: bytes, check_size: Callable[[tuple[int, int]], None], page_number: int = 1,
              ) -> tuple[np.ndarray, str, bytes, dict[str, str], int, tuple[float, float] | None] | None:  # fmt: skip
    """``(samples (C, H, W), input_mode, icc_profile, inherited, pages, dpi)`` of full-resolution image
    ``page_number`` (1-based) of a TIFF Pillow cannot open (inherited: its title, creator, rights and description),
    or None where tifffile is missing or cannot make gray or RGB of it. ``check_size((width, height))`` runs before
    the pixels are decoded (decode's pixel limit; it raises :class:`RowError`), as does the page check
    (``NoSuchPage``)."""
    try:
        import tifffile

        with tifffile.TiffFile(BytesIO(data)) as tif:
            pages = [p for p in tif.pages if not int(getattr(p, "subfiletype", 0)) & 1] or list(tif.pages)
            check_page(page_number, len(pages))
            page = pages[page_number - 1]
            check_size((page.imagewidth, page.imagelength))
            samples, axes = page.asarray(), page.axes
            icc = page.tags.get(ICC_TAG)
            orientation = page.tags.get(ORIENTATION)
            profile = bytes(icc.value) if icc is not None else b""
            turn = int(orientation.value) if orientation is not None else 1
            text = {tag: page.tags[tag].value for tag in TEXT_TAGS if tag in page.tags}
            dpi = _dpi({tag: page.tags[tag].value for tag in RESOLUTION_TAGS if tag in page.tags})
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
    unit = over_white(samples, alpha=channels in (2, 4))
    mode = GRAY16_ALPHA_MODE if (channels, kind) == (2, "u2") else MODES[(colour, kind)]
    upright = np.ascontiguousarray(turn_upright(unit, turn).transpose(2, 0, 1))
    return upright, mode, profile, descriptive.from_tiff_tags(text), len(pages), dpi


def _dpi(tags: dict[int, object]) -> tuple[float, float] | None:
    """Pixels an inch from XResolution / YResolution (rationals) and ResolutionUnit (2 inch, 3 centimetre; with
    none, TIFF's default, inches); None without them or with no absolute unit (1)."""
    unit = int(tags.get(RESOLUTION_UNIT, 2))
    try:
        x, y = (num / den for num, den in (tags[X_RESOLUTION], tags[Y_RESOLUTION]))
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return None
    scale = {2: 1.0, 3: 2.54}.get(unit)
    return stated_dpi((x * scale, y * scale)) if scale else None

