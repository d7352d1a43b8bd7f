"""Deployment files: KubeRay/CronJob YAML, Dockerfiles and the Grafana dashboard, parsed and checked."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
import yaml

from pipeline.entrypoints import scan_then_run
from pipeline import telemetry
from pipeline.job_spec import from_json

INFRA = Path(__file__).resolve().parents[1] / "infra"
TOKEN_SECRET, S3_SECRET = "ddnm-batch-ray-token", "ddnm-batch-s3"
SECRET_VARIABLES = {"RAY_AUTH_TOKEN", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}


def load(name: str) -> dict:
    documents = list(yaml.safe_load_all((INFRA / "kuberay" / name).read_text()))
    assert len(documents) == 1, f"{name} should hold one object"
    return documents[0]


def env_of(container: dict) -> dict:
    return {e["name"]: e for e in container.get("env", [])}


def assert_token_auth(env: dict, where: str) -> None:
    assert env["RAY_AUTH_MODE"]["value"] == "token", where
    assert env["RAY_AUTH_TOKEN"]["valueFrom"]["secretKeyRef"] == {"name": TOKEN_SECRET, "key": "auth_token"}, where


def assert_s3_from_secret(env: dict, where: str) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        assert env[name]["valueFrom"]["secretKeyRef"] == {"name": S3_SECRET, "key": name}, where


def assert_no_literal_secrets(env: dict, where: str) -> None:
    for name in SECRET_VARIABLES & set(env):
        assert "value" not in env[name], f"{where}: {name} must come from a Secret, not a literal"


def test_raycluster_cpu_head_autoscaling_gpu_workers_with_token_auth():
    cluster = load("raycluster.yaml")
    assert (cluster["apiVersion"], cluster["kind"]) == ("ray.io/v1", "RayCluster")
    spec = cluster["spec"]
    assert spec["rayVersion"].startswith("2.60") and spec["enableInTreeAutoscaling"] is True
    assert_token_auth(env_of(spec["autoscalerOptions"]), "autoscaler")
    head = spec["headGroupSpec"]
    assert head["rayStartParams"]["num-cpus"] == "0" and head["rayStartParams"]["metrics-export-port"] == "8080"
    (head_container,) = head["template"]["spec"]["containers"]
    assert "nvidia.com/gpu" not in head_container["resources"]["limits"]
    assert head_container["image"].endswith("-cpu")
    (gpu_group,) = spec["workerGroupSpecs"]
    assert gpu_group["minReplicas"] == 0 < gpu_group["maxReplicas"]
    (worker,) = gpu_group["template"]["spec"]["containers"]
    assert worker["resources"]["limits"]["nvidia.com/gpu"] == "1" and worker["image"].endswith("-cuda")
    assert gpu_group["rayStartParams"]["num-gpus"] == "1"
    for container in (head_container, worker):
        env = env_of(container)
        assert_token_auth(env, container["name"])
        assert_s3_from_secret(env, container["name"])
        assert_no_literal_secrets(env, container["name"])
        assert {"name": "metrics", "containerPort": 8080} in container["ports"]


def test_rayjob_runs_the_scan_then_run_entrypoint_on_the_cluster():
    job = load("rayjob.yaml")
    assert (job["apiVersion"], job["kind"]) == ("ray.io/v1", "RayJob")
    assert job["spec"]["clusterSelector"] == {"ray.io/cluster": load("raycluster.yaml")["metadata"]["name"]}
    words = shlex.split(job["spec"]["entrypoint"])
    assert words[:3] == ["python", "-m", "pipeline.entrypoints.scan_then_run"] and callable(scan_then_run.cli)
    settings = from_json(words[words.index("--settings") + 1], manifest_uri=words[words.index("--manifest") + 1])
    assert settings.device == "cuda" and settings.storage_options == {}
    (submitter,) = job["spec"]["submitterPodTemplate"]["spec"]["containers"]
    assert_token_auth(env_of(submitter), "submitter")
    assert_no_literal_secrets(env_of(submitter), "submitter")


def test_cronjob_scans_then_submits_with_a_schedule_slot():
    cron = load("cronjob.yaml")
    assert (cron["apiVersion"], cron["kind"]) == ("batch/v1", "CronJob")
    assert cron["spec"]["concurrencyPolicy"] == "Forbid" and len(cron["spec"]["schedule"].split()) == 5
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    script = "\n".join(container["args"])
    assert script.index("ddnm-batch compact") < script.index("ddnm-batch scan") < script.index("ddnm-batch submit")
    assert "--schedule-slot" in script and "--ledger" in script and '"$NEW" = "0"' in script
    env = env_of(container)
    assert_token_auth(env, "cronjob")
    assert_s3_from_secret(env, "cronjob")
    assert_no_literal_secrets(env, "cronjob")
    assert "head-svc:8265" in env["RAY_API_SERVER_ADDRESS"]["value"]
    assert not re.search(r"(?i)(aws_secret|secret_access|--storage-options)", script)


@pytest.mark.parametrize("name, base", [("Dockerfile", "cuda"), ("Dockerfile.cpu", "python:3.11")])
def test_dockerfiles_install_the_project_without_credentials(name, base):
    text = (INFRA / name).read_text()
    instructions = [line.split()[0] for line in text.splitlines() if line.strip() and not line.startswith(("#", " "))]
    assert instructions[:2] == ["ARG", "FROM"] and "FROM ${BASE_IMAGE}" in text
    assert base in re.search(r"^ARG BASE_IMAGE=(\S+)$", text, re.MULTILINE).group(1)
    assert re.search(r"COPY pyproject.toml README.md", text) and 'pip install ".[rgb16]"' in text  # deep scans at 16 bits
    assert "USER 1000" in text and "wget" in text  # KubeRay's probes and non-root user
    code = "\n".join(line for line in text.splitlines() if not line.startswith("#"))
    assert not re.search(r"(?i)(AWS_|SECRET|RAY_AUTH_TOKEN|PASSWORD)", code)
    ignore = (INFRA / f"{name}.dockerignore").read_text().splitlines()
    assert ignore[1:3] == ["**", "!pyproject.toml"] and "jobs/checkpoints/" in ignore
    if name == "Dockerfile.cpu":
        assert "download.pytorch.org/whl/cpu" in text


def test_manifests_ship_no_secret_objects_or_token_values():
    for path in (INFRA / "kuberay").glob("*.yaml"):
        for document in yaml.safe_load_all(path.read_text()):
            assert document["kind"] != "Secret", f"{path.name}: create Secrets with kubectl, do not commit them"
        assert not re.search(r"(?i)auth_token:\s*\S", path.read_text()), path.name


def test_grafana_dashboard_charts_the_metrics_the_stage_records():
    dashboard = json.loads((INFRA / "grafana" / "ddnm-batch.json").read_text())
    expressions = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    recorded = set(re.findall(r'"(ddnm_[a-z_]+)"', Path(telemetry.__file__).read_text()))
    assert recorded == {"ddnm_images_restored", "ddnm_row_errors", "ddnm_restore_seconds_per_image",
                        "ddnm_tiles_restored", "ddnm_restore_tiles_per_second"}  # fmt: skip
    for name in recorded:  # every metric is charted under the name Ray exports it with
        assert any(f"ray_{name}" in e for e in expressions), name
    for expr in expressions:
        for exported in re.findall(r"ray_(ddnm_[a-z_]+)", expr):
            assert re.sub(r"_(total|bucket|sum|count)$", "", exported) in recorded, expr
    assert all(p["description"] and p["datasource"]["uid"] == "${datasource}" for p in dashboard["panels"])
    assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])
