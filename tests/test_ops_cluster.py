"""Cluster operations on real parts: a token-authenticated local Ray head (submit, status, logs, stop,
metrics), a real S3 API (moto) for scan, and the deployment files (YAML, Dockerfiles, Grafana)."""

from __future__ import annotations

import dataclasses
import json
import os
import shlex
import time
import urllib.request
from pathlib import Path

import pytest
from ops_cluster_helpers import REPO, ddnm_batch, prometheus_samples, start_head, stop_head
from pipeline_helpers import grey_photo, write_files, write_manifest

from pipeline import io, metadata
from pipeline.job_spec import from_json
from pipeline.settings import JobSettings
from pipeline.submit import SubmitRequest, entrypoint_for, prepared, runtime_env_for, submission_id_for

SLOT = "2026-11-23T02"
METRICS_TIMEOUT_S = 90


@pytest.fixture(scope="module")
def ray_head():
    head = start_head(num_cpus=2)
    yield head
    stop_head(head)


@pytest.fixture(scope="module")
def small_archive(tmp_path_factory):
    """Two 32x32 photos and one corrupt file, with a CSV manifest."""
    folder = tmp_path_factory.mktemp("ops-archive")
    write_files(folder, {"g0.png": grey_photo(0), "g1.png": grey_photo(1), "bad.png": b"not an image" * 8})
    rows = [{"id": "g0", "uri": "g0.png"}, {"id": "g1", "uri": "g1.png"}, {"id": "bad", "uri": "bad.png"}]
    write_manifest(folder / "manifest.csv", rows)
    return folder


def submit_args(archive: Path, head, model: str, slot: str = SLOT) -> list[str]:
    return ["submit", str(archive / "manifest.csv"), "--op", "colorize", "--out", str(archive / "out"),
            "--address", head.address, "--schedule-slot", slot, "--model", model, "--steps", "2",
            "--batch-size", "2", "--device", "cpu"]  # fmt: skip


@pytest.fixture(scope="module")
def scheduled_run(ray_head, small_archive, tiny_model_path):
    """One scheduled submit through the CLI, waited for with ``status --wait``."""
    submitted = ddnm_batch(*submit_args(small_archive, ray_head, tiny_model_path), env=ray_head.client_env)
    assert submitted.returncode == 0, submitted.stderr
    job_id = submitted.stdout.strip().splitlines()[-1]
    waited = ddnm_batch("status", job_id, "--address", ray_head.address, "--wait", "--timeout", "400", "--json",
                        env=ray_head.client_env, timeout=450)  # fmt: skip
    return job_id, submitted, waited


def test_scheduled_submit_runs_on_the_cluster(scheduled_run, small_archive, ray_head):
    job_id, submitted, waited = scheduled_run
    details = json.loads(waited.stdout)
    assert waited.returncode == 0 and details["status"] == "SUCCEEDED", waited.stdout + waited.stderr
    assert job_id.startswith("ddnm-20261123T020000-")
    assert f"{ray_head.address}/#/jobs/{job_id}" in submitted.stderr
    assert details["metadata"]["schedule_slot"] == SLOT and "pipeline.entrypoints.run_job" in details["entrypoint"]
    rows = {r["id"]: r for r in metadata.read_all(str(small_archive / "out")).to_pylist()}
    assert sorted(rows) == ["bad", "g0", "g1"]
    assert (rows["bad"]["status"], rows["bad"]["error_type"]) == ("error", "CorruptImage")
    for row_id in ("g0", "g1"):
        assert rows[row_id]["status"] == "ok" and rows[row_id]["consistency_residual"] < 1e-3
        assert io.sha256_hex(io.read_bytes(rows[row_id]["output_uri"])) == rows[row_id]["output_sha256"]


def test_a_refired_schedule_returns_the_same_job(scheduled_run, small_archive, ray_head, tiny_model_path):
    job_id, _, _ = scheduled_run
    parts_before = io.list_files(metadata.metadata_dir(str(small_archive / "out")))
    again = ddnm_batch(*submit_args(small_archive, ray_head, tiny_model_path, slot="2026-11-23T02:00:00+00:00"),
                       env=ray_head.client_env)  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip().splitlines()[-1] == job_id
    assert "already submitted" in again.stderr and "SUCCEEDED" in again.stderr
    status, body = ray_head.request("/api/jobs/")
    assert status == 200
    assert [j["submission_id"] for j in json.loads(body)].count(job_id) == 1
    assert io.list_files(metadata.metadata_dir(str(small_archive / "out"))) == parts_before


def test_logs_follow_prints_the_run_and_ends_with_the_job(scheduled_run, ray_head):
    job_id, _, _ = scheduled_run
    followed = ddnm_batch("logs", job_id, "--follow", "--address", ray_head.address, env=ray_head.client_env,
                          timeout=120)  # fmt: skip
    assert followed.returncode == 0, followed.stderr
    summary = json.loads(followed.stdout.split("summary ", 1)[1].splitlines()[0])
    assert (summary["ok"], summary["errors"], summary["errors_by_type"]) == (2, 1, {"CorruptImage": 1})
    last = [line for line in followed.stdout.splitlines() if line.startswith("progress ")][-1]
    assert last.startswith("progress 3/3 ok=2 errors=1 ") and last.endswith(" eta=0s"), last  # the log's ETA


