"""The resume key's settings part: one hash of every setting a restored image depends on.

A row is skipped on a re-run only when the same id was restored ``ok`` from the same input bytes
(``input_sha256``), the same mask bytes (``mask_sha256``) and the same settings (``settings_sha256``,
this module), and its image is still there; otherwise it is restored again and the ledger keeps both
attempts. The fingerprint is derived from ``JobSettings.restore`` (``ddnm.settings.RestoreSettings``), hashed
under the flat names jobs had before it, so earlier ledgers still match. The model enters as its
weights hash and configuration (not its path), η as the value in force, and each row adds its operator
and parameters. The job seed is included; each row's seed derives from it and the id.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json

from . import descriptive
from .preflight import ModelIdentity

# What a restored image depends on, under the names the key has hashed since before ``RestoreSettings`` (a flat
# ``JobSettings``), so the rows earlier jobs restored are still recognised. ``steps`` is the value in force (the
# prior's recommendation when unset); η and the model enter through :class:`ModelIdentity`. Where files are, how
# many actors, which device, batch sizes: operational, not hashed (a few 8-bit values may move with the batch).
# Fields added after archives were restored, with the value every earlier job implicitly had: left out of the
# key at that value, so a resume after an upgrade still recognises the rows it restored before.
ADDED_LATER = {"convention": "paper", "work_size": None, "start_t": None, "clip_x0": None, "latent_eta": None,
               "project_output": None, "dtype": "float32", "warm_start": None, "estimate_sigma_y": False,
               "colour_strength": 1.0}  # fmt: skip
# Fields of the settings dataclasses the key does not hash under their own name: the model's path, arch and preset
# (its weights and configuration are hashed instead), η (the value in force is, in ModelIdentity), the nested
# objects themselves, max_batch (how many samples share a network call; ddnm.packing keeps each sample's seeds),
# channels_last and compile (how the network runs: its memory layout, fused kernels; the same maths, rounded a
# little differently, as batch sizes are. Not hashed at all, so ``--channels-last``, the default for ε-networks, and
# leaving it out share a key, and switching ``--compile`` on for speed redoes nothing; rows a job restored with
# either flag when they were hashed are restored once more). dtype stays hashed: bf16 changes the output.
# tests/test_pipeline_metadata.py holds every other field to the key, so a field added later cannot be forgotten.
NOT_HASHED = frozenset({"path", "arch", "preset", "eta", "sampler", "tiles", "model", "max_batch", "channels_last",
                        "compile"})  # fmt: skip


def restoration_fields(settings, sampling: dict | None = None) -> dict:
    """The job's restoration settings as the key hashes them: the flat names above, nested tiling when it is not
    the default. ``sampling`` is the prior's recommendations (for ``steps`` and ``samples`` left unset)."""
    from ddnm.guidance_params import set_params
    from ddnm.settings import DEFAULT_STEPS, TileSettings

    restore, sampler = settings.restore, settings.restore.sampler
    steps = sampler.steps if sampler.steps is not None else int((sampling or {}).get("steps", DEFAULT_STEPS))
    # samples None is the prior's recommendation, hashed as the value in force for all tasks, as steps is (the
    # bundled prior's 1 is what jobs wrote before; colour's and a task's own recommendation: ``op_fingerprints``)
    samples = restore.samples if restore.samples is not None else int((sampling or {}).get("samples", 1))
    flat = {
        "steps": steps, "sigma_y": sampler.sigma_y, "travel_length": sampler.travel_length,
        "travel_repeat": sampler.travel_repeat, "guidance": sampler.guidance,
        "guidance_params": set_params(sampler.guidance_params), "convention": sampler.convention,
        "start_t": sampler.start_t, "clip_x0": sampler.clip_x0, "latent_lambda": restore.latent_lambda,
        "latent_eta": restore.latent_eta, "project_output": restore.project_output, "samples": samples,
        "work_size": restore.work_size, "dtype": restore.model.dtype, "seed": settings.seed,
        "estimate_sigma_y": restore.estimate_sigma_y,
        "colour_strength": restore.colour_strength,
        # A warm start began at A⁺y until it began at the task's classical estimate (bicubic, harmonic fill): rows
        # restored with a start_t under the old meaning are redone.
        "warm_start": None if sampler.start_t is None else "initial_image",
    }  # fmt: skip
    out = {}
    for name, value in flat.items():
        if name in ADDED_LATER and value == ADDED_LATER[name]:
            continue
        out[name] = value
    if restore.tiles != TileSettings():
        out["tiles"] = dataclasses.asdict(restore.tiles)
    return out


