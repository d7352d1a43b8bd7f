"""Denoising: A = I (all the work is DDNM+'s noise handling, Eq. 17–19)."""

from __future__ import annotations

import torch

from .base import DiagonalOperator


class Denoise(DiagonalOperator):
    """A x = x; U = V = I, every singular value 1."""

    row_gram = 1.0

    def __init__(self, x_shape: tuple[int, int, int]):
        super().__init__(x_shape)
        self.register_buffer("ones", torch.ones(self.n, dtype=torch.float64), persistent=False)

    @property
    def singulars(self) -> torch.Tensor:
        return self.ones

    def A(self, x):  # noqa: N802
        return x.clone()

    def A_pinv(self, y):  # noqa: N802
        return y.clone()

    def A_adjoint(self, y):  # noqa: N802
        return y.clone()
