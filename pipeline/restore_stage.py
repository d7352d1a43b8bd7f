"""The model step: a callable class that Ray Data runs in a pool of actors (one model per actor).

``RestoreStage(settings)`` loads the prior once; ``stage(batch)`` groups the batch's rows by
(operator, params, shape) into batched ``ddnm.restore`` calls (rows with different masks share a call: its
operator holds a mask per image) and returns a NEW dict of CPU NumPy columns. Without Ray it is an ordinary object: call it on a dict. Ray Data calls
``restore_in_parts`` instead (through :class:`pipeline.worker_crashes.GuardedRestoreStage`), a generator that
hands on each call's rows as soon as they are done, smallest images first (:mod:`pipeline.batch_plan`). How an
image is restored (windows, warm start, colour at a working size, K samples) is ``ddnm.restore``'s business; this
stage only moves rows.
"""

from __future__ import annotations

import hashlib
import os
import socket
import time
from collections import defaultdict
from collections.abc import Iterator

import numpy as np
import torch

import ddnm

from . import measurement
from .batch_plan import exceeds_window, plan_calls
from .ops import colour_strength_for
from .rows import RESTORED_COLUMNS, STATUS_OK, error_fields, from_rows, pack_array, to_rows, unpack_array
from .settings import JobSettings
from .telemetry import StageMetrics


