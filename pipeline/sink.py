"""The driver's end of the graph: buffer metadata rows, write Parquet parts, count, report progress.

What finished is recorded whatever happens after. Rows are flushed as one part file every
``FLUSH_ROWS`` rows, and a background timer flushes rows older than ``FLUSH_SECONDS`` even while no
batch arrives (a slow batch cannot hold finished rows back); :meth:`MetadataSink.close` flushes the rest
(the run calls it on success, failure, SIGINT and SIGTERM). A SIGKILL loses at most that much
bookkeeping; the ledger then redoes those rows, whose outputs are rewritten byte for byte.

If OUT stops taking writes (a part cannot be written after the storage retries in :mod:`pipeline.io`,
or a row's image could not be written and a probe of OUT fails too), the sink raises
:class:`OutputUnwritable`: the run stops new work and :meth:`write_fallback` saves every row not yet in
OUT as a Parquet part in a local folder, ready to be copied into ``OUT/metadata/``.
"""

from __future__ import annotations

import math
import os
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from . import metadata, preflight
from .fingerprint import row_fingerprint
from .rows import OUTPUT_WRITE_FAILED, ROW_COLUMNS, STATUS_ERROR, STATUS_OK, STATUS_SKIPPED, from_rows, to_rows
from .settings import JobSettings, guidance_params_json

FLUSH_ROWS = 256
FLUSH_SECONDS = 30.0
FALLBACK_ENV = "DDNM_FALLBACK_DIR"  # where the ledger goes when OUT cannot take it (default: cwd, then tmp)
BLOCK_FAILED = "BlockFailed"  # error_type of a row whose Ray Data block failed for good (pipeline.run)


@dataclass(frozen=True, slots=True)
class Progress:
    """What the CLI's progress bar shows. ``done`` counts rows finished in this run."""

    done: int
    to_do: int
    ok: int
    errors: int
    skipped: int
    elapsed_s: float


EXIT_OUTPUT_LOST = 3  # the run's exit status when OUT stopped taking writes (README: exit codes)


class OutputUnwritable(RuntimeError):
    """OUT stopped taking writes mid-run; ``fallback`` is the local file holding the ``rows`` not in OUT."""

    def __init__(self, out_uri: str, reason: str):
        super().__init__(f"{out_uri} became unwritable: {reason}")
        self.out_uri, self.reason = out_uri, reason
        self.fallback, self.rows = "", 0

    def describe(self) -> str:
        """One line: what happened and where the finished rows are."""
        where = (f"{self.rows} finished row(s) not yet in OUT are in {self.fallback}: copy that file into "
                 f"{self.out_uri}/metadata/ once it is writable, then re-run to resume") if self.fallback else (
                 "the fallback ledger could not be written either (set DDNM_FALLBACK_DIR to a writable folder)")
        return f"{self}; stopped new work; {where}"


