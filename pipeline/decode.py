"""Decode archive images and masks with Pillow (a CPU task stage), one error row per bad file.

Images are turned upright (EXIF orientation) and reduced to grey (1 channel) or RGB (3 channels),
keeping their integer samples (uint8, or uint16 for 16-bit grey and deep colour) so the object store carries 1–2
bytes a sample; :func:`to_signed_unit` makes the [-1, 1] floats in the restore stage.

Mode handling: ``1``/``L`` → grey; ``I;16*`` → 16-bit grey; ``I`` → grey read as 16-bit samples; a 48-bit RGB
TIFF or PNG, or JPEG 2000 of 9–16 bits → 16-bit RGB where its decoder is installed (``pipeline.rgb16``, input_mode
``RGB;16``), else 8-bit RGB; a 16-bit grey PNG with alpha → 16-bit grey over white there (``LA;16``), else RGB;
a TIFF Pillow cannot open (16-bit grey with alpha, float RGB) → read by ``pipeline.tiff_fallback`` where tifffile
is installed, else a ``CorruptImage`` row; ``F`` → grey read as [0, 1]; ``LA``/``RGBA``/``P`` with transparency →
composited over white (transparent pixels carry no meaningful colour); ``CMYK``/``YCbCr``/``LAB``/... → RGB by
Pillow's conversion. An embedded ICC profile is not applied (values stay as stored): it is noted (``input_icc``) and
carried to the encoder, which embeds it in the output where the output's colours are the scan's
(``encode.output_profile``).

Masks: a grey image the size of the photo; **white (≥ 50 %) = known pixel, black = missing**.
"""

from __future__ import annotations

import functools
import json
import re
import time
import warnings
from io import BytesIO
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from . import descriptive, io, tiff_fallback
from .pages import check_page, full_frames
from .resolution import stated_dpi
from .ops import output_too_large
from .rows import (
    ANY_MASK, DECODED_COLUMNS, STATUS_OK, STATUS_SKIPPED, RowError, error_fields, from_rows, pack_array, to_rows,
)
from .settings import JobSettings
from .rgb16 import GRAY16_ALPHA_MODE, RGB16_MODE, read_rgb16

GREY_16_MODES = ("I;16", "I;16L", "I;16B", "I;16N")
COMPOSITE_MODES = ("LA", "La", "PA", "RGBA", "RGBa")
WHITE = (255, 255, 255, 255)
DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError)  # how Pillow says a file's bytes are damaged


def to_signed_unit(samples: np.ndarray) -> np.ndarray:
    """Decoded samples (uint8, uint16 or float in [0, 1]) to float32 in [-1, 1]."""
    if samples.dtype == np.uint8:
        unit = samples.astype(np.float32) / 255.0
    elif samples.dtype == np.uint16:
        unit = samples.astype(np.float32) / 65535.0
    else:
        unit = np.clip(samples.astype(np.float32), 0.0, 1.0)
    return unit * 2.0 - 1.0


class Decoded(NamedTuple):
    """A decoded scan: its samples and what its file says besides them, read in the one opening of the file."""

    samples: np.ndarray  # (C, H, W), upright
    mode: str  # the source's Pillow mode (``RGB;16``: 48-bit colour read at 16 bits, pipeline.rgb16)
    icc_profile: bytes  # embedded ICC profile, or b""
    inherited: dict[str, str]  # its title, creator, rights, description (pipeline.descriptive)
    pages: int = 1  # full-resolution images in the file (TIFF pages, animation frames)
    page: int = 1  # which of them these samples are (1-based; the manifest's ``file_page``)
    dpi: tuple[float, float] | None = None  # the scan's stated resolution (x, y) in pixels an inch; None if none


def decode_image(data: bytes, max_pixels: int, page: int = 1, negative: bool = False) -> Decoded:
    """Image ``page`` (1-based, of the file's full-resolution images: the recto and verso of a print in one TIFF) of
    the scan in ``data``, decoded under the job's ``max_pixels``; raises :class:`RowError`. A ``negative`` (a glass
    plate or film scanned by transmission, the manifest's ``negative``) comes back as its positive (:func:`inverted`):
    that is the picture the measurement y describes, and what the restoration, the review page and the preview show.
    """
    decoded = _decode(data, max_pixels, page)
    return decoded._replace(samples=inverted(decoded.samples)) if negative else decoded


def inverted(samples: np.ndarray) -> np.ndarray:
    """A negative's positive, s → max − s in the file's own encoding (an image editor's Invert: the first step from
    a plate to its positive, before any tone work). It is affine, so the positive is degraded as the negative was:
    A(max − x) = max − A x for an operator that keeps a flat field flat (A 1 = 1: a mean, a pooling, a blur, a mask).
    Tones are not stretched: the plate's base and fog leave the blacks a dark gray, and clipping them is the
    archivist's call. A colour negative's orange mask is not removed (it inverts to a blue cast); colorize, whose A
    is the channel mean, is not affected by it."""
    if samples.dtype.kind == "u":
        return np.iinfo(samples.dtype).max - samples  # same dtype: 8 and 16 bits keep their depth
    return (1.0 - np.clip(samples, 0.0, 1.0)).astype(samples.dtype)


