"""The resolution a scan states (pixels an inch) and the one its restoration states.

A print scanned at 600 dpi measures what it measures: a catalogue derives its size in centimetres from the pixels
and the resolution. The restoration keeps the inches: the same resolution where it has the scan's pixels
(colorize, inpainting, deblurring), a resolution scaled by the pixels gained where it has more (×4 super-resolution
of a 600 dpi scan: 2400 dpi). Read by ``pipeline.decode`` / ``pipeline.tiff_fallback``, written by
``pipeline.encode`` into PNG's pHYs chunk and TIFF's resolution tags.
"""

from __future__ import annotations

INCH_M = 0.0254  # PNG states pixels a metre


def stated_dpi(value) -> tuple[float, float] | None:
    """``(x, y)`` pixels an inch from a pair of numbers, or None for none or nonsense: 1 and below is no resolution
    but an aspect ratio (Pillow writes 1 × 1 into every TIFF it saves without one)."""
    try:
        x, y = (float(v) for v in value)
    except (TypeError, ValueError):
        return None
    return (x, y) if 1 < x < 1e6 and 1 < y < 1e6 else None


def output_dpi(dpi: tuple[float, float] | None, in_hw: tuple[int, int], out_hw: tuple[int, int],
               ) -> tuple[float, float] | None:  # fmt: skip
    """The restoration's resolution: the scan's (``None``, or NaN as rows carry a missing one, for none), times the
    pixels gained along each axis."""
    dpi = stated_dpi(dpi)
    if dpi is None or not all(size and size > 0 for size in in_hw):
        return None
    return stated_dpi((dpi[0] * out_hw[1] / in_hw[1], dpi[1] * out_hw[0] / in_hw[0]))


def png_pixels_per_metre(dpi: tuple[float, float]) -> tuple[int, int]:
    """pHYs's whole pixels a metre for ``dpi`` (what Pillow writes too: 600 dpi is 23622, read back as 599.9988)."""
    return round(dpi[0] / INCH_M), round(dpi[1] / INCH_M)
