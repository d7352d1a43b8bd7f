"""The resume key's settings part: one hash of every setting a restored image depends on.

A row is skipped on a re-run only when the same id was restored ``ok`` from the same input bytes
(``input_sha256``), the same mask bytes (``mask_sha256``) and the same settings (``settings_sha256``,
this module), and its image is still there; otherwise it is restored again and the ledger keeps both
attempts. The fingerprint is derived from the settings object itself: every field counts except the
operational ones named in :data:`OPERATIONAL` (where files are, how many actors, which device...), so a
setting added later is part of the key without anyone remembering to list it. The model enters as its
weights hash and configuration (not its path), η as the value in force, and each row adds its operator
and parameters. The job seed is included; each row's seed derives from it and the id.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json

from .preflight import ModelIdentity

# Fields that change how or where a job runs, not what a restored image looks like. ``op`` is the default
# for rows without one (the row's own op is hashed instead); ``model`` is a path (its weights are hashed
# instead); ``eta`` may be None (the value in force is hashed instead). ``batch_size``/``fixed_batch``
# and ``device`` can move a few 8-bit values (float rounding), which is not worth redoing an archive for.
OPERATIONAL = frozenset({
    "manifest_uri", "out_uri", "op", "model", "eta", "batch_size", "fixed_batch", "num_actors", "device",
    "max_pixels", "storage_options", "preview", "actor_cpus", "num_cpus", "dashboard",
    "max_worker_crashes",
})  # fmt: skip
# Fields added after archives were restored, with the value every earlier job implicitly had: left out of the
# key at that value, so a resume after an upgrade still recognises the rows it restored before.
ADDED_LATER = {"convention": "paper", "work_size": None}
# Fields whose default changed spelling: ``samples`` None (since the colour working size: 1, or 8 for colour at the
# working size) is hashed as the 1 earlier jobs wrote, so their keys still match.
OLD_SPELLING = {"samples": (None, 1)}


def restoration_fields(settings) -> dict:
    """The settings' fields minus :data:`OPERATIONAL`, nested settings dataclasses included, as plain data."""
    out = {}
    for f in dataclasses.fields(settings):
        if f.name in OPERATIONAL:
            continue
        if f.name in ADDED_LATER and getattr(settings, f.name) == ADDED_LATER[f.name]:
            continue
        value = getattr(settings, f.name)
        if f.name in OLD_SPELLING and value == OLD_SPELLING[f.name][0]:
            value = OLD_SPELLING[f.name][1]
        out[f.name] = restoration_fields(value) if dataclasses.is_dataclass(value) else value
    return out


def canonical(value) -> str:
    """Stable text for hashing: sorted keys, no spaces; anything JSON lacks as its ``str``."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def job_fingerprint(settings, model: ModelIdentity) -> str:
    """sha256 of the job's restoration settings, the model's weights and configuration, and η in force."""
    fields = {
        **restoration_fields(settings),
        "model": {"weights_sha256": model.weights_sha256, "config": model.config},
        "eta": model.eta,
    }
    return hashlib.sha256(canonical(fields).encode("utf-8")).hexdigest()


def row_fingerprint(job: str, row) -> str:
    """A row's ``settings_sha256``: the job's fingerprint with the row's operator, params (canonical JSON) and
    whether it has a mask (the mask's bytes are compared separately, as ``mask_sha256``). ``row`` is a
    :class:`pipeline.manifest.ManifestRow` or a dict with those keys."""
    get = row.get if isinstance(row, dict) else lambda key: getattr(row, key)
    text = canonical([job, get("op"), get("params"), bool(get("mask_uri"))])
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
