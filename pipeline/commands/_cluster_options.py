"""Options and error handling shared by the commands that talk to a Ray cluster's Jobs API."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

ADDRESS_HELP = (
    "Ray Jobs API (dashboard) address, e.g. http://head:8265. Default: $RAY_API_SERVER_ADDRESS, "
    "$RAY_ADDRESS, else http://127.0.0.1:8265. With token auth, set RAY_AUTH_MODE=token and "
    "RAY_AUTH_TOKEN or RAY_AUTH_TOKEN_PATH."
)
Address = Annotated[str | None, typer.Option("--address", help=ADDRESS_HELP)]
JobId = Annotated[str, typer.Argument(help="Submission id (as printed by submit) or Ray job id.")]

EXIT_CLUSTER = 3  # the cluster could not be reached, refused the token, or has no such job


def fail(console: Console, message: str, code: int = EXIT_CLUSTER) -> typer.Exit:
    """Print ``message`` as an error and return the Exit to raise."""
    console.print(f"[red]error:[/red] {message}", markup=True, highlight=False)
    return typer.Exit(code)


def cluster_errors():
    """The exception types that mean "the cluster said no" (imported lazily: ray is heavy)."""
    from ray.exceptions import AuthenticationError

    from ..cluster import ClusterError

    return (ClusterError, AuthenticationError, ConnectionError, TimeoutError)
