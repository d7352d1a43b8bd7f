"""Scale-out on a real multi-node Ray cluster on this machine (``ray.cluster_utils.Cluster``: a head and a worker
node, each its own raylet and object store): the restore actors spread over both nodes, and when the worker node
is removed mid-run every row still ends ``ok`` exactly once, byte-identical to an undisturbed run.

Prints the measured numbers (wall times, rows per node) that docs/operations.md quotes; run with ``-s`` to see them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter

import pytest
from pipeline_helpers import grey_photo, write_files, write_manifest

from pipeline import io, metadata
from pipeline.run import run_job
from pipeline.settings import JobSettings

pytestmark = pytest.mark.slow
ray = pytest.importorskip("ray")

ROWS = 8
NODE_CPUS = 2  # per node: one restore actor and one encode task


@pytest.fixture(scope="module")
def cluster():
    """Head + one worker node; the driver joins the head. A session Ray (tests/conftest.py) is set aside and
    restarted afterwards, so the tests that follow still find one."""
    from ray.cluster_utils import Cluster

    had_session = ray.is_initialized()
    if had_session:
        ray.shutdown()
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": NODE_CPUS, "include_dashboard": False})
    worker = cluster.add_node(num_cpus=NODE_CPUS)
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, logging_level=logging.WARNING)
    try:
        yield cluster, worker
    finally:
        ray.shutdown()
        cluster.shutdown()
        if had_session:
            ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level=logging.WARNING)


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    folder = tmp_path_factory.mktemp("multinode")
    write_files(folder, {f"scan{i}.png": grey_photo(300 + i, size=64) for i in range(ROWS)})
    write_manifest(folder / "m.csv", [{"id": f"scan{i}", "uri": f"scan{i}.png"} for i in range(ROWS)])
    return folder


def job(folder, out: str, model: str) -> JobSettings:
    return JobSettings.of(manifest_uri=str(folder / "m.csv"), out_uri=str(folder / out), op="colorize", model=model,
                       steps=2, batch_size=2, num_actors=2, device="cpu")  # fmt: skip


def recorded(out) -> list[dict]:
    return metadata.read_all(str(out)).to_pylist()


def by_node(rows: list[dict]) -> Counter:
    """Rows per Ray node (the ``worker`` column is ``host:pid@node``)."""
    return Counter(r["worker"].rpartition("@")[2] for r in rows)


def test_actors_spread_over_both_nodes_and_a_node_lost_mid_run_loses_nothing(tiny_model_path, cluster, archive):
    cluster_, worker_node = cluster
    started = time.time()
    clean = run_job(job(archive, "out-clean", tiny_model_path))
    clean_s = time.time() - started
    assert (clean.ok, clean.errors) == (ROWS, 0)
    clean_rows = recorded(archive / "out-clean")
    nodes = {n["NodeID"][:8] for n in ray.nodes() if n["Alive"]}
    assert set(by_node(clean_rows)) == nodes and len(nodes) == 2, f"rows per node {by_node(clean_rows)}, nodes {nodes}"

    done, removed, result = [0], [], {}

    def on_progress(progress):
        done[0] = progress.done

    runner = threading.Thread(target=lambda: result.update(summary=run_job(job(archive, "out-lost", tiny_model_path),
                                                                            on_progress=on_progress)))  # fmt: skip
    started = time.time()
    runner.start()
    while not removed and runner.is_alive() and time.time() - started < 300:
        if 1 <= done[0] < ROWS:  # the first rows are finished, some are still to come
            cluster_.remove_node(worker_node, allow_graceful=False)
            removed.append((done[0], time.time() - started))
        time.sleep(0.1)
    runner.join(timeout=600)
    lost_s = time.time() - started
    assert removed, f"the run ended before the worker node could be removed (done {done[0]} of {ROWS})"
    assert not runner.is_alive() and "summary" in result, "the run did not finish after its worker node was removed"
    lost_rows = recorded(archive / "out-lost")
    assert (result["summary"].ok, result["summary"].errors) == (ROWS, 0), [(r["error_type"], r["error_message"]) for r in lost_rows if r["status"] != "ok"]
    assert sorted(r["id"] for r in lost_rows) == sorted(r["id"] for r in clean_rows), "each row exactly once"
    assert {r["status"] for r in lost_rows} == {"ok"}
    clean_png = {r["id"]: io.read_bytes(r["output_uri"]) for r in clean_rows}
    assert {r["id"]: io.read_bytes(r["output_uri"]) for r in lost_rows} == clean_png
    print(f"\nmultinode: undisturbed {clean_s:.1f} s, rows per node {dict(by_node(clean_rows))}; worker node removed "
          f"after {removed[0][0]} rows at {removed[0][1]:.1f} s, run ended at {lost_s:.1f} s, rows per node "
          f"{dict(by_node(lost_rows))}")  # fmt: skip
