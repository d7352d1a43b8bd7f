"""Poison rows: a row whose restore worker keeps dying ends as one ``WorkerCrashed`` error row; the run goes on.

Ray Data restarts a crashed restore actor and runs its batch again (``max_restarts=-1, max_task_retries=-1``), with
no limit: a row that kills its worker every time (out of memory, a crash in native code) would loop forever. So the
restore actors keep a journal, a small actor on the head node (:class:`CrashJournal`, one per run): before a
group of rows goes to the model the worker notes them in flight, afterwards it clears them. A batch that arrives with
rows still in flight has come back from a dead worker: each of those rows is charged one crash, and the batch is
restored row by row (every row alone), so the next crash names its row. A row charged
``settings.max_worker_crashes`` crashes, at least one of them while it was restored alone, becomes an error row
without being started again; its batch-mates are restored as usual.

A worker lost for another reason (a node removed, a pod evicted) only makes its rows restored alone once; a fixed
batch size (``JobSettings.fixed_batch``) keeps their bytes the same.

Test hook (tests/test_worker_crashes.py): ``DDNM_TEST_CRASH_ON_ID=ID`` makes the worker ``os._exit(1)`` when it
starts restoring row ID, every time; ``ID:K`` only while the row has fewer than K crashes (it then succeeds).
The driver forwards the variable to the restore actors; nothing reads it outside tests.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator

import numpy as np

from .restore_stage import RestoreStage
from .rows import STATUS_ERROR, STATUS_OK
from .settings import JobSettings

WORKER_CRASHED = "WorkerCrashed"
CRASH_ON_ID_ENV = "DDNM_TEST_CRASH_ON_ID"
JOURNAL_TIMEOUT_S = 60.0


class CrashJournal:
    """Which rows are in a model call now, and how often a worker died with each in flight (a Ray actor)."""

    def __init__(self) -> None:
        self._in_flight: dict[str, int] = {}  # id -> size of the group it is restored in
        self._crashes: Counter = Counter()
        self._alone: Counter = Counter()  # crashes while the row was restored alone

    def arrived(self, ids: list[str]) -> dict[str, tuple[int, int]]:
        """A batch arrives at a worker: rows still in flight were on a worker that died. ``{id: (crashes, alone)}``."""
        for row_id in ids:
            size = self._in_flight.pop(row_id, None)
            if size is not None:
                self._crashes[row_id] += 1
                self._alone[row_id] += size == 1
        return {row_id: (self._crashes[row_id], self._alone[row_id]) for row_id in ids}

    def started(self, ids: list[str]) -> None:
        for row_id in ids:
            self._in_flight[row_id] = len(ids)

    def finished(self, ids: list[str]) -> None:
        for row_id in ids:
            self._in_flight.pop(row_id, None)


HEAD_NODE = "node:__internal_head__"  # a resource only Ray's head node has


def start_journal():
    """A new journal actor on the head node, which outlives any worker node (no CPU reserved). Without a head (a
    cluster that does not name one), anywhere: restarted if its node goes, having forgotten its crash counts."""
    import ray

    head = {HEAD_NODE: 0.001} if ray.cluster_resources().get(HEAD_NODE) else {}
    return ray.remote(CrashJournal).options(num_cpus=0, resources=head, max_restarts=-1).remote()


def test_hook_env() -> dict[str, str]:
    """The crash test hook's variable, to forward to the restore actors (empty outside tests)."""
    value = os.environ.get(CRASH_ON_ID_ENV)
    return {CRASH_ON_ID_ENV: value} if value else {}


def is_poison(crashes: int, alone: int, limit: int) -> bool:
    """Given up: ``limit`` crashes, one at least with the row alone (so it, not a batch-mate, is the cause)."""
    return crashes >= limit and alone >= 1


class GuardedRestoreStage(RestoreStage):
    """:class:`pipeline.restore_stage.RestoreStage` that journals its rows and gives up on poison rows."""

    def __init__(self, settings: JobSettings, journal=None):
        super().__init__(settings)
        self.journal = journal
        self.worker = worker_name(self.worker)
        self._crashes: dict[str, tuple[int, int]] = {}

    def __call__(self, batch: dict[str, np.ndarray]) -> Iterator[dict[str, np.ndarray]]:
        """Ray Data's entry: the batch's rows in parts as they are done (``RestoreStage.restore_in_parts``)."""
        if self.journal is None:
            yield from self.restore_in_parts(batch)
            return
        ids = [str(i) for i in batch["id"]]
        self._crashes = self._note("arrived", ids) or {i: (0, 0) for i in ids}
        batch = self._give_up_on_poison(batch, ids)
        if not any(self._crashes[i][0] for i in ids):
            yield from self.restore_in_parts(batch)
            return
        for j in range(len(ids)):  # back from a dead worker: every row alone, so the next crash names its row
            yield from self.restore_in_parts({k: v[j : j + 1] for k, v in batch.items()})

    def _give_up_on_poison(self, batch: dict[str, np.ndarray], ids: list[str]) -> dict[str, np.ndarray]:
        limit = self.settings.max_worker_crashes
        poison = [j for j, i in enumerate(ids)
                  if batch["status"][j] == STATUS_OK and is_poison(*self._crashes[i], limit)]  # fmt: skip
        if not poison:
            return batch
        text = ("status", "error_type", "error_message")  # object columns: a fixed-width str column would truncate
        batch = {k: v.astype(object) if k in text else v for k, v in batch.items()}
        for j in poison:
            crashes, alone = self._crashes[ids[j]]
            batch["status"][j], batch["error_type"][j] = STATUS_ERROR, WORKER_CRASHED
            batch["error_message"][j] = (
                f"the restore worker died {crashes} times while restoring this row ({alone} with the row alone); "
                f"given up after --max-worker-crashes {limit} (out of memory, or a crash in native code?)"
            )
        return batch

    def _restore_group(self, rows: list[dict], indices: list[int]) -> None:
        if self.journal is None:
            return super()._restore_group(rows, indices)
        ids = [rows[i]["id"] for i in indices]
        self._note("started", ids)  # noted before the model runs: a crash now is charged to them
        _crash_if_asked(ids, self._crashes)
        super()._restore_group(rows, indices)
        self._note("finished", ids)

    def _note(self, method: str, ids: list[str]):
        """Call the journal; a journal that cannot be reached (its node just went) costs the guard, not the rows."""
        import ray

        try:
            return ray.get(getattr(self.journal, method).remote(ids), timeout=JOURNAL_TIMEOUT_S)
        except (ray.exceptions.RayError, TimeoutError):
            return None


def worker_name(host_pid: str) -> str:
    """``host:pid@node`` (the Ray node id's first 8 characters) for the ``worker`` column."""
    try:
        import ray

        node = ray.get_runtime_context().get_node_id() if ray.is_initialized() else ""
    except Exception:  # noqa: BLE001 - only a label
        node = ""
    return f"{host_pid}@{node[:8]}" if node else host_pid


def _crash_if_asked(ids: list[str], crashes: dict[str, tuple[int, int]]) -> None:
    """The test hook (module docstring): die like an out-of-memory kill when starting the named row."""
    value = os.environ.get(CRASH_ON_ID_ENV)
    if not value:
        return
    row_id, _, times = value.partition(":")
    if row_id in ids and (not times or crashes.get(row_id, (0, 0))[0] < int(times)):
        os._exit(1)
