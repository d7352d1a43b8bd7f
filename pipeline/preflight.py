"""Checks made before any work (before Ray starts): can OUT be written, does the model load.

Each refuses with :class:`PreflightError` (a ``ValueError``: the CLI prints its one line and exits 2), so a
job that could never record its results does not restore anything first. OUT is checked by creating and
removing a hidden probe object under ``OUT/images`` and ``OUT/metadata`` (local folder or object store);
the model by loading it once on the CPU, as ``ddnm-batch restore`` does, which also gives the weights hash
and the η in force for the resume fingerprint (:mod:`pipeline.fingerprint`).
"""

from __future__ import annotations

import errno
import os
import uuid
from dataclasses import dataclass, field, replace
from collections.abc import Iterable
from typing import TYPE_CHECKING

from . import io
from .settings import OUTPUT_SUFFIXES

if TYPE_CHECKING:
    from ddnm.settings import RestoreSettings

# A probe retries a transient error only briefly: an endpoint unreachable at the start is most likely wrong.
PROBE_RETRY_S = 5.0
PROBE_BYTES = bytes(4096)  # not empty: an empty file fits even on a full disk, where no image would
MODEL_ERRORS = (FileNotFoundError, ValueError, NotImplementedError, ImportError, IsADirectoryError)


class PreflightError(ValueError):
    """The job cannot start; the message says why and what to change."""


@dataclass(frozen=True, slots=True)
class ModelIdentity:
    """What the output depends on in the model: the weights and the configuration read beside them."""

    name: str
    weights_sha256: str
    eta: float | None  # the η in force (the prior's recommendation when the job leaves it unset)
    config: dict = field(default_factory=dict)  # arch, window, schedule, hparams
    sampling: dict = field(default_factory=dict)  # the prior's recommendations (steps in force when unset)
    # The prior that colours colorize / old_photo at the working size when it is not this one (the bundled prior's
    # companion ddnm-colour-32): its weights and recommendations; {} when colour stays with this prior.
    colour: dict = field(default_factory=dict)


def why(exc: BaseException) -> str:
    """One readable line for a storage error (no traceback, no class name soup)."""
    if isinstance(exc, NotADirectoryError) or getattr(exc, "errno", None) == errno.ENOTDIR:
        return f"{exc.filename or 'a part of the path'} is a file, not a folder"
    if isinstance(exc, FileExistsError):
        return f"{exc.filename} is a file, not a folder"
    if isinstance(exc, OSError) and exc.errno == errno.EROFS:
        return f"read-only file system ({exc.filename})"
    if isinstance(exc, PermissionError):
        return f"permission denied ({exc.filename})"
    if isinstance(exc, FileNotFoundError) and exc.filename:
        return f"{os.path.dirname(str(exc.filename))} does not exist and cannot be created"
    text = (str(exc).strip().splitlines() or [""])[0]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def probe_folder(dir_uri: str, storage_options: dict | None = None) -> None:
    """Create and remove a hidden probe object in ``dir_uri``; raises the storage error if either fails."""
    probe = io.join(dir_uri, f".probe-{uuid.uuid4().hex}")
    with io.retry_budget(PROBE_RETRY_S):
        io.write_bytes_atomic(probe, PROBE_BYTES, storage_options)
        io.remove(probe, storage_options)


def output_problem(out_uri: str, storage_options: dict | None = None) -> str | None:
    """Why results cannot be written under ``out_uri`` (images and metadata), or ``None``."""
    for folder in (io.images_dir(out_uri), io.join(out_uri, "metadata")):
        try:
            probe_folder(folder, storage_options)
        except Exception as exc:  # noqa: BLE001 - any failure means the folder cannot take results
            return why(exc)
    return None


def check_output(out_uri: str, storage_options: dict | None = None) -> None:
    """Refuse an OUT that cannot take the images and the ledger."""
    if (problem := output_problem(out_uri, storage_options)) is not None:
        raise PreflightError(f"cannot write results under {out_uri}: {problem}; choose a writable --out "
                             "(or check the storage options and endpoint)")


def output_format_of(uri: str) -> str:
    """``tiff`` for an output file named ``.tif``/``.tiff``, else ``png`` (what ``ddnm-batch restore OUT`` writes)."""
    return OUTPUT_SUFFIXES.get(os.path.splitext(uri)[1].lower(), "png")


