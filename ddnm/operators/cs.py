"""Block compressed sensing: each b×b block of each channel measured by rows of a random orthogonal matrix."""

from __future__ import annotations

import numbers

import torch
import torch.nn.functional as F

from .base import SVDOperator


class BlockCS(SVDOperator):
    """y = Φ x_block per channel and block, Φ the first m = round(ratio·b²) rows of a seeded orthogonal
    b²×b² matrix Q; y of shape (B, C·m, H/b, W/b). Rows are orthonormal: singular values 1, U = I
    (the flattened y), V = Q per block with the m measured directions first, in y's flat order.

    >>> op = BlockCS((1, 8, 8), ratio=0.25, block=4)
    >>> x = torch.randn(1, 1, 8, 8, dtype=torch.float64)
    >>> op.A(x).shape, bool(torch.allclose(op.A(op.A_pinv(op.A(x))), op.A(x)))
    (torch.Size([1, 4, 2, 2]), True)
    """

    u_is_flatten = True
    row_gram = 1.0

    def __init__(self, x_shape: tuple[int, int, int], ratio: float = 0.25, block: int = 8, seed: int = 0):
        super().__init__(x_shape)
        c, h, w = self.x_shape
        if isinstance(ratio, bool) or not isinstance(ratio, numbers.Real) or not 0 < ratio <= 1:
            raise ValueError(f"cs ratio must be a number in (0, 1] (fraction of measurements kept), got {ratio!r}")
        if isinstance(block, bool) or not isinstance(block, numbers.Integral) or block < 1:
            raise ValueError(f"cs block must be a positive integer (pixels per block side), got {block!r}")
        if h % block or w % block:
            raise ValueError(
                f"cs block {block} must divide image size {h}×{w}; pad to {h + -h % block}×{w + -w % block} "
                "or pick another block"
            )
        if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
            raise ValueError(f"cs seed must be an integer, got {seed!r}")
        block = int(block)
        self.block, self.m = block, max(1, round(ratio * block * block))
        g = torch.Generator().manual_seed(seed)
        q, r = torch.linalg.qr(torch.randn(block * block, block * block, generator=g, dtype=torch.float64))
        self.register_buffer("Q", q * torch.sign(torch.diagonal(r))[None, :], persistent=False)  # columns = rows of Φ

    @property
    def singulars(self) -> torch.Tensor:
        c, h, w = self.x_shape
        k = c * self.m * (h // self.block) * (w // self.block)
        return torch.ones(k, dtype=self.Q.dtype, device=self.Q.device)

    def _coords(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) → (B, C, b², L) block coordinates in Q's basis."""
        b, c, h, w = x.shape
        cols = F.unfold(x.reshape(b * c, 1, h, w), self.block, stride=self.block)  # (B·C, b², L)
        return (self.Q.to(x.dtype).T @ cols).view(b, c, self.block**2, -1)

    def _from_coords(self, coords: torch.Tensor) -> torch.Tensor:
        b, c = coords.shape[:2]
        _, h, w = self.x_shape
        cols = (self.Q.to(coords.dtype) @ coords.reshape(b * c, self.block**2, -1))
        return F.fold(cols, (h, w), self.block, stride=self.block).view(b, c, h, w)

    def A(self, x):  # noqa: N802
        _, h, w = self.x_shape
        coords = self._coords(x)[:, :, : self.m]
        return coords.reshape(x.shape[0], -1, h // self.block, w // self.block)

    def A_pinv(self, y):  # noqa: N802
        b = y.shape[0]
        c = self.x_shape[0]
        coords = y.new_zeros(b, c, self.block**2, y.shape[-1] * y.shape[-2])
        coords[:, :, : self.m] = y.reshape(b, c, self.m, -1)
        return self._from_coords(coords)

    A_adjoint = A_pinv

    def V_t(self, x):  # noqa: N802
        coords = self._coords(x)
        # measured directions first, flattened exactly like y, so U is the identity on y.flatten(1)
        return torch.cat([coords[:, :, : self.m].flatten(1), coords[:, :, self.m :].flatten(1)], dim=1)

    def V(self, z):  # noqa: N802
        c, h, w = self.x_shape
        blocks = (h // self.block) * (w // self.block)
        k = c * self.m * blocks
        measured = z[:, :k].reshape(z.shape[0], c, self.m, blocks)
        rest = z[:, k:].reshape(z.shape[0], c, self.block**2 - self.m, blocks)
        return self._from_coords(torch.cat([measured, rest], dim=2))

    def U_t(self, y):  # noqa: N802
        return y.flatten(1)

    def U(self, z):  # noqa: N802
        c, h, w = self.x_shape
        return z.reshape(z.shape[0], c * self.m, h // self.block, w // self.block)