def _decode(data: bytes, max_pixels: int, page: int) -> Decoded:
    try:
        return _decode_with_pillow(data, max_pixels, page)
    except RowError as error:  # a TIFF Pillow cannot open (16-bit gray with alpha, float RGB): tifffile may
        if error.error_type != "CorruptImage" or not tiff_fallback.is_tiff(data):
            raise
        read = tiff_fallback.read_tiff(data, lambda size: _check_pixels(size, max_pixels), page)
        if read is None:
            raise
        samples, mode, profile, inherited, pages, dpi = read
        return Decoded(samples, mode, profile, inherited, pages, page, dpi)


def _decode_with_pillow(data: bytes, max_pixels: int, page: int) -> Decoded:
    with _open(data, max_pixels) as img:
        frames = full_frames(img)
        check_page(page, len(frames))
        if frames[page - 1] != img.tell():
            try:
                img.seek(frames[page - 1])
                _check_pixels(img.size, max_pixels)  # a later page may be larger than the first, which _open checked
                img.load()
            except DECODE_ERRORS as exc:
                raise _decode_error(exc) from exc
        mode, profile = img.mode, bytes(img.info.get("icc_profile") or b"")
        inherited = descriptive.from_image(img)  # from the opened file itself, not the upright copy made below
        dpi = stated_dpi(img.info.get("dpi"))  # Pillow's reading of pHYs, JFIF, EXIF or the TIFF tags, in inches
        if (deep := read_rgb16(img, data)) is not None:  # 48-bit colour at its 16 bits (pipeline.rgb16)
            deep_mode = RGB16_MODE if deep.shape[0] == 3 else GRAY16_ALPHA_MODE
            return Decoded(deep, deep_mode, profile, inherited, len(frames), page, dpi)
        return Decoded(_samples(ImageOps.exif_transpose(img)), mode, profile, inherited, len(frames), page, dpi)


def decode_mask(data: bytes, image_hw: tuple[int, int], max_pixels: int) -> np.ndarray:
    """Known-pixel mask ``(H, W)`` bool (white = known); raises :class:`RowError`."""
    with _open(data, max_pixels) as img:
        grey = to_signed_unit(_samples(ImageOps.exif_transpose(img)))
    if grey.shape[0] == 3:
        grey = grey.mean(axis=0, keepdims=True)
    if tuple(grey.shape[1:]) != tuple(image_hw):
        (mh, mw), (h, w) = grey.shape[1:], image_hw
        raise RowError(
            "MaskSizeMismatch",
            f"mask is {mw}x{mh} but the image is {w}x{h} (after EXIF rotation); masks must match the image",
        )
    return grey[0] >= 0.0


class _open:
    """Context manager: Pillow image from bytes, with every failure turned into a RowError."""

    def __init__(self, data: bytes, max_pixels: int):
        self.data, self.max_pixels = data, max_pixels

    def __enter__(self) -> Image.Image:
        if not self.data:
            raise RowError("EmptyFile", "the file is empty (0 bytes)")
        # Pillow's bomb limit is process-wide: set the job's value for this open/load only and put
        # the caller's back afterwards (decode runs one call at a time per worker process).
        previous, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, self.max_pixels
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                self.img = Image.open(BytesIO(self.data))
                _check_pixels(self.img.size, self.max_pixels)
                self.img.load()
        except RowError:
            raise
        except Image.DecompressionBombError as exc:
            # Pillow's message quotes its own threshold (twice MAX_IMAGE_PIXELS); quote the limit in force.
            found = re.search(r"\((\d+) pixels\)", str(exc))
            size = f"{found.group(1)} pixels" if found else "more pixels than allowed"
            raise RowError("DecompressionBomb", f"image has {size}, above the limit of {self.max_pixels} pixels "
                                                "(--max-pixels); raise --max-pixels if the file is trusted") from exc
        except UnidentifiedImageError as exc:
            raise RowError("CorruptImage", "not a readable image: Pillow cannot identify the format") from exc
        except DECODE_ERRORS as exc:
            raise _decode_error(exc) from exc
        finally:
            Image.MAX_IMAGE_PIXELS = previous
        return self.img

    def __exit__(self, *exc_info) -> None:
        if hasattr(self, "img"):
            self.img.close()


def _decode_error(exc: Exception) -> RowError:
    kind = "TruncatedImage" if "truncated" in str(exc).lower() else "CorruptImage"
    return RowError(kind, f"cannot decode the image: {exc}")


