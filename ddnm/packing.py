"""Packing work of one shape into network batches up to a budget, independently of how the caller batched it.

K posterior samples of a batch of B images are K·B independent runs of the same shape: with ``max_batch`` images per
network call, ``samples_per_call`` of them run together as one batch of c·B rows (row j·B + i is sample k0 + j of
image i, with that sample's own seed). Every row keeps its own noise stream (``ddnm.ddim.randn_like``) and the
sampler treats rows independently, so a row's result does not depend on what it was packed with, beyond the float
rounding of a batched convolution.
"""

from __future__ import annotations

import torch

from .operators.base import LinearOperator
from .operators.compose import Compose
from .operators.inpaint import Inpaint


def samples_per_call(batch: int, samples: int, max_batch: int | None) -> int:
    """How many posterior samples of a ``batch`` run in one sampler call: as many as fit in ``max_batch`` rows
    (at least one; ``None`` keeps one sample per call, the memory of a single run)."""
    if max_batch is None:
        return 1
    if max_batch < 1:
        raise ValueError(f"max_batch must be >= 1 images per network call, got {max_batch}")
    return max(1, min(samples, max_batch // batch))


def repeat_batch(op: LinearOperator, copies: int) -> LinearOperator:
    """The operator for ``copies`` stacked copies of its batch (rows j·B + i measure like row i).

    Per-image parameters (inpainting masks with a batch dimension, also inside ``old_photo``'s composition) are
    repeated; every other registered operator has parameters shared by the whole batch and is returned as is.
    """
    if copies == 1:
        return op
    if isinstance(op, Inpaint):
        return op if op.mask.shape[0] == 1 else Inpaint(op.x_shape, op.mask.repeat(copies, 1, 1, 1))
    if isinstance(op, Compose):
        outer, inner = repeat_batch(op.outer, copies), repeat_batch(op.inner, copies)
        return op if (outer is op.outer and inner is op.inner) else Compose(outer, inner)
    return op


def repeat_rows(t: torch.Tensor | None, copies: int) -> torch.Tensor | None:
    """``copies`` stacked copies of a batch tensor (``None`` stays ``None``)."""
    # copies == 1 is the tensor itself (it once returned None there, which dropped every caller's x_init)
    return t if t is None or copies == 1 else t.repeat(copies, *([1] * (t.dim() - 1)))
