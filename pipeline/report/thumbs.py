"""Thumbnails for the review report: photos as JPEG, heat maps as PNG, never larger than 256 px.

Small images are not enlarged (the page scales them up with crisp pixels); a thumbnail that is
compared with another (before/after) is resized to exactly the other's size, so a slider lines
them up pixel for pixel even when the source is smaller (super-resolution).
"""

from __future__ import annotations

from io import BytesIO

import numpy as np
from PIL import Image

from ..encode import to_uint8

THUMB_MAX = 256
JPEG_QUALITY = 88
# Departure shown at full colour from this share of the full range up (the legend says so).
HEAT_FULL_SCALE = 0.5
# Heat colour ramp, dark (no departure) to light (large): black, purple, red, orange, pale yellow.
HEAT_STOPS = np.array([0.0, 0.25, 0.5, 0.75, 1.0])
HEAT_COLOURS = np.array([[0, 0, 4], [87, 16, 110], [188, 55, 84], [249, 142, 9], [252, 255, 164]], dtype=np.float64)


def fit_size(width: int, height: int, limit: int = THUMB_MAX) -> tuple[int, int]:
    """The largest size within ``limit`` x ``limit`` with the same aspect ratio, never enlarged."""
    scale = min(1.0, limit / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def to_image(x: np.ndarray) -> Image.Image:
    """``(C, H, W)`` in [-1, 1] to an RGB Pillow image."""
    return Image.fromarray(to_uint8(x)).convert("RGB")


def resized(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """Shrink smoothly (no aliasing in a preview), enlarge with nearest (artefacts stay visible)."""
    if image.size == size:
        return image
    shrinking = size[0] * size[1] < image.width * image.height
    return image.resize(size, Image.Resampling.LANCZOS if shrinking else Image.Resampling.NEAREST)


def jpeg(image: Image.Image) -> bytes:
    buffer = BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=JPEG_QUALITY)
    return buffer.getvalue()


def png(image: Image.Image) -> bytes:
    buffer = BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def heat_colours(values: np.ndarray) -> np.ndarray:
    """``(H, W)`` values in [0, 1] to ``(H, W, 3)`` uint8 colours of the heat ramp."""
    channels = [np.interp(values, HEAT_STOPS, HEAT_COLOURS[:, c]) for c in range(3)]
    return np.rint(np.stack(channels, axis=-1)).astype(np.uint8)


def heat_map(departure: np.ndarray, size: tuple[int, int]) -> Image.Image:
    """The departure map ``(H, W)`` (share of the range) as a heat image of ``size``.

    The map is averaged down before colouring (area resampling of the values), so a thumbnail
    shows how much departs per area rather than a random pick of pixels.
    """
    values = Image.fromarray(departure.astype(np.float32))  # float32 (H, W): mode "F"
    if values.size != size:
        method = Image.Resampling.BOX if size[0] < values.width else Image.Resampling.NEAREST
        values = values.resize(size, method)
    scaled = np.clip(np.asarray(values) / HEAT_FULL_SCALE, 0.0, 1.0)
    return Image.fromarray(heat_colours(scaled))


def legend(width: int = 256, height: int = 12) -> Image.Image:
    """The heat ramp from 0 to :data:`HEAT_FULL_SCALE`, left to right, for the page's legend."""
    ramp = np.tile(np.linspace(0.0, 1.0, width), (height, 1))
    return Image.fromarray(heat_colours(ramp))