def _check_pixels(size: tuple[int, int], max_pixels: int) -> None:
    w, h = size
    if w * h > max_pixels:
        raise RowError(
            "DecompressionBomb",
            f"image is {w}x{h} = {w * h} pixels, above the limit of {max_pixels}; "
            "raise --max-pixels if the file is trusted",
        )


def _samples(img: Image.Image) -> np.ndarray:
    """Grey ``(1, H, W)`` or RGB ``(3, H, W)`` samples from any Pillow mode."""
    if img.mode in GREY_16_MODES:
        return np.asarray(img).astype(np.uint16)[None]
    if img.mode == "I":
        return np.clip(np.asarray(img), 0, 65535).astype(np.uint16)[None]
    if img.mode == "F":
        return np.clip(np.asarray(img, dtype=np.float32), 0.0, 1.0)[None]
    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    if img.mode in COMPOSITE_MODES:
        grey = img.mode in ("LA", "La")
        img = Image.alpha_composite(Image.new("RGBA", img.size, WHITE), img.convert("RGBA"))
        img = img.convert("L" if grey else "RGB")
    if img.mode in ("1", "L"):
        return np.asarray(img.convert("L"), dtype=np.uint8)[None]
    return np.asarray(img.convert("RGB"), dtype=np.uint8).transpose(2, 0, 1).copy()


def decode_row(row: dict, settings: JobSettings, read: Callable[[str], bytes] | None = None) -> dict:
    """Read and decode one manifest row's image (and mask); the result is a new row dict.

    A row the driver found restored before (``resume_input_sha256`` set: same id and settings) is
    ``skipped`` without decoding when its input and mask bytes are unchanged (:mod:`pipeline.ledger`).
    """
    started = time.time()
    out = {**row, "source_uri": row["uri"], "started_at": started, "status": STATUS_OK}
    out.pop("uri")
    page = out["input_page"] = max(1, int(row.get("file_page") or 1))  # error rows say which image was asked for
    negative = out["input_negative"] = bool(row.get("negative"))
    try:
        read = read or functools.partial(_read, settings=settings)
        data = read(row["uri"])
        mask_data = read(row["mask_uri"]) if row.get("mask_uri") else None
        out["input_sha256"] = io.sha256_hex(data)
        out["mask_sha256"] = io.sha256_hex(mask_data) if mask_data is not None else ""
        if _unchanged(row, out):
            out.update(status=STATUS_SKIPPED, decode_s=time.time() - started)
            return out
        decoded = decode_image(data, settings.max_pixels, page, negative)
        samples, out["input_mode"], out["icc_profile"], inherited, out["input_pages"], out["input_page"], dpi = decoded
        out["dpi_x"], out["dpi_y"] = dpi or (None, None)
        out["input_icc"] = bool(out["icc_profile"])
        out["descriptive"] = json.dumps(descriptive.for_row(row.get("extra"), inherited), sort_keys=True)
        out["input_height"], out["input_width"] = samples.shape[1:]
        if reason := output_too_large(row["op"], json.loads(row["params"] or "{}"), *samples.shape[1:],
                                      settings.max_pixels):  # fmt: skip
            raise RowError("OutputTooLarge", reason)
        out["pixels_npy"] = pack_array(samples)
        if mask_data is not None:
            out["mask_npy"] = pack_array(decode_mask(mask_data, samples.shape[1:], settings.max_pixels))
    except Exception as exc:  # noqa: BLE001 - any failure of one file is that row's error
        out.update(error_fields(exc))
    out["decode_s"] = time.time() - started
    return out


def _unchanged(row: dict, decoded: dict) -> bool:
    """Whether the bytes match the earlier ``ok`` restoration the driver handed over (if any)."""
    previous, previous_mask = row.get("resume_input_sha256") or "", row.get("resume_mask_sha256") or ""
    same_mask = previous_mask in (ANY_MASK, decoded["mask_sha256"])
    return bool(previous) and previous == decoded["input_sha256"] and same_mask


def _read(uri: str, settings: JobSettings) -> bytes:
    try:
        return io.read_bytes(uri, settings.storage_options)
    except FileNotFoundError as exc:
        raise RowError("NotFound", f"no file at {uri}") from exc
    except OSError as exc:
        raise RowError("ReadError", f"cannot read {uri}: {exc}") from exc


def decode_batch(batch: dict[str, np.ndarray], settings: JobSettings) -> dict[str, np.ndarray]:
    """Ray task UDF: manifest rows in, decoded rows out (a new dict; the input is read-only).

    The rows share the bytes of the last two files read: the images of a multi-page TIFF (recto and verso, listed one
    after another by ``scan --pages``) and a mask many rows share are read once, not once per row, and a batch of
    large scans holds no more than two files. A failed read raises, so it is not kept: the next row tries again."""
    read = functools.lru_cache(maxsize=2)(functools.partial(_read, settings=settings))
    return from_rows([decode_row(row, settings, read) for row in to_rows(batch)], DECODED_COLUMNS)
