"""Compositions A = B ∘ C whose pseudo-inverse provably factors, e.g. the old photo: inpaint ∘ colorize.

Theorem (e.g. Greville 1966): if C has orthonormal rows up to a scale, C Cᵀ = c I, then (B C)⁺ = C⁺ B⁺.
Proof sketch: C⁺ = Cᵀ/c, so (BC)(C⁺B⁺)(BC) = B B⁺ B C = BC, (C⁺B⁺)(BC)(C⁺B⁺) = C⁺ B⁺ B B⁺ = C⁺B⁺,
BC C⁺ B⁺ = B B⁺ is symmetric, and C⁺ B⁺ B C = Cᵀ (B⁺B) C / c is symmetric. Without that condition
(AB)⁺ ≠ B⁺A⁺ in general, so other compositions are refused.

When B = diag(d) (a mask, U_B = V_B = I) and C = U_C Σ_C V_Cᵀ with U_C the identity on C's flattened
measurement, A = B C = I · diag(d ⊙ s_C) · V_Cᵀ is already an SVD: I and V_C are orthogonal and
d ⊙ s_C ≥ 0. For the old photo (d = mask, C = colorize) that is U = I on the gray pixels,
Σ = mask/√3 and V = colorize's V. Other accepted compositions expose A, A⁺ and Aᵀ only.
"""

from __future__ import annotations

import torch

from .base import LinearOperator, SVDOperator
from .colorize import Colorize
from .inpaint import Inpaint


class Compose(SVDOperator):
    """A x = outer.A(inner.A(x)), with A⁺ = inner.A_pinv ∘ outer.A_pinv (valid: inner C Cᵀ = c I)."""

    def __init__(self, outer: LinearOperator, inner: LinearOperator):
        if inner.row_gram is None:
            raise ValueError(
                f"cannot compose {type(outer).__name__} ∘ {type(inner).__name__}: the pseudo-inverse factors "
                "only when the inner operator has orthonormal rows up to a scale (colorize, sr_avgpool, cs, denoise)"
            )
        inner_y = tuple(inner.y_shape())
        if inner_y != tuple(outer.x_shape):
            raise ValueError(
                f"cannot compose {type(outer).__name__} ∘ {type(inner).__name__}: the inner operator measures "
                f"{inner_y} but the outer one takes images of shape {tuple(outer.x_shape)}; build the outer "
                f"operator with x_shape={inner_y}"
            )
        super().__init__(inner.x_shape)
        self.outer, self.inner = outer, inner
        self._has_svd = (
            isinstance(inner, SVDOperator) and inner.u_is_flatten and isinstance(outer, SVDOperator) and outer.is_diagonal
        )

    def y_shape(self) -> tuple[int, ...]:
        return tuple(self.outer.y_shape())

    def A(self, x):  # noqa: N802
        return self.outer.A(self.inner.A(x))

    def A_pinv(self, y):  # noqa: N802
        return self.inner.A_pinv(self.outer.A_pinv(y))

    def A_adjoint(self, y):  # noqa: N802
        return self.inner.A_adjoint(self.outer.A_adjoint(y))

    def rows(self, index) -> Compose:
        """Both factors taken for rows ``index`` (the old photo's mask per image; colorize is shared)."""
        outer, inner = self.outer.rows(index), self.inner.rows(index)
        if outer is self.outer and inner is self.inner:
            return self
        return self.with_rows_of(Compose(outer, inner))

    def _need_svd(self) -> None:
        if not self._has_svd:
            raise NotImplementedError(
                f"{type(self.outer).__name__} ∘ {type(self.inner).__name__} has no factored SVD; "
                "use DDNM (sigma_y = 0) or the scalar DDNM+ fallback"
            )

    @property
    def singulars(self) -> torch.Tensor:
        self._need_svd()
        s_inner = self.inner.singulars
        mask = self.outer.singulars  # (m,) or (B, m): the diagonal outer operator
        return mask.to(s_inner.dtype) * s_inner

    def V(self, z):  # noqa: N802
        self._need_svd()
        return self.inner.V(z)

    def V_t(self, x):  # noqa: N802
        self._need_svd()
        return self.inner.V_t(x)

    def U(self, z):  # noqa: N802
        self._need_svd()
        return self.outer.U(z)

    def U_t(self, y):  # noqa: N802
        self._need_svd()
        return self.outer.U_t(y)


def old_photo(x_shape: tuple[int, int, int], mask) -> Compose:
    """Old photo: colorize a gray scan and fill its damaged pixels (mask 1 = intact), y of shape (B, 1, H, W).

    ``mask`` is (H, W), (1, H, W) or per image (B, 1, H, W).
    """
    _, h, w = x_shape
    return Compose(Inpaint((1, h, w), mask), Colorize(x_shape))
