"""Which images a file holds: the full-resolution pages of a TIFF, the frames of an animation.

An archive may scan the recto and the verso of a print into one TIFF, and a scanner may add a reduced-resolution
thumbnail page. A manifest row restores one image of its file (``file_page``, from 1; ``pipeline.decode``);
``ddnm-batch scan --pages`` lists one row for each (:func:`count_pages`).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from PIL import Image

from . import io
from .rows import RowError

NEW_SUBFILE_TYPE = 254  # TIFF tag; bit 0: a reduced-resolution version of another page
MULTI_PAGE_EXTENSIONS = (".tif", ".tiff")  # what scan opens to count: an archive's animations are not its scans
# What one ranged read fetches while the directory chain is walked: s3fs's default block is 50 MB, which made
# counting the pages of a 200 MB scan fetch 50 MB (and a page directory at the end of the file another 50).
IFD_READ_BYTES = 1 << 16


def full_frames(img: Image.Image) -> list[int]:
    """The frame numbers of the full-resolution images in the file Pillow opened as ``img``: a TIFF's pages that are
    not a thumbnail of another (NewSubfileType bit 0), an animation's frames; ``[0]`` for a single image. Leaves
    ``img`` at its first frame."""
    frames = getattr(img, "n_frames", 1)
    if frames <= 1:
        return [0]
    if img.format != "TIFF":
        return list(range(frames))
    full = []
    for frame in range(frames):
        img.seek(frame)
        if not int(img.tag_v2.get(NEW_SUBFILE_TYPE, 0)) & 1:
            full.append(frame)
    img.seek(0)
    return full or [0]


def check_page(page: int, pages: int) -> None:
    """Raise :class:`RowError` unless a file of ``pages`` full-resolution images has image ``page`` (1-based)."""
    if not 1 <= page <= pages:
        held = "1 image" if pages == 1 else f"{pages} images (pages or frames)"
        raise RowError("NoSuchPage", f"file_page {page} asked for, but the file holds {held}")


def count_pages(uris: list[str], storage_options: dict | None = None, threads: int = 16) -> list[int]:
    """Full-resolution images in each TIFF of ``uris``, read from its directory (IFD) chain without its pixels: on
    an object store, a few ranged reads a file, ``threads`` files at once. 1 for a file Pillow cannot read
    (decoding it will say why, as the row's error). Nothing is decoded, so Pillow's pixel limit is lifted meanwhile
    (it is process-wide: the caller decodes nothing at the same time) and a 500 MP plate is counted too."""
    previous, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
    try:
        with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
            return list(pool.map(lambda uri: _count(uri, storage_options), uris))
    finally:
        Image.MAX_IMAGE_PIXELS = previous


def _count(uri: str, storage_options: dict | None) -> int:
    fs, path = io.filesystem_for(uri, storage_options)
    try:
        with fs.open(path, "rb", block_size=IFD_READ_BYTES, cache_type="readahead") as handle, \
                Image.open(handle, formats=["TIFF"]) as img:
            return len(full_frames(img))
    except Exception:  # noqa: BLE001 - unreadable here is the row's error later, with its reason
        return 1