def row_seed(job_seed: int, row_id: str) -> int:
    """A row's sampling seed from the job seed and its id (stable across runs, batches, machines)."""
    digest = hashlib.sha256(f"{job_seed}\x00{row_id}".encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") & (2**63 - 1)


def resolve_device(device: str) -> torch.device:
    """``auto`` picks CUDA when this process sees a GPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' was asked for but this worker sees no GPU; use --device cpu or auto")
    return torch.device(device)


class RestoreStage:
    """Ray actor UDF: decoded rows in, restored rows out."""

    def __init__(self, settings: JobSettings):
        self.settings = settings
        self.device = resolve_device(settings.device)
        self.model = settings.restore.model.load(device=self.device)
        self.resolved = settings.restore.for_model(self.model)  # steps and η in force, for the metadata
        self.worker = f"{socket.gethostname()}:{os.getpid()}"
        self.metrics = StageMetrics()

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Every row of the batch, in its order (for callers without Ray)."""
        rows = [self._start(row) for row in to_rows(batch)]
        for _ in self._restore_calls(rows):
            pass
        self.metrics.record(rows)
        return from_rows(rows, RESTORED_COLUMNS)

    def restore_in_parts(self, batch: dict[str, np.ndarray]) -> Iterator[dict[str, np.ndarray]]:
        """The batch's rows in parts, each as soon as it is done (:mod:`pipeline.batch_plan`): rows that failed
        before this stage, then each model call's rows, smallest images first."""
        rows = [self._start(row) for row in to_rows(batch)]
        for done in self._restore_calls(rows):
            part = [rows[i] for i in done]
            self.metrics.record(part)
            yield from_rows(part, RESTORED_COLUMNS)

    def _restore_calls(self, rows: list[dict]) -> Iterator[list[int]]:
        """Restore ``rows`` in place, one model call at a time; yields the indices each call finished."""
        failed = [index for index, row in enumerate(rows) if row["status"] != STATUS_OK]
        if failed:
            yield failed
        groups = defaultdict(list)
        for index, row in enumerate(rows):
            if row["status"] == STATUS_OK:
                groups[group_key(row)].append(index)
        for call in plan_calls(rows, list(groups.values()), self.model.info.image_size):
            self._restore_group(rows, call)
            yield call

    def _start(self, row: dict) -> dict:
        info = self.model.info
        out = {k: v for k, v in row.items() if k not in ("pixels_npy", "mask_npy")}
        out.update(
            model_name=info.name,
            weights_sha256=info.weights_sha256,
            steps=self.resolved.sampler.steps,
            eta=self.resolved.sampler.eta,
            seed=row_seed(self.settings.seed, row["id"]),
            worker=self.worker,
        )
        if row["status"] == STATUS_OK:
            out["_samples"] = unpack_array(row["pixels_npy"])
            out["_mask"] = unpack_array(row["mask_npy"]) if row["mask_npy"] else None
        return out

    def _restore_group(self, rows: list[dict], indices: list[int]) -> None:
        """One batched call; if it fails, retry row by row so one bad image fails alone."""
        started = time.time()
        try:
            x, residual, seams, tiles, spread, used = self._restore([rows[i] for i in indices])
        except Exception as exc:  # noqa: BLE001 - turned into error rows below
            if len(indices) > 1:
                for i in indices:
                    self._restore_group(rows, [i])
                return
            rows[indices[0]].update(error_fields(exc), restore_s=time.time() - started)
            return
        per_image = (time.time() - started) / len(indices)
        # the prior that sampled (colour: the main prior's colour companion) and the steps, η and warm start it ran with
        sampler = used.settings.sampler
        sampled_by = {"model_name": used.prior.name, "weights_sha256": used.prior.weights_sha256,
                      "steps": sampler.steps, "eta": sampler.eta, "start_t": sampler.start_t}  # fmt: skip
        estimated = _per_row(used.sigma_y, len(indices))  # NaN unless estimate_sigma_y: the run's sigma_y holds
        for j, i in enumerate(indices):
            restored = measurement.in_source_channels(x[j], rows[i]["_samples"].shape[0], rows[i]["op"])
            rows[i].update(restored_npy=pack_array(restored), consistency_residual=float(residual[j]),
                           seam_ratio=seams[j], tiles=tiles, restore_s=per_image, uncertainty=spread[j],
                           samples=used.samples, work_size=used.work_size, sigma_y=estimated[j],
                           colour_strength=colour_strength_for(rows[i]["op"], used.settings.colour_strength),
                           **sampled_by)  # fmt: skip

    @torch.inference_mode()
    def _restore(self, group: list[dict]):
        """(x, residual, seam ratios, tiles, uncertainties, the ``ddnm.Restoration`` itself) of one batch."""
        first = group[0]
        samples = [r["_samples"] for r in group]
        masks = [r["_mask"] for r in group]  # one per image: the operator holds them all (or the one they share)
        op, y = measurement.build(first["op"], first["params"], samples, masks, self.model.in_channels)
        seeds = [r["seed"] for r in group]
        count = len(group)
        alone = exceeds_window(first, self.model.info.image_size)  # always restored alone: no batch-mates to match
        alone = alone or self.settings.restore.estimate_sigma_y  # then every image is restored on its own anyway
        if self.settings.fixed_batch and count < self.settings.batch_size and not alone:
            # Pad with copies of the last image so the network always sees the same batch size
            # (see JobSettings.fixed_batch); the copies' results are dropped.
            padding = self.settings.batch_size - count
            y = torch.cat([y, y[-1:].expand(padding, *y.shape[1:])])
            seeds = seeds + [seeds[-1]] * padding
            op = op.rows([*range(count), *[count - 1] * padding])  # the copies' masks too
        y, op = y.to(self.device), op.to(self.device)
        out = ddnm.restore(y, op, self.model, self.settings.restore, seed=seeds)
        seams, spread = (_per_row(v, count) for v in (out.seam_ratio, out.uncertainty))
        x, residual = out.x[:count].float().cpu().numpy(), out.residual[:count].float().cpu().numpy()
        return x, residual, seams, out.tiles, spread, out


def _per_row(values: torch.Tensor | None, count: int) -> list[float]:
    """A per-image tensor as floats for the first ``count`` rows; NaN (null in the metadata) when absent."""
    return [float("nan")] * count if values is None else values[:count].float().cpu().tolist()


def group_key(row: dict) -> tuple:
    """Rows batch together when operator, params and image shape (and dtype) agree, whatever their masks: the
    batch's operator holds a mask per image. Rows with a mask and rows without stay apart (an operator takes a
    mask or not)."""
    samples = row["_samples"]
    return row["op"], row["params"], row["_mask"] is not None, samples.shape, str(samples.dtype)
