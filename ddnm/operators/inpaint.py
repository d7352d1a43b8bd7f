"""Inpainting: y = m ⊙ x for a mask m (1 = known pixel), per pixel or per channel, optionally per image."""

from __future__ import annotations

import torch

from .base import DiagonalOperator


def _as_mask(mask, x_shape: tuple[int, int, int]) -> torch.Tensor:
    m = torch.as_tensor(mask, dtype=torch.float64)
    c, h, w = x_shape
    if m.dim() == 2:
        m = m[None]
    if m.dim() == 3:
        m = m[None]
    if m.dim() != 4 or tuple(m.shape[-2:]) != (h, w) or m.shape[1] not in (1, c):
        raise ValueError(
            f"inpaint mask of shape {tuple(torch.as_tensor(mask).shape)} does not fit images {x_shape}; "
            f"expected (H, W), (1|C, H, W) or (B, 1|C, H, W) with H×W = {h}×{w}"
        )
    if not torch.all((m == 0) | (m == 1)):
        raise ValueError("inpaint mask must be binary (1 = known pixel, 0 = missing); threshold it first")
    return m.expand(m.shape[0], c, h, w).contiguous()


class Inpaint(DiagonalOperator):
    """A x = m ⊙ x with y kept at full size (zeros where unknown): U = V = I, singulars = m.

    A mask with a leading batch dimension gives each image its own mask (``rows`` selects them).

    >>> op = Inpaint((1, 2, 2), [[1, 0], [0, 1]])
    >>> op.A(torch.ones(1, 1, 2, 2)).flatten().tolist()
    [1.0, 0.0, 0.0, 1.0]
    """

    def __init__(self, x_shape: tuple[int, int, int], mask):
        super().__init__(x_shape)
        # Stored in float32, the sampler's dtype (0/1 are exact in it), so A, A⁺ and Aᵀ at every step use it as is
        # instead of casting a float64 copy per call.
        self.register_buffer("mask", _as_mask(mask, self.x_shape).float())

    def y_shape(self) -> tuple[int, ...]:
        return self.x_shape  # y keeps the image shape; no probe, which per-image masks would refuse

    @property
    def singulars(self) -> torch.Tensor:
        m = self.mask.flatten(1)
        return m[0] if m.shape[0] == 1 else m

    def _m(self, like: torch.Tensor) -> torch.Tensor:
        m = self.mask.to(device=like.device, dtype=like.dtype)  # no copy when they already agree
        if m.shape[0] not in (1, like.shape[0]):
            raise ValueError(f"operator holds {m.shape[0]} masks but the batch has {like.shape[0]} images")
        return m

    def A(self, x):  # noqa: N802
        return self._m(x) * x

    A_pinv = A
    A_adjoint = A

    def rows(self, index) -> Inpaint:
        """The masks of rows ``index`` (one shared mask serves any rows)."""
        if self.mask.shape[0] == 1:
            return self
        return self.with_rows_of(Inpaint(self.x_shape, self.mask[_as_index(index, self.mask)]))


def _as_index(index, mask: torch.Tensor):
    """A slice as is; row numbers as a long tensor on the mask's device (a list indexes a tensor the same way)."""
    return index if isinstance(index, slice) else torch.as_tensor(index, dtype=torch.long, device=mask.device)