def test_metrics_endpoint_exports_the_custom_metrics(scheduled_run, ray_head):
    """Prometheus text on the metrics export port carries the restore stage's counters."""
    expected = {
        "ray_ddnm_images_restored_total": 2.0,
        "ray_ddnm_tiles_restored_total": 2.0,
        "ray_ddnm_restore_seconds_per_image_count": 2.0,
    }
    deadline = time.monotonic() + METRICS_TIMEOUT_S
    while True:  # workers push metrics to the agent every few seconds
        text = urllib.request.urlopen(f"http://127.0.0.1:{ray_head.metrics_port}/metrics", timeout=10).read().decode()
        totals = {name: sum(v for _, v in prometheus_samples(text, name)) for name in expected}
        errors = prometheus_samples(text, "ray_ddnm_row_errors_total")
        if (totals == expected and errors) or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert totals == expected
    assert [(labels["error_type"], value) for labels, value in errors] == [("CorruptImage", 1.0)]
    assert "# TYPE ray_ddnm_images_restored_total counter" in text


def test_requests_without_the_token_are_refused(ray_head):
    assert ray_head.request("/api/jobs/", token="")[0] == 401
    assert ray_head.request("/api/jobs/", token="not-the-token")[0] == 403
    no_auth = {k: v for k, v in ray_head.client_env.items() if not k.startswith("RAY_AUTH")}
    refused = ddnm_batch("status", "anything", "--address", ray_head.address, env=no_auth)
    assert refused.returncode == 3
    assert "RAY_AUTH_MODE=token" in refused.stderr and ray_head.token not in refused.stderr


@pytest.mark.slow  # ~20 s: two CLI start-ups
def test_unknown_job_and_unreachable_cluster_are_clear_errors(ray_head):
    unknown = ddnm_batch("status", "ddnm-no-such-job", "--address", ray_head.address, env=ray_head.client_env)
    assert unknown.returncode == 3 and "no job 'ddnm-no-such-job'" in unknown.stderr
    nowhere = ddnm_batch("stop", "x", "--address", "http://127.0.0.1:9", env=ray_head.client_env)
    assert nowhere.returncode == 3 and "cannot reach the Ray Jobs API" in nowhere.stderr


@pytest.mark.slow
def test_stop_ends_a_running_job(ray_head, small_archive, tiny_model_path):
    args = submit_args(small_archive, ray_head, tiny_model_path, slot="2026-11-24T02")
    args[args.index("--steps") + 1] = "1000"  # long enough to be stopped while running
    args[args.index("--out") + 1] = str(small_archive / "out-stopped")
    job_id = ddnm_batch(*args, env=ray_head.client_env).stdout.strip().splitlines()[-1]
    deadline = time.monotonic() + 120
    while "RUNNING" not in ddnm_batch("status", job_id, "--address", ray_head.address, "--json",
                                      env=ray_head.client_env).stdout:  # fmt: skip
        assert time.monotonic() < deadline, "the job never started running"
        time.sleep(1)
    stopped = ddnm_batch("stop", job_id, "--address", ray_head.address, "--wait", env=ray_head.client_env)
    assert stopped.returncode == 0 and "STOPPED" in stopped.stderr, stopped.stderr


@pytest.mark.slow
def test_working_dir_submit_runs_the_uploaded_source(ray_head, small_archive, tiny_model_path):
    """--working-dir: Ray zips this checkout (minus the excludes) and the job imports it from there."""
    args = submit_args(small_archive, ray_head, tiny_model_path)
    slot_at = args.index("--schedule-slot")
    del args[slot_at : slot_at + 2]  # unscheduled: Ray picks the id
    args[args.index("--out") + 1] = str(small_archive / "out-working-dir")
    submitted = ddnm_batch(*args, "--working-dir", str(REPO), env=ray_head.client_env)
    assert submitted.returncode == 0, submitted.stderr
    job_id = submitted.stdout.strip().splitlines()[-1]
    waited = ddnm_batch("status", job_id, "--address", ray_head.address, "--wait", "--timeout", "400", "--json",
                        env=ray_head.client_env, timeout=450)  # fmt: skip
    assert waited.returncode == 0, waited.stdout + waited.stderr
    status, body = ray_head.request(f"/api/jobs/{job_id}")
    assert status == 200 and json.loads(body)["runtime_env"]["working_dir"].startswith("gcs://")
    assert len(metadata.read_all(str(small_archive / "out-working-dir"))) == 3


