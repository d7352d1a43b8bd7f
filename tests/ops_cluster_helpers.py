"""A real, token-authenticated local Ray head for the cluster-operations tests, and CLI helpers.

The head is started as ``ray start --head --block`` in its own process group and stopped by
signalling that process (never ``ray stop``, which would stop every Ray on the machine).
``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` makes Ray take 127.0.0.1 as the node address, so the
dashboard, agents, GCS, raylet and metrics server all listen on 127.0.0.1 only.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PYTHON_BIN = Path(sys.executable).parent
HEAD_START_TIMEOUT_S = 180
HEAD_STOP_TIMEOUT_S = 10  # a graceful stop takes ~30 s on a busy machine; the rest is killed
PORT_FLAGS = ("port", "dashboard-port", "metrics-export-port", "dashboard-agent-listen-port",
              "dashboard-agent-grpc-port", "runtime-env-agent-port", "node-manager-port", "object-manager-port",
              "ray-client-server-port")  # fmt: skip
CLEARED_VARIABLES = ("RAY_ADDRESS", "RAY_API_SERVER_ADDRESS", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH", "RAY_AUTH_MODE")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Head:
    address: str  # the Jobs API / dashboard URL
    metrics_port: int
    token: str
    client_env: dict  # environment for a CLI that talks to this head
    process: subprocess.Popen
    temp_dir: str

    def request(self, path: str, token: str | None = None, data: dict | None = None) -> tuple[int, str]:
        """HTTP to the dashboard with ``token`` (default: the head's; "" sends none)."""
        token = self.token if token is None else token
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        body = None
        if data is not None:
            body, headers = json.dumps(data).encode(), {**headers, "Content-Type": "application/json"}
        request = urllib.request.Request(self.address + path, data=body, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()


def base_env() -> dict:
    env = {k: v for k, v in os.environ.items() if k not in CLEARED_VARIABLES}
    env.update(PATH=f"{PYTHON_BIN}{os.pathsep}{env.get('PATH', '')}", RAY_USAGE_STATS_ENABLED="0")
    return env


def start_head(num_cpus: int = 2, extra_env: dict | None = None) -> Head:
    # Short temp dir: Ray's unix socket paths live under it and must stay under ~107 bytes.
    temp_dir = tempfile.mkdtemp(prefix="ddnm-ray-", dir="/tmp")
    token = secrets.token_hex(16)
    token_path = Path(temp_dir) / "auth_token"
    token_path.write_text(token)
    token_path.chmod(0o600)
    auth = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token_path)}
    env = {**base_env(), **auth, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", **(extra_env or {})}
    ports = {flag: free_port() for flag in PORT_FLAGS}
    command = [str(PYTHON_BIN / "ray"), "start", "--head", "--block", "--num-cpus", str(num_cpus),
               "--node-ip-address", "127.0.0.1", "--dashboard-host", "127.0.0.1", "--temp-dir", temp_dir,
               "--object-store-memory", str(300 * 2**20), "--disable-usage-stats"]  # fmt: skip
    command += [part for flag, port in ports.items() for part in (f"--{flag}", str(port))]
    log = open(Path(temp_dir) / "head.log", "w")  # noqa: SIM115 - closed with the process
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    head = Head(
        address=f"http://127.0.0.1:{ports['dashboard-port']}",
        metrics_port=ports["metrics-export-port"],
        token=token,
        client_env={**base_env(), **auth},
        process=process,
        temp_dir=temp_dir,
    )
    try:
        _wait_until_ready(head)
    except BaseException:
        stop_head(head)
        raise
    return head


def _wait_until_ready(head: Head) -> None:
    deadline = time.monotonic() + HEAD_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if head.process.poll() is not None:
            raise RuntimeError(f"ray start exited with {head.process.returncode}:\n{head_log(head)[-3000:]}")
        try:
            if head.request("/api/jobs/")[0] == 200:  # the Jobs API answers: ready to submit
                return
        except OSError:
            pass  # not listening yet
        time.sleep(0.5)
    raise TimeoutError(f"the Ray head did not answer within {HEAD_START_TIMEOUT_S} s:\n{head_log(head)[-3000:]}")


def head_log(head: Head) -> str:
    return (Path(head.temp_dir) / "head.log").read_text(errors="replace")


def stop_head(head: Head) -> None:
    """SIGTERM to ``ray start --block`` (it stops what it started), SIGKILL to its group if it hangs."""
    if head.process.poll() is None:
        head.process.send_signal(signal.SIGTERM)
        try:
            head.process.wait(HEAD_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(head.process.pid, signal.SIGKILL)  # leftovers of our own process group only
    except ProcessLookupError:
        pass
    head.process.wait()
    shutil.rmtree(head.temp_dir, ignore_errors=True)


def ddnm_batch(*args: str, env: dict, cwd: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run the real CLI in a fresh process (its own Ray auth state, like a user's shell)."""
    command = [sys.executable, "-m", "pipeline.cli", *args]
    return subprocess.run(command, env=env, cwd=cwd or REPO, capture_output=True, text=True, timeout=timeout)


def prometheus_samples(text: str, name: str) -> list[tuple[dict, float]]:
    """``(labels, value)`` of every sample of metric ``name`` in Prometheus text format."""
    samples = []
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        head, _, value = line.rpartition(" ")
        labels = {}
        if "{" in head:
            for part in head[head.index("{") + 1 : head.rindex("}")].split('",'):
                key, _, raw = part.partition("=")
                labels[key.strip(",")] = raw.strip('"')
        samples.append((labels, float(value)))
    return samples
