"""``build_report(settings)``: read a run's ledger, make thumbnails, write ``OUT/report/``.

Layout (relative links only, so the folder works from ``file://`` and from a static bucket)::

    OUT/report/index.html          summary + table + detail view (CSS and scripts inlined)
    OUT/report/data/rows-NNNNN.js  the rows, ``settings.chunk_rows`` per file, loaded in order
    OUT/report/thumbs/             ≤ 256 px before / after / A⁺y JPEGs and null-space PNGs

Thumbnails are made in a thread pool (decoding, resizing and the A⁺y operators release the GIL
for most of their time); rows unchanged since the last build keep theirs (:mod:`.reuse`).
``index.html`` is written last, so it never links to missing files.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone

from .. import io, metadata
from . import page
from .entries import make_entry
from .reuse import previous_entries, reusable
from .settings import ReportSettings
from .summary import Summary, summarize

DATA = "data"
# The page's data files call this function with their rows (see static/table.js).
ADD_ROWS = "ddnmReportAddRows"


@dataclass(frozen=True, slots=True)
class ReportResult:
    index_uri: str
    rows: int
    thumbnails: int
    reused: int  # entries (and thumbnails) kept from the previous build
    summary: Summary


def build_report(settings: ReportSettings) -> ReportResult:
    """Write the review report of the run under ``settings.out_uri``; returns where it is."""
    every = metadata.read_all(settings.out_uri, settings.storage_options)
    if len(every) == 0:
        raise ValueError(
            f"no metadata under {metadata.metadata_dir(settings.out_uri)}; "
            "give the --out folder of a ddnm-batch run (it holds metadata/part-*.parquet)"
        )
    latest = metadata.latest_rows(every)
    previous = previous_entries(settings, ADD_ROWS)

    def entry(index: int, row: dict) -> dict:
        return make_entry(index, row, settings, previous.get(row[metadata.ID]))

    with ThreadPoolExecutor(max_workers=settings.workers, thread_name_prefix="report") as pool:
        entries = list(pool.map(entry, range(len(latest)), latest.to_pylist()))
    chunks = _write_chunks(entries, settings)
    summary = summarize(latest, every)
    ops = sorted({e["op"] for e in entries if e["op"]})
    generated = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    html = page.render(settings.out_uri, summary, chunks, ops, generated)
    page_bytes = html.encode("utf-8")
    io.write_bytes_atomic(settings.index_uri, page_bytes, settings.storage_options, "text/html; charset=utf-8")
    return ReportResult(
        index_uri=settings.index_uri,
        rows=len(entries),
        thumbnails=sum(len(e["thumbs"]) for e in entries),
        reused=sum(reusable(previous.get(e["id"]), e) for e in entries),
        summary=summary,
    )


def chunk_name(number: int) -> str:
    return f"{DATA}/rows-{number:05d}.js"


def _write_chunks(entries: list[dict], settings: ReportSettings) -> list[str]:
    """Data files of ``chunk_rows`` entries each; returns their paths relative to ``report/``."""
    names = []
    for number, start in enumerate(range(0, len(entries), settings.chunk_rows)):
        name = chunk_name(number)
        # ASCII-only JSON is valid JavaScript (no raw U+2028/U+2029 line separators).
        body = json.dumps(entries[start : start + settings.chunk_rows], ensure_ascii=True, allow_nan=False)
        script = f"{ADD_ROWS}({body});\n".encode("ascii")
        io.write_bytes_atomic(io.join(settings.report_uri, name), script, settings.storage_options, "text/javascript")
        names.append(name)
    return names
