"""Real faults on a real local Ray: the restore worker is SIGKILLed mid-run, and the job must still end with every
manifest row restored exactly once, byte-identical to an undisturbed run (fixed batches make outputs deterministic).
"""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

pytestmark = pytest.mark.skipif(not os.path.isdir("/proc"), reason="finds Ray's worker processes through /proc")
from pipeline_helpers import TEST_MAX_PIXELS, grey_photo, write_files, write_manifest

from pipeline import io, metadata
from pipeline.run import run_job
from pipeline.settings import JobSettings

ROWS = 8


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    folder = tmp_path_factory.mktemp("faults")
    write_files(folder, {f"scan{i}.png": grey_photo(100 + i) for i in range(ROWS)})
    write_manifest(folder / "m.csv", [{"id": f"scan{i}", "uri": f"scan{i}.png"} for i in range(ROWS)])
    return folder


def job(folder, out: str, model: str) -> JobSettings:
    return JobSettings.of(manifest_uri=str(folder / "m.csv"), out_uri=str(folder / out), op="colorize", model=model,
                       steps=12, batch_size=2, device="cpu", max_pixels=TEST_MAX_PIXELS)  # fmt: skip


def restore_worker_pids() -> list[int]:
    """PIDs of live restore actors: Ray titles an actor's process ``ray::MapWorker(...RestoreStage...)``
    (read from /proc, so it works without the dashboard the state API needs)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                title = f.read().decode(errors="replace")
        except OSError:
            continue
        if title.startswith("ray::") and "RestoreStage" in title:
            pids.append(int(entry))
    return pids


def outputs(out) -> dict[str, bytes]:
    rows = metadata.latest_rows(metadata.read_all(str(out))).to_pylist()
    assert len(rows) == ROWS and {r["status"] for r in rows} == {"ok"}, [r["error_message"] for r in rows]
    return {r["id"]: io.read_bytes(r["output_uri"]) for r in rows}


def test_a_killed_restore_worker_is_replaced_and_nothing_is_lost(tiny_model_path, ray_local, archive):
    done, killed, result = [0], [], {}

    def on_progress(progress):
        done[0] = progress.done

    runner = threading.Thread(target=lambda: result.update(summary=run_job(job(archive, "out-killed", tiny_model_path),
                                                                            on_progress=on_progress)))  # fmt: skip
    runner.start()
    deadline = time.time() + 240
    while not killed and runner.is_alive() and time.time() < deadline:
        pids = restore_worker_pids()
        if pids and 1 <= done[0] < ROWS:  # some rows finished, some still to come
            os.kill(pids[0], signal.SIGKILL)
            killed.append((pids[0], done[0]))
        time.sleep(0.2)
    runner.join(timeout=300)
    assert killed, f"the run ended before a worker could be killed (done {done[0]} of {ROWS})"
    assert not runner.is_alive() and "summary" in result, "the job did not finish after its worker was killed"
    summary = result["summary"]
    assert (summary.ok, summary.errors) == (ROWS, 0)
    assert restore_worker_pids() == [] or killed[0][0] not in restore_worker_pids()
    after_kill = outputs(archive / "out-killed")
    undisturbed = run_job(job(archive, "out-clean", tiny_model_path))
    assert (undisturbed.ok, undisturbed.errors) == (ROWS, 0)
    assert after_kill == outputs(archive / "out-clean")
