"""Linear degradation operators y = A x with a factored singular value decomposition.

Notation (DDNM arXiv:2212.00490, DDRM arXiv:2201.11793):

=================  ==========================================================
code               paper
=================  ==========================================================
``A(x)``           A x, the degradation
``A_pinv(y)``      A⁺ y, Moore–Penrose pseudo-inverse
``A_adjoint(y)``   Aᵀ y
``V_t(x)``         Vᵀ x, flattened to ``(B, n)`` with n = C·H·W
``V(z)``           V z, back to ``(B, C, H, W)``
``U_t(y)``         Uᵀ y, flattened to ``(B, k)``
``U(z)``           U z, back to the measurement's natural shape
``singulars``      diagonal of Σ, shape ``(k,)`` or ``(B, k)``; the first k
                   coordinates of ``V_t(x)`` are the ones Σ acts on
=================  ==========================================================

A = U Σ Vᵀ with U (m×m, m = k) and V (n×n) orthogonal, Σ = [diag(s) 0]. Zero singular
values are allowed (e.g. a blur kernel with spectral zeros): A⁺ zeroes them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

# Singular values at or below this are treated as zero by A⁺ (as deepinv's DecomposablePhysics).
SINGULAR_EPS = 1e-5

# Which rows of a batch an operator is taken for (``LinearOperator.rows``): a slice or the row indices.
RowIndex = slice | Sequence[int] | torch.Tensor


def _as_batch(t: torch.Tensor, batch: int) -> torch.Tensor:
    if t.dim() == 1:
        return t.expand(batch, -1)
    if t.shape[0] not in (1, batch):  # per-image singulars (per-image masks) must match the batch
        raise ValueError(f"operator holds {t.shape[0]} per-image singular sets but the batch has {batch} images")
    return t.expand(batch, -1)


class LinearOperator(nn.Module):
    """A linear map from images ``(B, C, H, W)`` to measurements in their natural shape.

    Parameters (masks, kernels, factors) are buffers fixed at construction, so ``.to(device)``
    moves them and an operator's behaviour never depends on earlier calls.

    ``row_gram`` is c when A Aᵀ = c I (orthogonal rows of equal norm), else None: such an operator
    can be the inner factor of a composition whose pseudo-inverse factors, (B A)⁺ = A⁺ B⁺.
    """

    row_gram: float | None = None

    def __init__(self, x_shape: tuple[int, int, int]):
        super().__init__()
        if len(x_shape) != 3 or min(x_shape) < 1:
            raise ValueError(f"x_shape must be (C, H, W) with positive sizes, got {x_shape}")
        self.x_shape = tuple(int(v) for v in x_shape)

    @property
    def n(self) -> int:
        c, h, w = self.x_shape
        return c * h * w

    def y_shape(self) -> tuple[int, ...]:
        """Shape of one measurement (no batch dimension)."""
        probe = torch.zeros((1, *self.x_shape), dtype=self._buffer_dtype(), device=self._buffer_device())
        return tuple(self.A(probe).shape[1:])

    def A(self, x: torch.Tensor) -> torch.Tensor:  # noqa: N802 (paper notation)
        raise NotImplementedError

    def A_pinv(self, y: torch.Tensor) -> torch.Tensor:  # noqa: N802
        raise NotImplementedError

    def A_adjoint(self, y: torch.Tensor) -> torch.Tensor:  # noqa: N802
        raise NotImplementedError

    def rows(self, index: RowIndex) -> LinearOperator:
        """The operator of the batch ``x[index]``: row j of it measures as row ``index[j]`` of this one.

        Splitting a batch into parts, repeating it for K posterior samples, padding it: every place that reshapes
        a batch reshapes its operator through this one method, never by reaching into a mask. An operator whose
        parameters the whole batch shares (a scale, a kernel, one mask) is its own answer; one with per-image
        parameters (``Inpaint`` with a mask per image) selects them.
        """
        return self

    def with_rows_of(self, op: LinearOperator) -> LinearOperator:
        """``op`` (this operator for other rows) keeping the name ``ddnm.operators.make`` registered this one
        under, so the rows warm start and are checked as the whole batch (``registry.name_of``)."""
        if op is not self and hasattr(self, "registered_name"):
            op.registered_name = self.registered_name
        return op

    def check_x(self, x: torch.Tensor) -> None:
        if x.dim() != 4 or tuple(x.shape[1:]) != self.x_shape:
            raise ValueError(
                f"{type(self).__name__} expects images of shape (B, {', '.join(map(str, self.x_shape))}), "
                f"got {tuple(x.shape)}"
            )

    def _buffer_dtype(self) -> torch.dtype:
        for b in self.buffers():
            if b.is_floating_point():
                return b.dtype
        return torch.get_default_dtype()

    def _buffer_device(self) -> torch.device:
        for b in self.buffers():
            return b.device
        return torch.device("cpu")

    def extra_repr(self) -> str:
        return f"x_shape={self.x_shape}"

    def cached(self, name: str, like: torch.Tensor, build: Callable[[], torch.Tensor]) -> torch.Tensor:
        """``build()`` in ``like``'s dtype and device, made on the first call and reused by the later ones.

        The sampler applies A, A⁺, Vᵀ, V several times a step, always in float32: the factors (float64 buffers)
        and Σ⁺ are cast or derived once per restore instead of at every call. The entry is rebuilt when ``.to()``
        has replaced the buffers, and kept apart under inference_mode (such tensors cannot enter autograd).
        """
        buffers = tuple(self.buffers())
        key = (name, like.dtype, like.device, torch.is_inference_mode_enabled())
        cache = self.__dict__.setdefault("_cast_cache", {})
        hit = cache.get(key)
        if hit is None or len(hit[0]) != len(buffers) or any(a is not b for a, b in zip(hit[0], buffers)):
            hit = cache[key] = (buffers, build().to(device=like.device, dtype=like.dtype))
        return hit[1]


class SVDOperator(LinearOperator):
    """An operator given by its SVD in factored form; A, A⁺ and Aᵀ are derived here once.

    A subclass supplies ``V``, ``V_t``, ``U``, ``U_t`` and ``singulars``. It may override ``A``
    and ``A_pinv`` with faster direct forms; the tests check those against the factored ones.
    ``u_is_flatten`` marks operators whose U is the identity on the flattened measurement and
    ``is_diagonal`` those whose U and V are both identities (masks): compositions use them.
    """

    u_is_flatten: bool = False
    is_diagonal: bool = False

    @property
    def singulars(self) -> torch.Tensor:
        raise NotImplementedError

    def V(self, z: torch.Tensor) -> torch.Tensor:  # noqa: N802
        raise NotImplementedError

    def V_t(self, x: torch.Tensor) -> torch.Tensor:  # noqa: N802
        raise NotImplementedError

    def U(self, z: torch.Tensor) -> torch.Tensor:  # noqa: N802
        raise NotImplementedError

    def U_t(self, y: torch.Tensor) -> torch.Tensor:  # noqa: N802
        raise NotImplementedError

    # --- derived -------------------------------------------------------------------------

    def singulars_batch(self, batch: int, like: torch.Tensor) -> torch.Tensor:
        """Σ as ``(B, k)`` in the dtype/device of ``like``."""
        return _as_batch(self.cached("singulars", like, lambda: self.singulars), batch)

    def inv_singulars(self, batch: int, like: torch.Tensor) -> torch.Tensor:
        """Σ⁺ diagonal: 1/s where s > SINGULAR_EPS, else 0 (computed in ``like``'s dtype, once per restore)."""

        def inverse() -> torch.Tensor:
            s = self.singulars.to(device=like.device, dtype=like.dtype)
            keep = s > SINGULAR_EPS
            return torch.where(keep, 1.0 / torch.where(keep, s, torch.ones_like(s)), torch.zeros_like(s))

        return _as_batch(self.cached("inv_singulars", like, inverse), batch)

    def _pad(self, z_k: torch.Tensor) -> torch.Tensor:
        """Embed (B, k) coordinates into (B, n) with zeros in the null-space part."""
        out = z_k.new_zeros((z_k.shape[0], self.n))
        out[:, : z_k.shape[1]] = z_k
        return out

    def A(self, x: torch.Tensor) -> torch.Tensor:  # noqa: N802
        z = self.V_t(x)
        s = self.singulars_batch(x.shape[0], z)
        return self.U(s * z[:, : s.shape[1]])

    def A_pinv(self, y: torch.Tensor) -> torch.Tensor:  # noqa: N802
        z = self.U_t(y)
        return self.V(self._pad(self.inv_singulars(z.shape[0], z) * z))

    def A_adjoint(self, y: torch.Tensor) -> torch.Tensor:  # noqa: N802
        z = self.U_t(y)
        return self.V(self._pad(self.singulars_batch(z.shape[0], z) * z))


class DiagonalOperator(SVDOperator):
    """An operator that is diagonal in pixel space (masks, the identity): U = V = I on flattened images."""

    u_is_flatten = True
    is_diagonal = True

    def V_t(self, x: torch.Tensor) -> torch.Tensor:  # noqa: N802
        return x.flatten(1)

    def V(self, z: torch.Tensor) -> torch.Tensor:  # noqa: N802
        return z.reshape(z.shape[0], *self.x_shape)

    U_t = V_t
    U = V
