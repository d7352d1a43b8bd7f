"""Super-resolution: block-average and bicubic downsampling by an integer factor."""

from __future__ import annotations

import math
import numbers

import torch
import torch.nn.functional as F

from .base import SVDOperator
from .colorize import mean_direction_basis
from .functional import bicubic_matrix


def check_scale(scale: int, x_shape: tuple[int, int, int]) -> int:
    """The integer factor, or a ValueError saying how to fix it (must be ≥ 1 and divide H and W)."""
    _, h, w = x_shape
    is_number = isinstance(scale, numbers.Real) and not isinstance(scale, bool) and math.isfinite(scale)
    if not is_number or scale != int(scale) or scale < 1:
        raise ValueError(f"downsample scale must be a positive integer, got {scale!r}")
    scale = int(scale)
    if h % scale or w % scale:
        ph, pw = -h % scale, -w % scale
        raise ValueError(
            f"downsample factor {scale} must divide image size {h}×{w}; pad to {h + ph}×{w + pw} or pick another factor"
        )
    return scale


class AvgPool(SVDOperator):
    """y = s×s block average of each channel, y of shape (B, C, H/s, W/s).

    SVD per block: V's first direction is the constant block (1/s each), singular value 1/s; U = I.
    """

    u_is_flatten = True

    def __init__(self, x_shape: tuple[int, int, int], scale: int):
        super().__init__(x_shape)
        self.scale = check_scale(scale, self.x_shape)
        self.register_buffer("basis", mean_direction_basis(self.scale**2), persistent=False)
        self.row_gram = 1.0 / self.scale**2

    @property
    def singulars(self) -> torch.Tensor:
        c, h, w = self.x_shape
        k = c * (h // self.scale) * (w // self.scale)
        return torch.full((k,), 1.0 / self.scale, dtype=self.basis.dtype, device=self.basis.device)

    def A(self, x):  # noqa: N802
        return F.avg_pool2d(x, self.scale)

    def A_pinv(self, y):  # noqa: N802
        return y.repeat_interleave(self.scale, dim=2).repeat_interleave(self.scale, dim=3)

    def A_adjoint(self, y):  # noqa: N802
        return self.A_pinv(y) / self.scale**2

    def _blocks(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) → (B, C, h, w, s²)."""
        b, c, h, w = x.shape
        s = self.scale
        return x.view(b, c, h // s, s, w // s, s).permute(0, 1, 2, 4, 3, 5).reshape(b, c, h // s, w // s, s * s)

    def V_t(self, x):  # noqa: N802
        coords = self._blocks(x) @ self.cached("basis", x, lambda: self.basis)  # (B, C, h, w, s²)
        return coords.permute(0, 4, 1, 2, 3).flatten(1)  # block-mean coordinates first

    def V(self, z):  # noqa: N802
        c, h, w = self.x_shape
        s = self.scale
        coords = z.view(z.shape[0], s * s, c, h // s, w // s).permute(0, 2, 3, 4, 1)
        blocks = coords @ self.cached("basis", z, lambda: self.basis).T
        return blocks.view(z.shape[0], c, h // s, w // s, s, s).permute(0, 1, 2, 4, 3, 5).reshape(z.shape[0], c, h, w)

    def U_t(self, y):  # noqa: N802
        return y.flatten(1)

    def U(self, z):  # noqa: N802
        c, h, w = self.x_shape
        return z.view(z.shape[0], c, h // self.scale, w // self.scale)


class Bicubic(SVDOperator):
    """y = A_h X A_wᵀ per channel with the exact separable bicubic matrices (functional.bicubic_matrix).

    Keys a = −0.5 stretched by the factor, taps outside the image dropped and rows renormalised (PIL's
    border rule): the same as ``F.interpolate(x, scale_factor=1/s, mode="bicubic", antialias=True)``.

    SVD from the two 1-D SVDs (A_h = U_h S_h V_hᵀ): A = (U_h ⊗ U_w)(S_h ⊗ S_w)(V_h ⊗ V_w)ᵀ, so V_t(x) is
    V_hᵀ X V_w per channel with the top-left (H/s)×(W/s) block — the part Σ acts on — listed first.
    """

    def __init__(self, x_shape: tuple[int, int, int], scale: int):
        super().__init__(x_shape)
        self.scale = check_scale(scale, self.x_shape)
        c, h, w = self.x_shape
        for name, size in (("h", h), ("w", w)):
            a = bicubic_matrix(size, self.scale)
            u, s, vh = torch.linalg.svd(a, full_matrices=True)
            self.register_buffer(f"A_{name}", a, persistent=False)
            self.register_buffer(f"U_{name}", u, persistent=False)
            self.register_buffer(f"S_{name}", s, persistent=False)
            self.register_buffer(f"V_{name}", vh.T.contiguous(), persistent=False)
        top_left = torch.zeros(c, h, w, dtype=torch.bool)
        top_left[:, : h // self.scale, : w // self.scale] = True
        flat = top_left.flatten()
        order = torch.cat([flat.nonzero().flatten(), (~flat).nonzero().flatten()])
        self.register_buffer("order", order, persistent=False)
        self.register_buffer("inverse_order", torch.argsort(order), persistent=False)

    @property
    def singulars(self) -> torch.Tensor:
        return (self.S_h[:, None] * self.S_w[None, :]).flatten().repeat(self.x_shape[0])

    def A(self, x):  # noqa: N802
        return self.cached("A_h", x, lambda: self.A_h) @ x @ self.cached("A_w", x, lambda: self.A_w).T

    def A_adjoint(self, y):  # noqa: N802
        return self.cached("A_h", y, lambda: self.A_h).T @ y @ self.cached("A_w", y, lambda: self.A_w)

    def V_t(self, x):  # noqa: N802
        z = self.cached("V_h", x, lambda: self.V_h).T @ x @ self.cached("V_w", x, lambda: self.V_w)
        return z.flatten(1)[:, self.order]

    def V(self, z):  # noqa: N802
        grid = z[:, self.inverse_order].view(z.shape[0], *self.x_shape)
        return self.cached("V_h", z, lambda: self.V_h) @ grid @ self.cached("V_w", z, lambda: self.V_w).T

    def U_t(self, y):  # noqa: N802
        return (self.cached("U_h", y, lambda: self.U_h).T @ y @ self.cached("U_w", y, lambda: self.U_w)).flatten(1)

    def U(self, z):  # noqa: N802
        c, h, w = self.x_shape
        grid = z.view(z.shape[0], c, h // self.scale, w // self.scale)
        return self.cached("U_h", z, lambda: self.U_h) @ grid @ self.cached("U_w", z, lambda: self.U_w).T
