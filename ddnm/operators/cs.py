"""Block compressed sensing: each b×b block of each channel measured by rows of a random orthogonal matrix."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .base import SVDOperator


class BlockCS(SVDOperator):
    """y = Φ x_block per channel and block, Φ the first m = round(ratio·b²) rows of a seeded orthogonal
    b²×b² matrix Q; y of shape (B, C·m, H/b, W/b). Rows are orthonormal: singular values 1, U = I,
    V = Qᵀ per block with the measured directions first."""

    u_is_flatten = True
    row_gram = 1.0

    def __init__(self, x_shape: tuple[int, int, int], ratio: float = 0.25, block: int = 8, seed: int = 0):
        super().__init__(x_shape)
        c, h, w = self.x_shape
        if not 0 < ratio <= 1:
            raise ValueError(f"cs ratio must be in (0, 1], got {ratio}")
        if h % block or w % block:
            raise ValueError(f"cs block {block} must divide image size {h}×{w}")
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
        return self._coords(x).permute(0, 2, 1, 3).flatten(1)  # measured directions (first m) first

    def V(self, z):  # noqa: N802
        c = self.x_shape[0]
        coords = z.view(z.shape[0], self.block**2, c, -1).permute(0, 2, 1, 3)
        return self._from_coords(coords)

    def U_t(self, y):  # noqa: N802
        b, c = y.shape[0], self.x_shape[0]
        return y.reshape(b, c, self.m, -1).permute(0, 2, 1, 3).flatten(1)

    def U(self, z):  # noqa: N802
        c, h, w = self.x_shape
        coords = z.view(z.shape[0], self.m, c, -1).permute(0, 2, 1, 3)
        return coords.reshape(z.shape[0], c * self.m, h // self.block, w // self.block)