def canonical(value) -> str:
    """Stable text for hashing: sorted keys, no spaces; anything JSON lacks as its ``str``."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def job_fingerprint(settings, model: ModelIdentity) -> str:
    """sha256 of the job's restoration settings, the model's weights and configuration, and η in force."""
    fields = {
        **restoration_fields(settings, model.sampling),
        "model": {"weights_sha256": model.weights_sha256, "config": model.config},
        "eta": model.eta,
    }
    if getattr(settings, "output_format", "png") != "png":  # another file; PNG keeps the key jobs had before
        fields["output_format"] = settings.output_format
    return hashlib.sha256(canonical(fields).encode("utf-8")).hexdigest()


def in_force(recommended: dict, settings=None) -> dict:
    """The entries of a recommendation (a prior's ``sampling`` or ``colour`` block, or a task's entry) that the job
    leaves to the prior. A setting the job gives overrides its entry (``SamplerSettings.for_model``,
    ``RestoreSettings.for_model``), so that entry does not describe the output and must not stand in for the setting
    in the key: else ``--samples 1`` on colour, or ``--steps 20`` on SR, would share the default's key while
    restoring otherwise. ``settings`` None: all of it (as a job that sets nothing)."""
    from ddnm.settings import ETA_KEY

    if settings is None:
        return dict(recommended)
    restore = settings.restore
    sampler = restore.sampler
    given = {"steps": sampler.steps, "samples": restore.samples, "start_t": sampler.start_t,
             "work_size": restore.work_size, **{key: sampler.eta for key in ETA_KEY.values()}}  # fmt: skip
    return {key: value for key, value in recommended.items() if given.get(key) is None}


def colour_fingerprint(model: ModelIdentity, settings=None) -> str:
    """sha256 of the colour companion's weights and the recommendations in force (``ModelIdentity.colour``,
    :func:`in_force`); "" without one.

    Only colorize / old_photo rows depend on the colour prior, so only their keys add it (:func:`row_fingerprint`):
    new colour weights redo exactly those rows, and every other row keeps the key it had.
    """
    if not model.colour:
        return ""
    colour = dict(model.colour)
    for block in ("sampling", "colour"):
        if block in colour:
            colour[block] = in_force(colour[block], settings)
    return hashlib.sha256(canonical(colour).encode("utf-8")).hexdigest()


def op_fingerprints(model: ModelIdentity, settings=None) -> dict[str, str]:
    """What only some operators' rows depend on beyond the job, as one hash per operator name: the colour
    companion (:func:`colour_fingerprint`) for the operators that remove colour, and the prior's recommendation for
    a task (its config's ``sampling.tasks[op]``, e.g. more posterior samples for SR), each as far as ``settings``
    (the job's) leave it in force. Changing either redoes exactly the rows of those operators; an operator with
    neither keeps the key it had."""
    from ddnm.operators.registry import OPERATORS

    colour = colour_fingerprint(model, settings)
    tasks = dict((model.sampling or {}).get("tasks") or {})
    keys = {}
    for op in OPERATORS:
        parts = [colour] if colour and OPERATORS[op].removes_colour else []
        if task := in_force(tasks.get(op) or {}, settings):
            parts.append(hashlib.sha256(canonical({"sampling": task}).encode("utf-8")).hexdigest())
        if parts:  # a colour row with no task entry keeps the colour fingerprint alone, the key it had before
            keys[op] = parts[0] if len(parts) == 1 else hashlib.sha256(canonical(parts).encode("utf-8")).hexdigest()
    return keys


def row_fingerprint(job: str, row, op_keys: dict[str, str] | None = None) -> str:
    """A row's ``settings_sha256``: the job's fingerprint with the row's operator, params (canonical JSON) and
    whether it has a mask (the mask's bytes are compared separately, as ``mask_sha256``), and what its operator
    alone depends on (``op_keys``, :func:`op_fingerprints`: the colour prior for a colour row, a task's
    recommendation). ``row`` is a :class:`pipeline.manifest.ManifestRow` or a dict with those keys.
    Also the title, creator, rights and description the manifest gives the output (``pipeline.descriptive``), where
    it gives any: a corrected rights statement re-writes the image that carries it. And the file's image it restores
    where that is not the first (``file_page``): the verso is another picture than the recto. And whether the scan is
    a negative: its positive is another picture."""
    get = row.get if isinstance(row, dict) else lambda key: getattr(row, key)
    parts = [job, get("op"), get("params"), bool(get("mask_uri"))]
    if (op_keys or {}).get(get("op")):
        parts.append(op_keys[get("op")])
    if inherited := descriptive.from_manifest(get("extra")):
        parts.append(inherited)  # absent from rows without those columns: their fingerprints stay as they were
    if (page := int(get("file_page") or 0)) > 1:  # the first image keeps the key rows had before the column
        parts.append({"file_page": page})
    if get("negative"):  # a positive keeps the key rows had before the column
        parts.append({"negative": True})
    text = canonical(parts)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
