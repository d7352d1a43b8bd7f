"""Packing work of one shape into network batches up to a budget, independently of how the caller batched it.

K posterior samples of a batch of B images are K·B independent runs of the same shape: with ``max_batch`` images per
network call, ``samples_per_call`` of them run together as one batch of c·B rows (row j·B + i is sample k0 + j of
image i, with that sample's own seed). Every row keeps its own noise stream (``ddnm.ddim.randn_like``) and the
sampler treats rows independently, so a row's result does not depend on what it was packed with, beyond the float
rounding of a batched convolution.

A batch of more than ``max_batch`` images is split into parts (``row_parts``) restored one after another. Per-image
parameters (an inpainting mask per image) follow their rows through ``LinearOperator.rows``, so images with
different masks share one network batch and each comes out as it would alone.
"""

from __future__ import annotations

import torch

from .operators.base import LinearOperator


def row_parts(batch: int, max_batch: int | None) -> list[slice]:
    """The batch's rows in parts of at most ``max_batch`` (one part, the whole batch, for None): a batch larger
    than a network call is restored part after part, each part with its own rows' operator (``op.rows(part)``)."""
    if max_batch is None or batch <= max_batch:
        return [slice(0, batch)]
    if max_batch < 1:
        raise ValueError(f"max_batch must be >= 1 images per network call, got {max_batch}")
    return [slice(start, min(start + max_batch, batch)) for start in range(0, batch, max_batch)]


def samples_per_call(batch: int, samples: int, max_batch: int | None) -> int:
    """How many posterior samples of a ``batch`` run in one sampler call: as many as fit in ``max_batch`` rows
    (at least one; ``None`` keeps one sample per call, the memory of a single run)."""
    if max_batch is None:
        return 1
    if max_batch < 1:
        raise ValueError(f"max_batch must be >= 1 images per network call, got {max_batch}")
    return max(1, min(samples, max_batch // batch))


def repeat_batch(op: LinearOperator, batch: int, copies: int) -> LinearOperator:
    """The operator for ``copies`` stacked copies of its ``batch`` rows (rows j·B + i measure like row i).

    ``op.rows`` repeats per-image parameters (inpainting masks, also inside ``old_photo``'s composition); an
    operator whose parameters the batch shares is returned as is.
    """
    return op if copies == 1 else op.rows(list(range(batch)) * copies)


def repeat_rows(t: torch.Tensor | None, copies: int) -> torch.Tensor | None:
    """``copies`` stacked copies of a batch tensor (``None`` stays ``None``)."""
    # copies == 1 is the tensor itself (it once returned None there, which dropped every caller's x_init)
    return t if t is None or copies == 1 else t.repeat(copies, *([1] * (t.dim() - 1)))