def check_output_file(uri: str, storage_options: dict | None = None) -> None:
    """Refuse an output file path whose folder cannot be written, or whose name promises another format than the
    PNG or TIFF that is written (``ddnm-batch restore OUT``: a ``.jpg`` holding PNG bytes misleads)."""
    if io.is_local(uri) and os.path.isdir(os.path.expanduser(uri)):
        raise PreflightError(f"cannot write {uri}: it is a folder; give a file name such as {uri.rstrip('/')}/out.png")
    stem, suffix = os.path.splitext(uri)
    if suffix and suffix.lower() not in OUTPUT_SUFFIXES:
        raise PreflightError(f"cannot write {uri}: the restored image is a PNG or a TIFF (lossless, with its "
                             f"provenance, 16 bits for a 16-bit scan); name it {stem}.png or {stem}.tif")
    try:
        probe_folder(io.parent(uri), storage_options)
    except Exception as exc:  # noqa: BLE001
        raise PreflightError(f"cannot write {uri}: {why(exc)}; choose a writable output path") from exc


def check_model(restore: RestoreSettings, ops: Iterable[str] = ()) -> ModelIdentity:
    """Load ``restore.model`` ('bundled', 'ffdnet', a weights path or a diffusers folder) once on the CPU and
    resolve the settings against it (``RestoreSettings.for_model``): a setting that the prior's recommendations
    make invalid (``--travel-length 30`` with the bundled prior's 20 steps) is refused here, before Ray starts,
    by the check the sampler runs; also for each of the job's operators ``ops``, whose task the prior may
    recommend other settings for (``--travel-length 10`` with SR's 5 steps)."""
    from ddnm.models.sd3 import is_diffusers_folder

    spec = restore.model
    if spec.path is not None and is_diffusers_folder(spec.path):  # gigabytes: checked, not loaded, on the driver
        return ModelIdentity(name=str(spec.path), weights_sha256="", eta=restore.sampler.eta,
                             config={"folder": os.path.abspath(spec.path)})  # fmt: skip
    try:
        prior = replace(spec, compile=False, channels_last=False).load(device="cpu")  # identity only: no compile
    except MODEL_ERRORS as exc:
        raise PreflightError(f"cannot use --model {spec.label}: {(str(exc).splitlines() or [repr(exc)])[0]}") from exc
    try:
        resolved = restore.for_model(prior)
    except ValueError as exc:
        raise PreflightError(f"invalid settings for {prior.info.name}: {exc}") from exc
    for op in sorted(set(ops)):
        _check_task(restore, prior, op)
    info = prior.info
    extra = {k: v for k, v in (info.extra or {}).items() if k != "file"}
    config = {"arch": info.arch, "image_size": info.image_size, **extra}
    return ModelIdentity(name=info.name, weights_sha256=info.weights_sha256, eta=resolved.sampler.eta, config=config,
                         sampling=dict(info.sampling or {}), colour=colour_identity(prior, restore))  # fmt: skip


def _check_task(restore: RestoreSettings, prior, op: str) -> None:
    """The sampler settings resolved for one operator's task, by the prior that samples it (colour: its companion,
    unless ``work_size`` is 0), refused as the sampler would refuse them."""
    from ddnm.operators.registry import spec
    from ddnm.restoration import sampling_prior

    sampler_prior = sampling_prior(prior, spec(op).removes_colour, restore.work_size)  # ops: validated names
    try:
        restore.sampler.for_model(sampler_prior, op)
    except ValueError as exc:
        raise PreflightError(f"invalid settings for {op} with {sampler_prior.info.name}: {exc}") from exc


def colour_identity(prior, restore: RestoreSettings) -> dict:
    """The colour companion's weights hash and recommendations, if colour tasks go to one ({} otherwise)."""
    from ddnm.models.companion import load_colour_companion

    if restore.work_size == 0:  # colour restored at full size by the main prior itself
        return {}
    companion = load_colour_companion(prior)
    if companion is prior:
        return {}
    info = companion.info
    return {"name": info.name, "weights_sha256": info.weights_sha256, "sampling": dict(info.sampling or {}),
            "colour": dict(getattr(info, "colour", None) or {})}
