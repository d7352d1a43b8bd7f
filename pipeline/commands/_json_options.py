"""Command-line options that hold a JSON object (``--storage-options``, ``--params``): parsed once, one-line errors.

Shared by ``run``, ``restore``, ``submit``, ``scan`` and ``report``; it lives apart from any one command so that no
command imports another for it (``run`` and ``report`` used to import each other, issue 17).
"""

from __future__ import annotations

import json

import typer


def parse_json_object(text: str, option: str, example: str) -> dict:
    """A command-line option holding a JSON object (``--storage-options``, ``--params``), or a clear error."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise typer.BadParameter(f"{option} must be a JSON object, got invalid JSON ({exc.msg})") from exc
    if not isinstance(value, dict):
        kind = type(value).__name__
        raise typer.BadParameter(f"{option} must be a JSON object like {example}, got a {kind}")
    return value


def parse_storage_options(text: str) -> dict:
    """``--storage-options``: fsspec options such as ``{"endpoint_url": ...}``."""
    return parse_json_object(text, "--storage-options", '{"endpoint_url": ...}')
