"""Submit a restoration run as a Ray job: entrypoint, runtime environment, deterministic ids.

The job runs ``python -m pipeline.entrypoints.run_job --settings JSON`` on the cluster. Where the code comes from:

- ``runtime_env={}`` (default): the cluster image has ddnm-batch installed (``infra/Dockerfile``);
  only the entrypoint travels.
- ``working_dir``: Ray zips the local source tree (without the folders in :data:`WORKING_DIR_EXCLUDES`)
  and unpacks it as the job's working directory; the image still needs the dependencies (torch, ray).
- ``pip``: Ray installs the given requirement specs (e.g. ``ddnm-batch==0.1.0`` from an index the
  cluster can reach) into a per-job virtualenv.

A scheduled run (``schedule_slot`` set) gets a submission id derived from the settings and the
slot, so a re-fired schedule maps to the same job and Ray refuses the duplicate; that refusal is
answered with the existing job. The manifest's *content* is left out of the hash on purpose: a
re-fired schedule re-runs ``scan``, which may see a different set of new images, but it is still the
same scheduled run.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shlex
from dataclasses import dataclass
from datetime import datetime, timezone

from . import io, job_spec
from .metadata import software_version
from .plan import absolute_paths
from .settings import JobSettings

ID_SCHEME = "ddnm-batch-submission-v1"  # bump to change every scheduled id at once
ID_HASH_CHARS = 16
NAMED_MODELS = ("bundled", "ffdnet")  # model names that are not paths
WORKING_DIR_EXCLUDES = (
    ".git", ".venv", "venv", "__pycache__", "*.pyc", "*.egg-info", ".pytest_cache",
    "tests", "benchmarks", "docs", "infra", "examples", "out", "runs", "build", "dist",
    "jobs/checkpoints", "*.pt", "*.ckpt",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class SubmitRequest:
    """One submission: the job's settings plus how and when it is submitted.

    ``schedule_slot`` is an ISO date-time naming the scheduled run (``2026-11-23T02``; naive times
    are UTC). ``working_dir`` and ``pip`` choose the runtime environment (see the module docstring).
    ``entrypoint_num_cpus`` reserves CPUs for the driver (it writes the metadata).
    """

    job: JobSettings
    schedule_slot: str | None = None
    working_dir: str | None = None
    pip: tuple[str, ...] = ()
    entrypoint_num_cpus: float = 0.0

    def __post_init__(self) -> None:
        job_spec.check_no_credentials(self.job.storage_options)
        if self.working_dir and self.pip:
            raise ValueError("give --working-dir or --pip, not both: the job imports ddnm-batch from one place")
        if self.schedule_slot is not None:
            parse_slot(self.schedule_slot)
        if self.entrypoint_num_cpus < 0:
            raise ValueError(f"entrypoint_num_cpus must be >= 0, got {self.entrypoint_num_cpus}")


@dataclass(frozen=True, slots=True)
class Submitted:
    job_id: str
    created: bool  # False: an identical scheduled run was already submitted
    status: str


def parse_slot(slot: str) -> datetime:
    """``2026-11-23T02`` (or any ISO date-time) as an aware UTC datetime."""
    try:
        moment = datetime.fromisoformat(slot)
    except ValueError as exc:
        raise ValueError(
            f"--schedule-slot must be an ISO date-time such as 2026-11-23T02 (the scheduled hour, UTC), got {slot!r}"
        ) from exc
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def prepared(request: SubmitRequest) -> SubmitRequest:
    """Local paths (manifest, out, weights) made absolute: the job's working directory is not ours."""
    job = absolute_paths(request.job)
    if job.model not in NAMED_MODELS and io.is_local(job.model):
        spec = dataclasses.replace(job.restore.model, path=io.resolve(job.model, os.getcwd()))
        job = dataclasses.replace(job, restore=dataclasses.replace(job.restore, model=spec))
    return dataclasses.replace(request, job=job)


def submission_id_for(request: SubmitRequest) -> str | None:
    """Deterministic id for a scheduled run, ``None`` (Ray picks one) otherwise."""
    if request.schedule_slot is None:
        return None
    slot = parse_slot(request.schedule_slot)
    payload = {"scheme": ID_SCHEME, "slot": slot.isoformat(), "settings": json.loads(job_spec.to_json(request.job))}
    digest = hashlib.sha256(json.dumps(payload, sort_keys=True).encode("utf-8")).hexdigest()
    return f"ddnm-{slot.strftime('%Y%m%dT%H%M%S')}-{digest[:ID_HASH_CHARS]}"


def entrypoint_for(request: SubmitRequest) -> str:
    # `python` as the cluster's PATH finds it (the image's interpreter, or the runtime env's virtualenv).
    return f"python -m pipeline.entrypoints.run_job --settings {shlex.quote(job_spec.to_json(request.job))}"


def runtime_env_for(request: SubmitRequest) -> dict:
    if request.working_dir:
        return {"working_dir": request.working_dir, "excludes": list(WORKING_DIR_EXCLUDES)}
    if request.pip:
        return {"pip": list(request.pip)}
    return {}


def job_metadata(request: SubmitRequest) -> dict[str, str]:
    """Shown next to the job on the dashboard (strings only, no secrets)."""
    job = request.job
    return {
        "app": "ddnm-batch",
        "version": software_version(),
        "manifest_uri": job.manifest_uri,
        "out_uri": job.out_uri,
        "op": job.op or "",
        "schedule_slot": request.schedule_slot or "",
    }


def submit(client, request: SubmitRequest) -> Submitted:
    """Submit ``request``; an identical scheduled run already on the cluster is returned instead."""
    request = prepared(request)
    submission_id = submission_id_for(request)
    entrypoint = entrypoint_for(request)
    try:
        job_id = client.submit_job(
            entrypoint=entrypoint,
            submission_id=submission_id,
            runtime_env=runtime_env_for(request),
            metadata=job_metadata(request),
            entrypoint_num_cpus=request.entrypoint_num_cpus or None,
        )
    except RuntimeError as exc:
        if submission_id is None or "already exists" not in str(exc):
            raise
        existing = client.get_job_info(submission_id)
        return Submitted(submission_id, created=False, status=str(existing.status))
    return Submitted(job_id, created=True, status="PENDING")
