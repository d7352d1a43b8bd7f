"""What a ledger of many parts costs every reader, and what ``ddnm-batch compact`` gives back.

    python -m benchmarks.ledger_reads                        # 500 parts of 20 rows, local disk and moto S3
    python -m benchmarks.ledger_reads --parts 2000 --rows 5 --stores local

A ledger is written as a long run on a slow machine leaves it (``--parts`` parts of ``--rows`` rows, one part
every 30 seconds), then timed: the resume check a re-run does first (``ledger.previous_restorations``: 6 columns
of every part), a full read (the report's, every column), the compaction itself, and both reads again. The S3
store is moto's threaded server on 127.0.0.1 (no network latency: a real bucket's round trips make many parts
costlier still). Prints a table and appends one line per store to benchmarks/results.jsonl.
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time

from benchmarks.common import append_result, print_table
from pipeline import compact, io, ledger, metadata


def write_ledger(out: str, parts: int, rows: int, options: dict | None) -> None:
    run_id = metadata.new_run_id()
    for part in range(parts):
        table = metadata.table_from_rows([
            {"id": f"scan-{part:05d}-{row:03d}", "status": "ok", "run_id": run_id, "input_sha256": "0" * 64,
             "output_uri": io.join(out, "images", f"scan-{part:05d}-{row:03d}.png"), "steps": 20, "seed": 0,
             "consistency_residual": 1e-7, "extra": "{}"}
            for row in range(rows)
        ])  # fmt: skip
        metadata.write_part(table, out, run_id, part, options)


def timed(action) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def measure(out: str, options: dict | None, parts: int, rows: int) -> dict:
    write_ledger(out, parts, rows, options)
    before_resume = timed(lambda: ledger.previous_restorations(out, options))
    before_read = timed(lambda: metadata.read_all(out, options))
    merge_s = timed(lambda: compact.compact(out, options))
    after_resume = timed(lambda: ledger.previous_restorations(out, options))
    after_read = timed(lambda: metadata.read_all(out, options))
    assert len(metadata.part_uris(out, options)) == 1 and metadata.read_all(out, options).num_rows == parts * rows
    return {"parts": parts, "rows": parts * rows, "resume_check_s": before_resume, "full_read_s": before_read,
            "compact_s": merge_s, "resume_check_after_s": after_resume, "full_read_after_s": after_read}  # fmt: skip


def s3_store():
    """A moto server and a fresh bucket: ``(server, options, out URI)``."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one log line a request otherwise
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ.setdefault(key, "testing")  # dummy credentials: no real account can be reached
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    options = {"endpoint_url": f"http://{host}:{port}", "key": "testing", "secret": "testing"}
    io.filesystem_for("s3://ledger-bench", options)[0].mkdir("ledger-bench")
    return server, options, "s3://ledger-bench/out"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", type=int, default=500)
    parser.add_argument("--rows", type=int, default=20)
    parser.add_argument("--stores", nargs="+", default=["local", "s3"], choices=["local", "s3"])
    args = parser.parse_args(argv)
    results = []
    for store in args.stores:
        if store == "local":
            with tempfile.TemporaryDirectory() as folder:
                row = measure(os.path.join(folder, "out"), None, args.parts, args.rows)
        else:
            server, options, out = s3_store()
            try:
                row = measure(out, options, args.parts, args.rows)
            finally:
                server.stop()
        results.append({"store": store if store == "local" else "s3 (moto, 127.0.0.1)", **row})
        append_result("ledger_reads", results[-1])
    print_table("Ledger reads before and after compaction (seconds)", results)


if __name__ == "__main__":
    main()
