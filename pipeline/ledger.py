"""Resume: which manifest rows a previous run already restored, so a re-run skips them.

The key is what the output depends on, not the id alone. A row is skipped when its latest ``ok``
metadata row under ``OUT/metadata/`` has the same settings fingerprint (``settings_sha256``:
:mod:`pipeline.fingerprint`), its input and mask bytes are unchanged (``input_sha256``,
``mask_sha256``) *and* its output file still exists. The settings and the file's presence are checked
on the driver; the bytes where they are read anyway, in the decode tasks (:func:`pipeline.decode.decode_row`
marks such a row ``skipped``, and nothing is written for it). Everything else is restored again and
its new row added: the ledger keeps every attempt, readers keep the latest per id.

Rows written before the fingerprint existed (null ``settings_sha256``/``mask_sha256``) are kept when
their input bytes are unchanged. Outputs are written before their metadata row, so a run killed in
between leaves an output without a row: that row is simply redone (same seed, same bytes). Error rows
are retried on every re-run.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import io, metadata
from .fingerprint import row_fingerprint
from .manifest import ManifestRow
from .rows import ANY_MASK, STATUS_OK


@dataclass(frozen=True, slots=True)
class Previous:
    """The latest ``ok`` restoration of an id whose output is still present."""

    output_uri: str
    input_sha256: str | None
    mask_sha256: str | None
    settings_sha256: str | None


def previous_restorations(out_uri: str, storage_options: dict | None = None) -> dict[str, Previous]:
    """``{id: Previous}`` of rows restored by earlier runs whose output is still there."""
    columns = [metadata.ID, metadata.STATUS, metadata.OUTPUT_URI, metadata.INPUT_SHA256, metadata.MASK_SHA256,
               metadata.SETTINGS_SHA256]  # fmt: skip
    latest = metadata.latest_rows(metadata.read_all(out_uri, storage_options, columns=columns))
    present = {io.normalize(u) for u in io.list_files(io.images_dir(out_uri), storage_options)}
    found = {}
    for row in latest.to_pylist():
        uri = row[metadata.OUTPUT_URI]
        if row[metadata.STATUS] == STATUS_OK and uri and io.normalize(uri) in present:
            found[row[metadata.ID]] = Previous(uri, row[metadata.INPUT_SHA256], row[metadata.MASK_SHA256],
                                               row[metadata.SETTINGS_SHA256])  # fmt: skip
    return found


def finished_ids(out_uri: str, storage_options: dict | None = None) -> dict[str, str]:
    """``{id: output_uri}`` of rows restored before whose output is still there (by id: ``ddnm-batch scan``)."""
    return {row_id: p.output_uri for row_id, p in previous_restorations(out_uri, storage_options).items()}


def work_items(rows: list[ManifestRow], previous: dict[str, Previous], job_fingerprint: str,
               op_keys: dict[str, str] | None = None) -> list[dict]:  # fmt: skip
    """The graph's input rows, in manifest order; a row restored before with the same settings carries the
    hashes its bytes must still have to be skipped (``resume_input_sha256``, ``resume_mask_sha256``).
    ``job_fingerprint`` and ``op_keys`` are ``pipeline.fingerprint``'s job key and per-operator keys."""
    items = []
    for row in rows:
        item = {**row.to_item(), "resume_input_sha256": "", "resume_mask_sha256": ""}
        before = previous.get(row.id)
        settings = row_fingerprint(job_fingerprint, row, op_keys)
        if before is not None and before.input_sha256 and before.settings_sha256 in (None, settings):
            mask = ANY_MASK if before.mask_sha256 is None else before.mask_sha256
            item.update(resume_input_sha256=before.input_sha256, resume_mask_sha256=mask)
        items.append(item)
    return items
