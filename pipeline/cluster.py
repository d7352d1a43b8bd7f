"""The Ray Jobs API from the submitting side: one client, job look-ups, waiting, following logs.

Address: ``--address`` wins, then ``RAY_API_SERVER_ADDRESS``, then ``RAY_ADDRESS``, then
``http://127.0.0.1:8265``. It is always passed to Ray explicitly, so a stray local cluster is
never auto-detected (Ray would otherwise let those variables override an explicit address).

Token auth (Ray >= 2.52; Ray 2.60 requires it for clusters that enable it): the client sends the
cluster's token when ``RAY_AUTH_MODE=token`` is set in the submitting environment, with the token
in ``RAY_AUTH_TOKEN``, in the file ``RAY_AUTH_TOKEN_PATH`` names, or in ``~/.ray/auth_token``
(Ray's own loader reads them; nothing here stores or prints a token).

A local ``ray.init()`` (Ray >= 2.52) turns token auth on and writes a new token to ``~/.ray/auth_token``
with the process umask, i.e. readable by every user of the machine; :func:`protect_token_file` (called
around the job's ``ray.init``) keeps ``~/.ray`` at 0700 and the token at 0600.
"""

from __future__ import annotations

import contextlib
import os
import stat
import time
from collections.abc import Callable, Iterator
from pathlib import Path

DEFAULT_ADDRESS = "http://127.0.0.1:8265"
ADDRESS_VARIABLES = ("RAY_API_SERVER_ADDRESS", "RAY_ADDRESS")
TERMINAL_STATUSES = ("SUCCEEDED", "FAILED", "STOPPED")

AUTH_HINT = (
    "The cluster uses token authentication: set RAY_AUTH_MODE=token and give the cluster's token in "
    "RAY_AUTH_TOKEN or in a file named by RAY_AUTH_TOKEN_PATH (in Kubernetes, from the Secret the "
    "RayCluster uses)."
)


def default_token_path() -> Path:
    """Where Ray keeps a generated token (``ray._private.authentication``: ``~/.ray/auth_token``)."""
    return Path.home() / ".ray" / "auth_token"


def protect_token_file(path: Path | None = None) -> None:
    """Owner-only access to Ray's token: its folder 0700 (created so, before Ray writes the token, so the
    file is never readable by others even for a moment) and the file 0600. Files of other owners are left."""
    path = default_token_path() if path is None else path
    with contextlib.suppress(OSError):  # a read-only home: nothing Ray could write there either
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    for target, mode in ((path.parent, 0o700), (path, 0o600)):
        try:
            info = target.stat()
        except FileNotFoundError:
            continue
        if info.st_uid == os.getuid() and stat.S_IMODE(info.st_mode) & 0o077:
            with contextlib.suppress(OSError):
                target.chmod(mode)


class ClusterError(RuntimeError):
    """The Jobs API could not do what was asked; the message says why and what to do."""


def resolve_address(address: str | None) -> str:
    """The Jobs API address to use (see the module docstring for the order)."""
    for candidate in (address, *(os.environ.get(name) for name in ADDRESS_VARIABLES)):
        if candidate:
            return candidate
    return DEFAULT_ADDRESS


def open_client(address: str | None):
    """A connected ``JobSubmissionClient`` (checks the address and the token once)."""
    from ray.exceptions import AuthenticationError
    from ray.job_submission import JobSubmissionClient

    resolved = resolve_address(address)
    try:
        with _address_variables_cleared():
            return JobSubmissionClient(resolved)
    except AuthenticationError as exc:
        message = f"the Ray Jobs API at {resolved} refused the request: {_first_line(exc)}. {AUTH_HINT}"
        raise ClusterError(message) from exc
    except ConnectionError as exc:
        raise ClusterError(
            f"cannot reach the Ray Jobs API at {resolved} ({exc}); start a head (`ray start --head`) or pass "
            "--address http://HEAD:8265"
        ) from exc


@contextlib.contextmanager
def _address_variables_cleared() -> Iterator[None]:
    """Ray lets RAY_ADDRESS override an explicit address; hide the variables while connecting."""
    saved = {name: os.environ.pop(name) for name in ADDRESS_VARIABLES if name in os.environ}
    try:
        yield
    finally:
        os.environ.update(saved)


def dashboard_url(client, job_id: str) -> str:
    """The job's page on the Ray dashboard."""
    return f"{client.get_address().rstrip('/')}/#/jobs/{job_id}"


def job_info(client, job_id: str):
    """``JobDetails`` of ``job_id`` (a submission id or a Ray job id)."""
    from ray.exceptions import AuthenticationError

    try:
        return client.get_job_info(job_id)
    except AuthenticationError as exc:
        raise ClusterError(f"{_first_line(exc)}. {AUTH_HINT}") from exc
    except RuntimeError as exc:
        if "404" in str(exc) or "does not exist" in str(exc):
            raise ClusterError(
                f"no job {job_id!r} on {client.get_address()}; list the cluster's jobs with "
                f"`ray job list --address {client.get_address()}`"
            ) from exc
        raise


def wait_for(client, job_id: str, timeout_s: float | None = None, poll_s: float = 1.0):
    """Poll until the job reaches a terminal status; returns its ``JobDetails``."""
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    while True:
        info = job_info(client, job_id)
        if str(info.status) in TERMINAL_STATUSES:
            return info
        if deadline is not None and time.monotonic() > deadline:
            raise TimeoutError(
                f"job {job_id} is still {info.status} after {timeout_s:.0f} s; it keeps running on the "
                f"cluster (follow it with `ddnm-batch logs {job_id} --follow`)"
            )
        time.sleep(poll_s)


def follow_logs(client, job_id: str, write: Callable[[str], object]) -> None:
    """Stream the job's log to ``write`` until the job ends (Ray's websocket tail)."""
    import asyncio

    job_info(client, job_id)  # a clear error for an unknown id, before opening the socket

    async def pump() -> None:
        async for chunk in client.tail_job_logs(job_id):
            write(chunk)

    asyncio.run(pump())


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
