"""What a run will do, worked out before Ray starts: the checks that refuse a job, and each manifest row's state
against the ledger (``run_job`` begins with :func:`prepare`; ``ddnm-batch run --dry-run`` stops after it).

A row is *new* (no restoration of its id whose image is still in OUT), *changed* (restored with other settings: it
is restored again) or *finished* (restored with the same settings: skipped, unless its scan's or mask's bytes have
changed since, which only reading them can tell and the run checks as it goes).
"""

from __future__ import annotations

import dataclasses
import os
from collections import Counter
from dataclasses import dataclass

from . import fingerprint, io, ledger, preflight
from .manifest import ManifestRow, check_outputs_do_not_overwrite_inputs, read_manifest
from .settings import OUTPUT_FORMATS, JobSettings

NEW, CHANGED, FINISHED = "new", "changed", "finished"


@dataclass(frozen=True, slots=True)
class Prepared:
    settings: JobSettings  # with absolute local paths
    rows: list[ManifestRow]
    items: list[dict]  # the graph's input rows (ledger.work_items)
    previous: dict[str, ledger.Previous]  # id → its latest ok restoration still in OUT
    job_fingerprint: str
    op_keys: dict[str, str]


@dataclass(frozen=True, slots=True)
class JobPlan:
    rows: int
    states: dict[str, int]  # new / changed / finished → rows
    ops: dict[str, int]  # operator → rows to restore (new and changed)
    model: str  # the prior's name, as it loaded
    negatives: int = 0  # rows to restore that are scans of negatives (restored as their positives)


def absolute_paths(settings: JobSettings) -> JobSettings:
    """Local paths made absolute on the driver, since Ray workers may run elsewhere."""
    cwd = os.getcwd()
    return dataclasses.replace(
        settings, manifest_uri=io.resolve(settings.manifest_uri, cwd), out_uri=io.resolve(settings.out_uri, cwd)
    )


def prepare(settings: JobSettings) -> tuple[Prepared, preflight.ModelIdentity]:
    """Refuse what cannot run (:class:`pipeline.preflight.PreflightError`, a ValueError: an unreadable manifest, an
    OUT that cannot be written, a model that does not load) and pair each row with what the ledger knows of it."""
    settings = absolute_paths(settings)
    rows = read_manifest(settings.manifest_uri, settings.op, settings.storage_options, settings.negative)
    suffix = OUTPUT_FORMATS[settings.output_format]
    check_outputs_do_not_overwrite_inputs(rows, settings.out_uri,
                                          lambda i: io.output_uri_for(settings.out_uri, i, suffix))  # fmt: skip
    preflight.check_output(settings.out_uri, settings.storage_options)
    model = preflight.check_model(settings.restore, {row.op for row in rows})
    job_fingerprint = fingerprint.job_fingerprint(settings, model)
    # colour rows add the colour prior, a task its recommendation, as far as the settings leave them in force
    op_keys = fingerprint.op_fingerprints(model, settings)
    previous = ledger.previous_restorations(settings.out_uri, settings.storage_options)
    items = ledger.work_items(rows, previous, job_fingerprint, op_keys)
    return Prepared(settings, rows, items, previous, job_fingerprint, op_keys), model


def plan_job(settings: JobSettings) -> JobPlan:
    """The run's plan, without running it."""
    prepared, model = prepare(settings)
    previous, states, ops, negatives = prepared.previous, Counter(), Counter(), 0
    for row, item in zip(prepared.rows, prepared.items):
        state = FINISHED if item["resume_input_sha256"] else (CHANGED if row.id in previous else NEW)
        states[state] += 1
        if state != FINISHED:
            ops[row.op] += 1
            negatives += row.negative
    return JobPlan(len(prepared.rows), {s: states[s] for s in (NEW, CHANGED, FINISHED)}, dict(ops), model.name,
                   negatives)  # fmt: skip