class MetadataSink:
    def __init__(
        self,
        settings: JobSettings,
        run_id: str,
        total: int,
        skipped: int,
        on_progress: Callable[[Progress], None] | None = None,
        job_fingerprint: str = "",
        op_keys: dict[str, str] | None = None,
    ):
        self.settings, self.run_id, self.on_progress = settings, run_id, on_progress
        self.job_fingerprint, self.op_keys = job_fingerprint, op_keys
        self.to_do, self.skipped = total - skipped, skipped
        self.ok = self.errors = 0
        self.errors_by_type: Counter = Counter()
        self.parts: list[str] = []
        self.recorded = 0  # rows of this run now in OUT/metadata
        self.seen: set[str] = set()  # ids of the rows that came back from the graph
        self.failure: OutputUnwritable | None = None
        self._buffer: list[dict] = []
        self._oldest = 0.0  # when the oldest buffered row arrived
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._timer: threading.Thread | None = None
        self._started = time.time()
        self._constants = {
            metadata.SOFTWARE_VERSION: metadata.software_version(),
            metadata.SIGMA_Y: settings.restore.sampler.sigma_y,
            metadata.GUIDANCE: settings.restore.sampler.guidance,
            metadata.GUIDANCE_PARAMS: guidance_params_json(settings),
            metadata.CONVENTION: settings.restore.sampler.convention,
            metadata.RUN_ID: run_id,
            metadata.PREMIS_EVENT_COLUMN: metadata.PREMIS_EVENT,
            metadata.DIGITAL_SOURCE_TYPE_COLUMN: metadata.DIGITAL_SOURCE_TYPE,
        }
        self._report()

    def __enter__(self) -> MetadataSink:
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def start(self) -> None:
        """Start the timer that flushes rows older than ``FLUSH_SECONDS``."""
        self._timer = threading.Thread(target=self._flush_when_old, name="ddnm-ledger-flush", daemon=True)
        self._timer.start()

    def close(self) -> None:
        """Stop the timer and flush what is left; raises :class:`OutputUnwritable` if OUT is gone."""
        self._stop.set()
        if self._timer is not None:
            self._timer.join()
        self.flush()

    def add(self, batch: dict[str, np.ndarray]) -> None:
        """Count and buffer a batch of finished rows; raises :class:`OutputUnwritable` once OUT is gone."""
        self._raise_if_failed()
        with self._lock:
            # Delivery is at least once: a restore worker that dies after handing on part of its batch gets the whole
            # batch again (pipeline.batch_plan); the first arrival of a row is kept, a repeat (same bytes) dropped.
            rows = [self._complete(row) for row in to_rows(batch) if row["id"] not in self.seen]
            self.seen.update(row["id"] for row in rows)
            kept = [row for row in rows if row["status"] != STATUS_SKIPPED]
            for row in rows:
                if row["status"] == STATUS_SKIPPED:
                    self.skipped, self.to_do = self.skipped + 1, self.to_do - 1
                elif row["status"] == STATUS_OK:
                    self.ok += 1
                else:
                    self.errors += 1
                    self.errors_by_type[row["error_type"] or "unknown"] += 1
            if kept and not self._buffer:
                self._oldest = time.time()
            self._buffer += kept
        self._report()
        if any(row.get("error_type") == OUTPUT_WRITE_FAILED for row in kept):
            self._check_output()
        if len(self._buffer) >= FLUSH_ROWS or (self._buffer and time.time() - self._oldest >= FLUSH_SECONDS):
            self.flush()

    def missing(self, items: list[dict]) -> list[dict]:
        """The work items that have not come back from the graph."""
        with self._lock:
            return [item for item in items if item["id"] not in self.seen]

    def record_lost(self, items: list[dict]) -> None:
        """After the graph: every work item that never came back (its block failed for good) becomes an error row,
        so it is counted, recorded and retried by the next run like any failed row."""
        lost = self.missing(items)
        if not lost:
            return
        message = "its Ray Data block failed after Ray's retries (the traceback is in Ray's log); re-run to retry it"
        rows = [{"id": item["id"], "source_uri": item["uri"], "mask_uri": item["mask_uri"], "op": item["op"],
                 "params": item["params"], "extra": item["extra"], "file_page": item.get("file_page", 0),
                 "negative": item.get("negative", False),
                 "status": STATUS_ERROR, "error_type": BLOCK_FAILED,
                 "error_message": message} for item in lost]  # fmt: skip
        self.add(from_rows(rows, ROW_COLUMNS))

    def flush(self) -> None:
        """Write the buffered rows as one part; on failure keep them and raise :class:`OutputUnwritable`."""
        with self._lock:
            self._raise_if_failed()
            if not self._buffer:
                return
            table = metadata.table_from_rows(self._buffer)
            options = self.settings.storage_options
            try:
                part = metadata.write_part(table, self.settings.out_uri, self.run_id, len(self.parts), options)
            except Exception as exc:  # noqa: BLE001 - io retried transient errors already: OUT is gone
                self._fail(preflight.why(exc))
            self.parts.append(part)
            self.recorded += len(self._buffer)
            self._buffer = []

    def write_fallback(self) -> str:
        """Write every row not in OUT to ``part-<run_id>-fallback.parquet`` in a local folder; its path.

        Folder: ``$DDNM_FALLBACK_DIR``, else the current directory, else the system's temp folder.
        """
        with self._lock:
            table = metadata.table_from_rows(self._buffer)
        name = f"part-{self.run_id}-fallback.parquet"
        candidates = [os.environ.get(FALLBACK_ENV), os.getcwd(), tempfile.gettempdir()]
        last_error: Exception | None = None
        for folder in filter(None, candidates):
            path = os.path.join(os.path.abspath(folder), name)
            try:
                metadata.write_table_file(table, path)
                return path
            except OSError as exc:
                last_error = exc
        raise OSError(f"could not write the fallback ledger anywhere ({last_error})")

    @property
    def unrecorded(self) -> int:
        return len(self._buffer)

    def _complete(self, row: dict) -> dict:
        settings = row_fingerprint(self.job_fingerprint, row, self.op_keys) if self.job_fingerprint else ""
        completed = {**row, **self._constants, metadata.SETTINGS_SHA256: settings}
        if (own := row.get(metadata.SIGMA_Y)) is not None and not math.isnan(own):  # estimated for this image
            completed[metadata.SIGMA_Y] = own
        return completed

    def _check_output(self) -> None:
        """A row's image could not be written: is OUT itself gone, or was it that one file?"""
        problem = preflight.output_problem(self.settings.out_uri, self.settings.storage_options)
        if problem is not None:
            self._fail(problem)

    def _fail(self, reason: str) -> None:
        with self._lock:
            if self.failure is None:
                self.failure = OutputUnwritable(self.settings.out_uri, reason)
            raise self.failure

    def _raise_if_failed(self) -> None:
        if self.failure is not None:
            raise self.failure

    def _flush_when_old(self) -> None:
        while not self._stop.wait(min(1.0, FLUSH_SECONDS)):
            if self._buffer and self.failure is None and time.time() - self._oldest >= FLUSH_SECONDS:
                try:
                    self.flush()
                except OutputUnwritable:
                    return  # add() and close() raise it in the run's own thread

    def _report(self) -> None:
        if self.on_progress is not None:
            elapsed = time.time() - self._started
            self.on_progress(Progress(self.ok + self.errors, self.to_do, self.ok, self.errors, self.skipped, elapsed))
