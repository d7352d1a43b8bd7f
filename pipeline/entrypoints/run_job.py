"""Ray job entrypoint of ``ddnm-batch submit``: ``python -m pipeline.entrypoints.run_job --settings JSON``.

Runs on the cluster (Ray sets ``RAY_ADDRESS``, so :func:`pipeline.run.run_job` joins the cluster
instead of starting one). Progress lines and a final JSON summary go to stdout, which is the job's
log (``ddnm-batch logs JOB_ID``). Exit status: 0 when the run finished, even with error rows
(they are recorded in the metadata and counted in the ``ddnm_row_errors`` metric), so a few bad
scans do not mark the job FAILED and trigger retries; ``--fail-on-row-errors`` exits 1 instead.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time

from ..interrupt import RunInterrupted
from ..job_spec import from_json
from ..progress_lines import remaining_s
from ..run import JobSummary, RayUnavailable, run_job
from ..settings import JobSettings
from ..sink import EXIT_OUTPUT_LOST, OutputUnwritable, Progress

PROGRESS_EVERY_S = 30.0


def main(settings: JobSettings) -> JobSummary:
    """Run the job, printing a progress line at most every ``PROGRESS_EVERY_S`` seconds."""
    last_printed = 0.0

    def report(progress: Progress) -> None:
        nonlocal last_printed
        now = time.monotonic()
        if now - last_printed >= PROGRESS_EVERY_S or progress.done == progress.to_do:
            last_printed = now
            left = remaining_s(progress.elapsed_s, progress.done, progress.to_do)  # as the terminal's bar shows it
            eta = "unknown" if left is None else f"{left:.0f}s"
            line = (f"progress {progress.done}/{progress.to_do} ok={progress.ok} errors={progress.errors} "
                    f"skipped={progress.skipped} elapsed={progress.elapsed_s:.0f}s eta={eta}\n")  # fmt: skip
            # One write with its newline: print() writes the text and "\n" apart, and Ray's own log lines (stderr,
            # the same job log) could land between them, gluing themselves onto the progress line.
            sys.stdout.write(line)
            sys.stdout.flush()

    return run_job(settings, on_progress=report)


def summary_json(summary: JobSummary) -> str:
    return json.dumps(dataclasses.asdict(summary), sort_keys=True, default=list)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m pipeline.entrypoints.run_job",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--settings", required=True, help="JobSettings as JSON (pipeline.job_spec.to_json)")
    parser.add_argument("--fail-on-row-errors", action="store_true", help="exit 1 when any row failed")
    return parser.parse_args(argv)


def cli(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_to_exit_code(args.settings, args.fail_on_row_errors)


def run_to_exit_code(settings_json: str, fail_on_row_errors: bool = False, **overrides) -> int:
    """Run the job and print its summary line; a run that did not finish is one line, no traceback, with exit codes
    as ``ddnm-batch run``'s: 2 refused before any work (settings, manifest, OUT, model), 1 Ray could not be started or
    joined, 3 OUT became unwritable mid-run (the line names the fallback ledger), 130/143 interrupted."""
    try:
        summary = main(from_json(settings_json, **overrides))
    except ValueError as exc:  # the settings, the manifest, OUT or the model (pipeline.preflight), before any work
        print(f"error: {exc}", flush=True)
        return 2
    except RayUnavailable as exc:
        print(f"error: {exc}; nothing was restored", flush=True)
        return 1
    except OutputUnwritable as exc:
        print(f"error: {exc.describe()}", flush=True)
        return EXIT_OUTPUT_LOST
    except RunInterrupted as exc:
        print(f"{exc}: stopped; {exc.recorded} finished row(s) recorded in {exc.out_uri}/metadata", flush=True)
        return exc.exit_code
    print("summary " + summary_json(summary), flush=True)
    return 1 if (fail_on_row_errors and summary.errors) else 0


if __name__ == "__main__":
    sys.exit(cli())
