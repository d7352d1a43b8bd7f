"""Colorization: y = mean over channels (DDNM §4, "gray = channel mean")."""

from __future__ import annotations

import torch

from .base import SVDOperator


def mean_direction_basis(c: int, dtype=torch.float64) -> torch.Tensor:
    """Orthonormal c×c basis whose first column is (1, …, 1)/√c (QR of [1 | I])."""
    m = torch.cat([torch.ones(c, 1, dtype=dtype), torch.eye(c, dtype=dtype)[:, : c - 1]], dim=1)
    q, r = torch.linalg.qr(m)
    return q * torch.sign(torch.diagonal(r))[None, :]


class Colorize(SVDOperator):
    """A x = (1/C) Σ_c x_c per pixel, y of shape (B, 1, H, W).

    SVD per pixel: V's first direction is (1,…,1)/√C with singular value 1/√C; U is the identity.

    >>> op = Colorize((3, 4, 4))
    >>> x = torch.rand(2, 3, 4, 4)
    >>> bool(torch.allclose(op.A(op.A_pinv(op.A(x))), op.A(x)))
    True
    """

    row_gram = None  # set per instance: 1/C
    u_is_flatten = True

    def __init__(self, x_shape: tuple[int, int, int]):
        super().__init__(x_shape)
        c = self.x_shape[0]
        self.register_buffer("basis", mean_direction_basis(c), persistent=False)
        self.row_gram = 1.0 / c

    @property
    def singulars(self) -> torch.Tensor:
        _, h, w = self.x_shape
        return torch.full((h * w,), self.x_shape[0] ** -0.5, dtype=self.basis.dtype, device=self.basis.device)

    def A(self, x):  # noqa: N802
        return x.mean(dim=1, keepdim=True)

    def A_pinv(self, y):  # noqa: N802
        return y.expand(-1, self.x_shape[0], -1, -1).clone()

    def A_adjoint(self, y):  # noqa: N802
        return self.A_pinv(y) / self.x_shape[0]

    def V_t(self, x):  # noqa: N802
        return torch.einsum("bchw,ck->bkhw", x, self.cached("basis", x, lambda: self.basis)).flatten(1)

    def V(self, z):  # noqa: N802
        z = z.view(z.shape[0], *self.x_shape)
        return torch.einsum("bkhw,ck->bchw", z, self.cached("basis", z, lambda: self.basis))

    def U_t(self, y):  # noqa: N802
        return y.flatten(1)

    def U(self, z):  # noqa: N802
        return z.view(z.shape[0], 1, *self.x_shape[1:])
