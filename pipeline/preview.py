"""A before/after contact sheet of restored rows, for a quick look at a job (``--preview N``)."""

from __future__ import annotations

from io import BytesIO

from PIL import Image

from .decode import decode_image, to_signed_unit
from .encode import to_uint8

THUMB_HEIGHT = 192
GAP = 4
BACKGROUND = (255, 255, 255)


def _thumbnail(data: bytes, max_pixels: int, page: int = 1, negative: bool = False) -> Image.Image:
    samples = decode_image(data, max_pixels, page, negative).samples
    image = Image.fromarray(to_uint8(to_signed_unit(samples))).convert("RGB")
    width = max(1, round(image.width * THUMB_HEIGHT / image.height))
    # Nearest keeps small test images crisp and shows restoration artefacts as they are.
    return image.resize((width, THUMB_HEIGHT), Image.Resampling.NEAREST)


def contact_sheet(pairs: list[tuple[bytes, bytes]], max_pixels: int, pages: list[int] | None = None,
                  negatives: list[bool] | None = None) -> bytes:  # fmt: skip
    """PNG with one row per pair: the source image left (its image ``pages[i]`` where given: a verso; the positive
    where ``negatives[i]``), the restored image right."""
    if not pairs:
        raise ValueError("a contact sheet needs at least one (before, after) pair")
    pages, negatives = pages or [1] * len(pairs), negatives or [False] * len(pairs)
    rows = [(_thumbnail(before, max_pixels, page, negative), _thumbnail(after, max_pixels))
            for (before, after), page, negative in zip(pairs, pages, negatives)]  # fmt: skip
    width = max(b.width + a.width for b, a in rows) + 3 * GAP
    height = len(rows) * (THUMB_HEIGHT + GAP) + GAP
    sheet = Image.new("RGB", (width, height), BACKGROUND)
    for index, (before, after) in enumerate(rows):
        top = GAP + index * (THUMB_HEIGHT + GAP)
        sheet.paste(before, (GAP, top))
        sheet.paste(after, (2 * GAP + before.width, top))
    buffer = BytesIO()
    sheet.save(buffer, format="PNG")
    return buffer.getvalue()
