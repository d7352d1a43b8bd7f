"""One ledger row → one report entry: its thumbnails (written under ``report/thumbs/``) and the
fields the page shows, filters and sorts on. A CPU task; many run at once in a thread pool.

Nothing here fails the report: a source that is gone, changed or undecodable leaves the entry
without the views it would have needed, and says why in ``note``.
"""

from __future__ import annotations

import json
import math
from datetime import datetime

import numpy as np

from .. import io, metadata
from ..decode import Decoded, decode_image, decode_mask, to_signed_unit
from ..ops import PLANS
from ..rows import STATUS_OK, RowError
from . import thumbs
from .nullspace import NullSpaceView, null_space_view
from .reuse import ENTRY_FORMAT, reusable
from .settings import ReportSettings

THUMBS = "thumbs"
VIEWS = ("before", "after", "pinv", "heat")  # keys of an entry's "thumbs"


def thumb_paths(row_id: str) -> dict[str, str]:
    """Thumbnail paths relative to ``report/``; unique per id (slug + hash, as outputs are named)."""
    base = io.output_name(row_id, suffix="")
    return {view: f"{THUMBS}/{base}-{view}.{'png' if view == 'heat' else 'jpg'}" for view in VIEWS}


def make_entry(index: int, row: dict, settings: ReportSettings, previous: dict | None = None) -> dict:
    """The page's record of ledger row ``row`` (a :data:`metadata.SCHEMA` dict); writes its thumbnails.

    ``previous`` is this row's entry in the last build: reused as it is when the row did not change.
    """
    fields = _fields(index, row)
    if reusable(previous, fields):
        reused = ("invented", "invented_area", "thumbs", "note", "kept")
        return {**fields, **{key: previous[key] for key in reused}}
    images, notes, view, kept = {}, [], None, []
    page = row.get(metadata.INPUT_PAGE) or 1  # the file's image that was restored (null in older ledgers: the first)
    negative = bool(row.get(metadata.INPUT_NEGATIVE))  # shown as restored: the positive
    source = _decoded(row[metadata.SOURCE_URI], row[metadata.INPUT_SHA256], "source", settings, notes, page=page,
                      negative=negative)  # fmt: skip
    restored = None
    if row[metadata.STATUS] == STATUS_OK:
        restored = _decoded(row[metadata.OUTPUT_URI], row[metadata.OUTPUT_SHA256], "output", settings, notes, kept)
    reference = restored if restored is not None else source
    if reference is not None:
        size = thumbs.fit_size(reference.shape[2], reference.shape[1])
        if source is not None:
            images["before"] = thumbs.jpeg(thumbs.resized(thumbs.to_image(to_signed_unit(source)), size))
        if restored is not None:
            images["after"] = thumbs.jpeg(thumbs.resized(thumbs.to_image(to_signed_unit(restored)), size))
        if source is not None and restored is not None:
            view, why_not = _null_space(row, source, restored, settings)
            images.update(_null_space_images(view, size) if view else {})
            notes += [why_not] if why_not else []
    if (pages := row.get(metadata.INPUT_PAGES) or 1) > 1:  # the reviewer should know what was left out
        notes.append(f"the scan holds {pages} images (pages or frames); image {page} was restored")
    if negative:
        notes.append("the scan is of a negative; it is shown, and was restored, as its positive")
    return {
        **fields,
        "invented": view.mean if view else None,
        "invented_area": view.invented_area if view else None,
        "thumbs": _write(row[metadata.ID], images, settings),
        "note": "; ".join(notes),
        "kept": "".join(kept),
    }


def _fields(index: int, row: dict) -> dict:
    m = metadata
    finished = row[m.FINISHED_AT]
    return {
        "index": index,
        "id": row[m.ID],
        "uri": row[m.SOURCE_URI] or "",
        "mask_uri": row.get(m.MASK_URI) or "",
        "file_page": row.get(m.INPUT_PAGE) or 1,  # which image of the file, and whether it was a negative: a re-run
        "negative": bool(row.get(m.INPUT_NEGATIVE)),  # of the rejected rows (decisions.js) must restore the same
        "op": row[m.OP] or "",
        "params": row[m.PARAMS] or "{}",
        "status": row[m.STATUS],
        "error_type": row[m.ERROR_TYPE] or "",
        "error_message": row[m.ERROR_MESSAGE] or "",
        "residual": _finite(row[m.CONSISTENCY_RESIDUAL]),
        "restore_s": _finite(row[m.RESTORE_S]),
        "samples": row.get(m.SAMPLES) or 1,  # parts written before the column have no value: one sample
        "uncertainty": _finite(row.get(m.UNCERTAINTY)),
        "sigma_y": _finite(row.get(m.SIGMA_Y)),  # DDNM+'s noise level: the run's, or this scan's estimate
        "colour_strength": _finite(row.get(m.COLOUR_STRENGTH)),  # colour rows: the factor on the prior's colour
        "guidance": row.get(m.GUIDANCE) or "",
        "input_size": _size(row[m.INPUT_WIDTH], row[m.INPUT_HEIGHT]),
        "output_size": _size(row[m.OUTPUT_WIDTH], row[m.OUTPUT_HEIGHT]),
        "output_uri": row[m.OUTPUT_URI] or "",
        "output_sha256": row[m.OUTPUT_SHA256] or "",
        "input_sha256": row[m.INPUT_SHA256] or "",
        "model": row[m.MODEL_NAME] or "",
        "seed": "" if row[m.SEED] is None else str(row[m.SEED]),  # 63-bit: beyond exact JS numbers
        "run_id": row[m.RUN_ID] or "",
        "finished_at": finished.isoformat() if isinstance(finished, datetime) else "",
        "extra": json.loads(row[m.EXTRA]) if row[m.EXTRA] else {},
        "format": ENTRY_FORMAT,
    }