@pytest.mark.slow
def test_scan_then_run_entrypoint_on_the_cluster(ray_head, tmp_path, tiny_model_path):
    """The scheduled-scan entrypoint as a Ray job: restores only what the ledger lacks."""
    write_files(tmp_path / "in", {"a.png": grey_photo(2), "b.png": grey_photo(3), "notes.txt": b"x"})
    out = tmp_path / "out"
    settings = json.dumps({"out_uri": str(out), "op": "colorize", "model": tiny_model_path, "steps": 2,
                           "batch_size": 2, "device": "cpu"})  # fmt: skip
    entrypoint = (f"python -m pipeline.entrypoints.scan_then_run --prefix {tmp_path / 'in'} "
                  f"--manifest {tmp_path / 'm.parquet'} "
                  f"--settings {shlex.quote(settings)}")  # fmt: skip
    for attempt, expected_new in ((1, 2), (2, 0)):
        submission = f"scan-then-run-{os.getpid()}-{attempt}"
        status, body = ray_head.request("/api/jobs/", data={"entrypoint": entrypoint, "submission_id": submission})
        assert status == 200, body
        waited = ddnm_batch("status", submission, "--address", ray_head.address, "--wait", "--timeout", "400",
                            env=ray_head.client_env, timeout=450)  # fmt: skip
        assert waited.returncode == 0, waited.stdout + waited.stderr
        logs = ddnm_batch("logs", submission, "--address", ray_head.address, env=ray_head.client_env).stdout
        assert f"{expected_new} new" in logs, logs
    assert sorted(r["id"] for r in metadata.read_all(str(out)).to_pylist()) == ["a.png", "b.png"]


# --- submission building (no cluster) -------------------------------------------------------------


def request_for(**overrides) -> SubmitRequest:
    job = JobSettings.of(manifest_uri="manifest.csv", out_uri="s3://bucket/out", op="colorize",
                      storage_options={"endpoint_url": "http://127.0.0.1:9000"})  # fmt: skip
    return SubmitRequest(job=job, **overrides)


def test_scheduled_ids_are_deterministic_and_depend_on_slot_and_options(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    base = submission_id_for(prepared(request_for(schedule_slot="2026-11-23T02")))
    assert base == submission_id_for(prepared(request_for(schedule_slot="2026-11-23T02:00+00:00")))
    assert base == submission_id_for(prepared(request_for(schedule_slot="2026-11-23T03:00+01:00")))
    assert base != submission_id_for(prepared(request_for(schedule_slot="2026-11-23T03")))
    other_steps = request_for(schedule_slot="2026-11-23T02")
    job = other_steps.job
    job = dataclasses.replace(job, restore=dataclasses.replace(job.restore, sampler=dataclasses.replace(
        job.restore.sampler, steps=50)))  # fmt: skip
    other_steps = dataclasses.replace(other_steps, job=job)
    assert base != submission_id_for(prepared(other_steps))
    assert submission_id_for(prepared(request_for())) is None  # unscheduled: Ray picks an id
    assert base.startswith("ddnm-20261123T020000-") and base.replace("-", "").isalnum()


def test_entrypoint_carries_absolute_settings_through_the_shell(tmp_path, monkeypatch):
    from pipeline.entrypoints.run_job import parse_args

    monkeypatch.chdir(tmp_path)
    request = prepared(request_for(schedule_slot=SLOT))
    words = shlex.split(entrypoint_for(request))
    assert words[:3] == ["python", "-m", "pipeline.entrypoints.run_job"]
    settings = from_json(parse_args(words[3:]).settings)
    assert settings == request.job and settings.manifest_uri == str(tmp_path / "manifest.csv")
    assert settings.out_uri == "s3://bucket/out"


def test_credentials_never_reach_the_entrypoint():
    job = JobSettings.of(manifest_uri="m.csv", out_uri="o", storage_options={"key": "AKIA", "secret": "s"})
    with pytest.raises(ValueError, match=r"\['key', 'secret'\] look like credentials"):
        SubmitRequest(job=job)
    nested = JobSettings.of(manifest_uri="m.csv", out_uri="o",
                         storage_options={"client_kwargs": {"aws_secret_access_key": "s", "region_name": "x"}})
    with pytest.raises(ValueError, match="client_kwargs.aws_secret_access_key"):
        SubmitRequest(job=nested)


def test_runtime_env_modes_and_bad_requests():
    assert runtime_env_for(request_for()) == {}  # installed in the image: entrypoint only
    uploaded = runtime_env_for(request_for(working_dir=str(REPO)))
    assert uploaded["working_dir"] == str(REPO) and {".venv", ".git", "jobs/checkpoints"} <= set(uploaded["excludes"])
    assert runtime_env_for(request_for(pip=("ddnm-batch==0.1.0",))) == {"pip": ["ddnm-batch==0.1.0"]}
    with pytest.raises(ValueError, match="not both"):
        request_for(working_dir=".", pip=("ddnm-batch",))
    with pytest.raises(ValueError, match="ISO date-time such as 2026-11-23T02"):
        request_for(schedule_slot="nightly")
    with pytest.raises(ValueError, match="unknown job setting"):
        from_json('{"manifest_uri": "m", "out_uri": "o", "stepz": 3}')
