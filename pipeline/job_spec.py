"""Job settings as JSON: how a submitted run carries its :class:`JobSettings` to the cluster.

The submitting machine writes ``to_json(settings)`` into the job's entrypoint; the entrypoint
(``python -m pipeline.entrypoints.run_job --settings JSON``) rebuilds the same settings with :func:`from_json`.
The entrypoint is shown on the Ray dashboard, so :func:`check_no_credentials` refuses storage
options that hold secrets: the cluster takes its credentials from its own environment.
"""

from __future__ import annotations

import dataclasses
import json

from .settings import JobSettings, RestoreSettings

# fsspec/s3fs/gcsfs/adlfs option names that carry a secret; any name containing one is refused.
SECRET_WORDS = ("key", "secret", "token", "password", "credential", "sas", "signature")


def to_json(settings: JobSettings) -> str:
    """Canonical JSON (sorted keys, no spaces): equal settings give equal text."""
    return json.dumps(dataclasses.asdict(settings), sort_keys=True, separators=(",", ":"))


def from_json(text: str, **overrides) -> JobSettings:
    """Settings from JSON written by :func:`to_json` (or by hand: omitted fields keep defaults; the flat names of
    jobs written before ``restore`` existed, such as ``steps`` or ``model``, still work)."""
    try:
        values = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"--settings must be a JSON object, got invalid JSON ({exc.msg} at char {exc.pos})") from exc
    if not isinstance(values, dict):
        raise ValueError(f"--settings must be a JSON object of JobSettings fields, got a {type(values).__name__}")
    values = {**values, **overrides}
    if isinstance(values.get("restore"), dict):
        values["restore"] = restore_from_data(values["restore"])
    try:
        return JobSettings.of(**values)
    except TypeError as exc:
        raise ValueError(f"unknown job setting(s): {exc}") from exc


def restore_from_data(data: dict) -> RestoreSettings:
    """The ``RestoreSettings`` that ``dataclasses.asdict`` turned into ``data``, checked by its dataclasses."""
    from ddnm.guidance_params import guidance_params_for
    from ddnm.settings import ModelSpec, SamplerSettings, TileSettings

    data = dict(data)
    sampler = dict(data.pop("sampler", {}))
    params = sampler.pop("guidance_params", None)
    if params is not None:
        sampler["guidance_params"] = guidance_params_for(sampler.get("guidance", "ddnm"), params)
    return RestoreSettings(sampler=SamplerSettings(**sampler), tiles=TileSettings(**data.pop("tiles", {})),
                           model=ModelSpec(**data.pop("model", {})), **data)  # fmt: skip


def check_no_credentials(storage_options: dict, where: str = "storage options") -> None:
    """Refuse option names that look like secrets (they would be visible on the dashboard)."""
    found = sorted(_secret_names(storage_options))
    if found:
        raise ValueError(
            f"{where} {found} look like credentials; a submitted job's settings are visible on the Ray "
            "dashboard, so they must not hold secrets. Give the cluster its credentials through its "
            "environment instead (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY from a Kubernetes Secret, or an "
            "instance/IRSA role) and keep only non-secret options such as endpoint_url here"
        )


def _secret_names(options, prefix: str = "") -> list[str]:
    names = []
    if isinstance(options, dict):
        for name, value in options.items():
            path = f"{prefix}{name}"
            if any(word in str(name).lower() for word in SECRET_WORDS):
                names.append(path)
            names += _secret_names(value, prefix=path + ".")
    return names