def _finite(value: float | None) -> float | None:
    """``None`` for missing or non-finite numbers (the page's JSON has no NaN)."""
    return value if value is not None and math.isfinite(value) else None


def _size(width, height) -> str:
    return f"{width}x{height}" if width and height else ""


def _decoded(
    uri: str | None, sha256: str | None, what: str, settings: ReportSettings, notes: list, kept: list | None = None,
    page: int = 1, negative: bool = False,
) -> np.ndarray | None:
    """Decoded samples ``(C, H, W)`` of image ``page`` of ``uri`` (a ``negative``'s positive), or ``None`` with the
    reason added to ``notes``; with ``kept``, also what the file carries of its scan (:func:`kept_of_scan`), appended
    there."""
    if not uri:
        return None
    try:
        data = io.read_bytes(uri, settings.storage_options)
    except (OSError, ValueError) as exc:
        notes.append(f"cannot read the {what} {uri}: {exc}")
        return None
    if sha256 and io.sha256_hex(data) != sha256:
        notes.append(f"the {what} file changed since the run (sha256 differs from the ledger); not shown")
        return None
    try:
        decoded = decode_image(data, settings.max_pixels, page, negative)
    except RowError as exc:
        notes.append(f"cannot decode the {what}: {exc.message}")
        return None
    if kept is not None:
        kept.append(kept_of_scan(data, decoded))
    return decoded.samples


def kept_of_scan(image: bytes, decoded: Decoded) -> str:
    """What a restored PNG or TIFF kept of its scan, for the reviewer, from its decoding (``decoded``): bit depth,
    ICC profile, and the title, creator and rights it inherited (``pipeline.encode``), e.g. "16-bit gray; ICC
    profile; rights: CC0-1.0"."""
    if image[:8] == b"\x89PNG\r\n\x1a\n" and len(image) > 24:
        bits = image[24]  # IHDR's bit depth: a 16-bit colour PNG decodes at 8 where imagecodecs is not installed
    else:
        bits = 16 if decoded.samples.dtype == np.uint16 else 8
    grey = decoded.samples.shape[0] == 1
    parts = [f"{bits}-bit {'gray' if grey else 'colour'}"] + (["ICC profile"] if decoded.icc_profile else [])
    parts += [f"{field}: {decoded.inherited[field]}" for field in ("title", "creator", "rights")
              if decoded.inherited.get(field)]  # fmt: skip
    return "; ".join(parts)


def _null_space(row: dict, source: np.ndarray, restored: np.ndarray, settings: ReportSettings):
    """``(view, "")`` with the row's :class:`NullSpaceView`, or ``(None, why not)``."""
    op_name, mask_uri = row[metadata.OP], row.get(metadata.MASK_URI)
    if op_name in PLANS and PLANS[op_name].needs_mask and not mask_uri:
        return None, "no null-space map: the ledger has no mask_uri for this row (written before it was recorded)"
    try:
        mask = None
        if mask_uri:
            mask = decode_mask(io.read_bytes(mask_uri, settings.storage_options), source.shape[1:], settings.max_pixels)
        return null_space_view(op_name, row[metadata.PARAMS] or "{}", source, mask, restored), ""
    except Exception as exc:  # noqa: BLE001 - the entry goes without its map and says why
        return None, f"no null-space map: {exc.message if isinstance(exc, RowError) else exc}"


def _null_space_images(view: NullSpaceView, size: tuple[int, int]) -> dict[str, bytes]:
    """A⁺y (JPEG) and the departure heat map (PNG), both of thumbnail ``size``."""
    pinv = thumbs.resized(thumbs.to_image(view.pinv), size)
    return {"pinv": thumbs.jpeg(pinv), "heat": thumbs.png(thumbs.heat_map(view.departure, size))}


def _write(row_id: str, images: dict[str, bytes], settings: ReportSettings) -> dict[str, str]:
    paths = thumb_paths(row_id)
    for view, data in images.items():
        kind = "image/png" if paths[view].endswith(".png") else "image/jpeg"
        io.write_bytes_atomic(io.join(settings.report_uri, paths[view]), data, settings.storage_options, kind)
    return {view: paths[view] for view in VIEWS if view in images}
