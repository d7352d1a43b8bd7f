"""Resume: which manifest rows a previous run already finished, so a re-run skips them.

A row counts as finished when its latest metadata row under ``OUT/metadata/`` has status ``ok``
*and* its output file still exists. Outputs are written before their metadata row, so a run
killed in between leaves an output without a row: that row is simply redone (same seed, same
bytes). Error rows are retried on every re-run.
"""

from __future__ import annotations

from . import io, metadata
from .manifest import ManifestRow
from .rows import STATUS_OK


def finished_ids(out_uri: str, storage_options: dict | None = None) -> dict[str, str]:
    """``{id: output_uri}`` of rows finished by earlier runs whose output is still there."""
    columns = [metadata.ID, metadata.STATUS, metadata.OUTPUT_URI]
    latest = metadata.latest_rows(metadata.read_all(out_uri, storage_options, columns=columns))
    present = {io.normalize(u) for u in io.list_files(io.images_dir(out_uri), storage_options)}
    finished = {}
    for row in latest.to_pylist():
        uri = row[metadata.OUTPUT_URI]
        if row[metadata.STATUS] == STATUS_OK and uri and io.normalize(uri) in present:
            finished[row[metadata.ID]] = uri
    return finished


def split_finished(rows: list[ManifestRow], finished: dict[str, str]) -> tuple[list[ManifestRow], list[ManifestRow]]:
    """``(to_do, skipped)``, both in manifest order."""
    to_do = [r for r in rows if r.id not in finished]
    skipped = [r for r in rows if r.id in finished]
    return to_do, skipped
