"""Merge the ledger's many part files into one that reads the same (``ddnm-batch compact OUT``).

The sink writes a part every 256 rows or 30 seconds, so a nightly job adds parts every night and a long CPU run
hundreds at once; every resume check, ``scan --ledger`` and report reads them all, one object-store request each.
Compaction writes their rows, in their order, as one part and then deletes them. It is safe to stop at any point:

- the merged part is named after the last part it holds, ``part-<run_id>-<n>.compact.parquet``, so it sorts where
  its rows were (``metadata.latest_rows`` takes table order as time order) and before any part written later;
- its footer lists the parts it holds, and readers skip those (``metadata.read_parts``), so a compaction cut short
  after writing it and before deleting them reads the same; the next compaction deletes what is left;
- a job writing to OUT meanwhile only adds parts the merged one does not list. They sort against it by run, as
  before; a later part of a run whose earlier parts it holds sorts before them now, which changes no reader's
  answer: a run records each id once, and ``latest_rows`` takes an id's ``ok`` row over its error rows anyway.

Two compactions of one OUT at once are refused where they can be seen (a merged part that appeared meanwhile).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pyarrow as pa

from . import io, metadata

MANY_PARTS = 100  # a ledger this many parts long is worth merging: the run's summary says so, scheduled jobs do it


class CompactionConflict(RuntimeError):
    """Another compaction wrote to the ledger while this one read it."""


@dataclass(frozen=True, slots=True)
class Compacted:
    parts: int  # part files the ledger had (all now read through ``uri``)
    rows: int  # rows merged (every attempt of every id)
    uri: str | None  # the merged part; None when there was nothing to merge
    left: int  # merged parts a delete failed for: harmless (readers skip them), the next compaction retries


def compact(out_uri: str, storage_options: dict | None = None, min_parts: int = 2) -> Compacted:
    """Merge the ledger of ``out_uri`` into one part when it has at least ``min_parts`` parts."""
    parts = metadata.part_uris(out_uri, storage_options)
    if len(parts) < max(min_parts, 2):
        return Compacted(len(parts), 0, None, 0)
    table = metadata.read_parts(parts, storage_options)
    target = io.join(metadata.metadata_dir(out_uri), merged_name(parts[-1]))
    names = sorted({metadata.part_name(u) for u in parts} - {metadata.part_name(target)})
    appeared = {u for u in metadata.part_uris(out_uri, storage_options) if metadata.is_compacted(u)} - set(parts)
    if appeared:
        raise CompactionConflict(f"another compaction wrote {metadata.part_name(min(appeared))} meanwhile; "
                                 "nothing was changed")
    schema = table.schema.with_metadata({metadata.REPLACES_KEY: json.dumps(names).encode("utf-8")})
    io.write_bytes_atomic(target, metadata.parquet_bytes(pa.Table.from_batches(table.to_batches(), schema)),
                          storage_options)  # fmt: skip
    # A part that cannot be deleted is harmless: the merged part's footer replaces it, and the next compaction retries.
    left = io.remove_many([u for u in parts if metadata.part_name(u) != metadata.part_name(target)], storage_options)
    return Compacted(len(parts), table.num_rows, target, left)


def merged_name(last_part: str) -> str:
    """``part-<run_id>-<n>.compact.parquet`` for the last part merged (itself, if that is a merged part)."""
    name = metadata.part_name(last_part)
    stem = name[: -len(metadata.COMPACTED_SUFFIX)] if metadata.is_compacted(name) else name[: -len(".parquet")]
    return stem + metadata.COMPACTED_SUFFIX

