"""The driver's end of the graph: buffer metadata rows, write Parquet parts, count, report progress.

Rows are flushed as one part file every ``FLUSH_ROWS`` rows or ``FLUSH_SECONDS`` seconds, and
on exit (also on failure), so a killed job loses at most that much bookkeeping; the ledger
then redoes those rows, whose outputs are rewritten byte for byte.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from . import metadata
from .rows import STATUS_OK, to_rows
from .settings import JobSettings, guidance_params_json

FLUSH_ROWS = 256
FLUSH_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class Progress:
    """What the CLI's progress bar shows. ``done`` counts rows finished in this run."""

    done: int
    to_do: int
    ok: int
    errors: int
    skipped: int
    elapsed_s: float


class MetadataSink:
    def __init__(
        self,
        settings: JobSettings,
        run_id: str,
        total: int,
        skipped: int,
        on_progress: Callable[[Progress], None] | None = None,
    ):
        self.settings, self.run_id, self.on_progress = settings, run_id, on_progress
        self.to_do, self.skipped = total - skipped, skipped
        self.ok = self.errors = 0
        self.errors_by_type: Counter = Counter()
        self.parts: list[str] = []
        self._buffer: list[dict] = []
        self._started = self._last_flush = time.time()
        self._constants = {
            metadata.SOFTWARE_VERSION: metadata.software_version(),
            metadata.SIGMA_Y: settings.sigma_y,
            metadata.GUIDANCE: settings.guidance,
            metadata.GUIDANCE_PARAMS: guidance_params_json(settings),
            metadata.RUN_ID: run_id,
            metadata.PREMIS_EVENT_COLUMN: metadata.PREMIS_EVENT,
            metadata.DIGITAL_SOURCE_TYPE_COLUMN: metadata.DIGITAL_SOURCE_TYPE,
        }
        self._report()

    def __enter__(self) -> MetadataSink:
        return self

    def __exit__(self, *exc_info) -> None:
        self.flush()

    def add(self, batch: dict[str, np.ndarray]) -> None:
        rows = [{**row, **self._constants} for row in to_rows(batch)]
        for row in rows:
            if row["status"] == STATUS_OK:
                self.ok += 1
            else:
                self.errors += 1
                self.errors_by_type[row["error_type"] or "unknown"] += 1
        self._buffer += rows
        if len(self._buffer) >= FLUSH_ROWS or time.time() - self._last_flush >= FLUSH_SECONDS:
            self.flush()
        self._report()

    def flush(self) -> None:
        self._last_flush = time.time()
        if not self._buffer:
            return
        table = metadata.table_from_rows(self._buffer)
        options = self.settings.storage_options
        part = metadata.write_part(table, self.settings.out_uri, self.run_id, len(self.parts), options)
        self.parts.append(part)
        self._buffer = []

    def _report(self) -> None:
        if self.on_progress is not None:
            elapsed = time.time() - self._started
            self.on_progress(Progress(self.ok + self.errors, self.to_do, self.ok, self.errors, self.skipped, elapsed))
