"""The report's summary: row counts, errors by type, runs and their throughput, models, versions.

Counts are over the latest row per id (what the archive would publish); runs and throughput are
over every row each run wrote (all attempts), since a run's speed includes its failed rows.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import pyarrow as pa

from .. import metadata
from ..rows import STATUS_ERROR, STATUS_OK, STATUS_SKIPPED


@dataclass(frozen=True, slots=True)
class RunStats:
    run_id: str
    rows: int
    ok: int
    errors: int
    started_at: str  # ISO UTC
    finished_at: str
    wall_s: float  # first start to last finish of the rows this run wrote
    restore_s_mean: float | None  # model time per restored image

    @property
    def images_per_s(self) -> float | None:
        return self.rows / self.wall_s if self.wall_s > 0 else None


@dataclass(frozen=True, slots=True)
class Summary:
    rows: int
    ok: int
    errors: int
    skipped: int
    errors_by_type: dict  # error type -> count, most frequent first
    runs: tuple  # RunStats, oldest first
    models: dict  # (model name, weights sha256) -> restored rows
    software_versions: dict  # version -> rows
    residual_max: float | None  # worst consistency residual among restored rows


def summarize(latest: pa.Table, every: pa.Table) -> Summary:
    """``latest``: one row per id (:func:`metadata.latest_rows`); ``every``: all rows ever written."""
    rows = latest.to_pylist()
    statuses = Counter(r[metadata.STATUS] for r in rows)
    errors = Counter(r[metadata.ERROR_TYPE] or "unknown" for r in rows if r[metadata.STATUS] == STATUS_ERROR)
    done = [r for r in rows if r[metadata.STATUS] == STATUS_OK]
    residuals = [r[metadata.CONSISTENCY_RESIDUAL] for r in done if r[metadata.CONSISTENCY_RESIDUAL] is not None]
    return Summary(
        rows=len(rows),
        ok=statuses[STATUS_OK],
        errors=statuses[STATUS_ERROR],
        skipped=statuses[STATUS_SKIPPED],
        errors_by_type=dict(errors.most_common()),
        runs=run_stats(every.to_pylist()),
        models=dict(Counter((r[metadata.MODEL_NAME], r[metadata.WEIGHTS_SHA256]) for r in done).most_common()),
        software_versions=dict(Counter(r[metadata.SOFTWARE_VERSION] or "unknown" for r in rows).most_common()),
        residual_max=max(residuals) if residuals else None,
    )


def run_stats(rows: list[dict]) -> tuple[RunStats, ...]:
    """One :class:`RunStats` per run id, ordered by run id (which sorts by start time)."""
    by_run: dict[str, list[dict]] = {}
    for row in rows:
        by_run.setdefault(row[metadata.RUN_ID] or "unknown", []).append(row)
    return tuple(_one_run(run_id, by_run[run_id]) for run_id in sorted(by_run))


def _one_run(run_id: str, rows: list[dict]) -> RunStats:
    starts = [r[metadata.STARTED_AT] for r in rows if r[metadata.STARTED_AT] is not None]
    ends = [r[metadata.FINISHED_AT] for r in rows if r[metadata.FINISHED_AT] is not None]
    ok = [r for r in rows if r[metadata.STATUS] == STATUS_OK]
    restore = [r[metadata.RESTORE_S] for r in ok if r[metadata.RESTORE_S] is not None]
    first, last = (min(starts), max(ends)) if starts and ends else (None, None)
    return RunStats(
        run_id=run_id,
        rows=len(rows),
        ok=len(ok),
        errors=sum(r[metadata.STATUS] == STATUS_ERROR for r in rows),
        started_at=first.isoformat(timespec="seconds") if first else "",
        finished_at=last.isoformat(timespec="seconds") if last else "",
        wall_s=(last - first).total_seconds() if first else 0.0,
        restore_s_mean=sum(restore) / len(restore) if restore else None,
    )
