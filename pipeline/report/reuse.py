"""Reuse the previous build's entries for rows that did not change, so that rebuilding the report
after a resumed run (``ddnm-batch run`` builds it every time) makes thumbnails only for new rows.

An entry is reused when the row's identity and content hashes match, its thumbnails are all still
there, it carries no note (a note may record a passing read failure) and it was made by this
version of the entry format.
"""

from __future__ import annotations

import json
import re

from .. import io
from .settings import ReportSettings

# Bump when thumbnails or entry fields change, so old entries are rebuilt.
ENTRY_FORMAT = 3  # 2: samples, uncertainty and guidance; 3: what the output kept of its scan
MATCH_KEYS = ("id", "status", "uri", "mask_uri", "op", "params", "input_sha256", "output_sha256", "format")
_CONFIG = re.compile(r'<script id="report-config" type="application/json">(.*?)</script>', re.S)


def previous_entries(settings: ReportSettings, add_rows: str) -> dict[str, dict]:
    """``{id: entry}`` from the data files the current ``index.html`` lists; empty if none."""
    options = settings.storage_options
    try:
        found = _CONFIG.search(io.read_bytes(settings.index_uri, options).decode("utf-8"))
        chunks = json.loads(found.group(1))["chunks"] if found else []
        present = {uri.rsplit("/", 1)[-1] for uri in io.list_files(io.join(settings.report_uri, "thumbs"), options)}
        entries = {}
        for chunk in chunks:
            text = io.read_bytes(io.join(settings.report_uri, chunk), options).decode("ascii")
            rows = json.loads(text[len(add_rows) + 1 : text.rindex(")")])
            entries.update({e["id"]: e for e in rows if _thumbs_present(e, present)})
        return entries
    except (OSError, ValueError, KeyError):  # no report yet, or one we cannot read: build from scratch
        return {}


def _thumbs_present(entry: dict, present: set[str]) -> bool:
    return all(path.rsplit("/", 1)[-1] in present for path in entry.get("thumbs", {}).values())


def reusable(previous: dict | None, fields: dict) -> bool:
    """Whether ``previous`` still describes the row whose fresh ledger fields are ``fields``."""
    return (
        previous is not None
        and not previous.get("note")
        and all(previous.get(key) == fields.get(key) for key in MATCH_KEYS)
    )
