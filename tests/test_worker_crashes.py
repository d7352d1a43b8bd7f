"""Poison rows on a real local Ray: a row that kills its restore worker every time ends as one WorkerCrashed error
row and the run goes on; a row that kills it once is restored.

The crash is real: the test hook ``DDNM_TEST_CRASH_ON_ID=ID[:K]`` (pipeline/worker_crashes.py) makes the restore
actor's process ``os._exit(1)`` when it starts restoring row ID (every time, or while the row has fewer than K
crashes), as an out-of-memory kill or a crash in native code would; the driver forwards the variable to the actors.
"""

from __future__ import annotations

import pytest
from pipeline_helpers import TEST_MAX_PIXELS, grey_photo, write_files, write_manifest

from pipeline import io, metadata
from pipeline.run import run_job
from pipeline.settings import JobSettings
from pipeline.worker_crashes import CRASH_ON_ID_ENV, WORKER_CRASHED, CrashJournal, is_poison

IDS = ("scan0", "scan1", "scan2")


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    folder = tmp_path_factory.mktemp("poison")
    write_files(folder, {f"{i}.png": grey_photo(200 + n) for n, i in enumerate(IDS)})
    write_manifest(folder / "m.csv", [{"id": i, "uri": f"{i}.png"} for i in IDS])
    return folder


def job(folder, out: str, model: str) -> JobSettings:
    return JobSettings.of(manifest_uri=str(folder / "m.csv"), out_uri=str(folder / out), op="colorize", model=model,
                       steps=2, batch_size=3, device="cpu", max_pixels=TEST_MAX_PIXELS,
                       max_worker_crashes=3)  # fmt: skip


def latest(out) -> dict[str, dict]:
    return {r["id"]: r for r in metadata.latest_rows(metadata.read_all(str(out))).to_pylist()}


def test_journal_charges_in_flight_rows_and_names_the_culprit_once_alone():
    journal = CrashJournal()
    assert journal.arrived(list(IDS)) == {i: (0, 0) for i in IDS}
    journal.started(list(IDS))  # the whole batch in one model call: the worker dies
    assert journal.arrived(list(IDS)) == {i: (1, 0) for i in IDS}  # all suspects, none proven
    for row_id in ("scan0", "scan1"):  # now row by row: scan0 finishes, scan1 kills the worker
        journal.started([row_id])
        if row_id == "scan0":
            journal.finished([row_id])
    assert journal.arrived(list(IDS)) == {"scan0": (1, 0), "scan1": (2, 1), "scan2": (1, 0)}
    assert not is_poison(1, 0, limit=1)  # a batch-mate of a crash is never given up without a crash of its own
    assert is_poison(2, 1, limit=2) and not is_poison(2, 1, limit=3)


def test_a_row_that_kills_its_worker_every_time_is_one_error_row_and_the_rest_is_restored(
        tiny_model_path, ray_local, archive, monkeypatch):  # fmt: skip
    monkeypatch.setenv(CRASH_ON_ID_ENV, "scan1")
    summary = run_job(job(archive, "out-poison", tiny_model_path))
    assert (summary.ok, summary.errors, dict(summary.errors_by_type)) == (2, 1, {WORKER_CRASHED: 1})
    rows = metadata.read_all(str(archive / "out-poison")).to_pylist()
    assert sorted(r["id"] for r in rows) == sorted(IDS), "each row recorded exactly once"
    poison = latest(archive / "out-poison")["scan1"]
    assert (poison["status"], poison["error_type"]) == ("error", WORKER_CRASHED)
    assert "died 3 times" in poison["error_message"] and "--max-worker-crashes 3" in poison["error_message"]
    assert all(latest(archive / "out-poison")[i]["status"] == "ok" for i in ("scan0", "scan2"))

    again = run_job(job(archive, "out-poison", tiny_model_path))  # ends, does not loop: the ok rows are kept
    assert (again.ok, again.errors, again.skipped) == (0, 1, 2)


def test_a_row_that_kills_its_worker_once_is_restored_with_the_same_bytes(
        tiny_model_path, ray_local, archive, monkeypatch):  # fmt: skip
    monkeypatch.setenv(CRASH_ON_ID_ENV, "scan1:1")
    summary = run_job(job(archive, "out-once", tiny_model_path))
    assert (summary.ok, summary.errors) == (3, 0)
    once = latest(archive / "out-once")
    assert "@" in once["scan1"]["worker"], "worker is host:pid@node"
    monkeypatch.delenv(CRASH_ON_ID_ENV)
    clean = run_job(job(archive, "out-clean", tiny_model_path))
    assert (clean.ok, clean.errors) == (3, 0)
    undisturbed = latest(archive / "out-clean")
    for row_id in IDS:  # restored alone after the crash, in one batch here: fixed batches give the same bytes
        assert io.read_bytes(once[row_id]["output_uri"]) == io.read_bytes(undisturbed[row_id]["output_uri"])
