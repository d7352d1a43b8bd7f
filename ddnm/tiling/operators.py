"""Operators that tiling composes from a task operator: window factories, canvas embedding, DDNM's mask-shift.

Notation as in ``ddnm/operators/base.py``: ``A`` the task operator on one window, ``K`` the 0/1 mask of the
window's pixels already restored by earlier windows, ``k`` their restored values.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from ..operators import make
from ..operators.base import LinearOperator, SVDOperator
from ..operators.registry import spec
from .plan import Box


@dataclass(frozen=True, eq=False)
class OperatorFactory:
    """A registered operator (``ddnm.operators.make(name, x_shape, **params)``) for the full image and its windows.

    Parameters that are tensors ending in the image's ``(H, W)`` (an inpainting mask, also one per image
    ``(B, 1, H, W)``) are cropped to each window; every other parameter (scale, kernel, sigma) is passed unchanged. Mask-shift needs this, because
    a full-size operator cannot be cut into windows in general.

    >>> f = OperatorFactory("sr_avgpool", (3, 40, 100), {"scale": 4})
    >>> f.window(Box(0, 8, 32, 32)).x_shape, f.full().x_shape
    ((3, 32, 32), (3, 40, 100))
    """

    name: str
    x_shape: tuple[int, int, int]
    params: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        spec(self.name)  # an unknown name fails here, with the valid ones

    @property
    def spatial_params(self) -> tuple[str, ...]:
        """Names of the parameters that vary across the image and are cropped per window."""
        hw = tuple(self.x_shape[1:])
        return tuple(
            k for k, v in self.params.items() if torch.is_tensor(v) and v.dim() >= 2 and tuple(v.shape[-2:]) == hw
        )

    def full(self) -> LinearOperator:
        return make(self.name, self.x_shape, **self.params)

    def window(self, box: Box) -> LinearOperator:
        spatial = set(self.spatial_params)
        params = {k: box.crop(v) if k in spatial else v for k, v in self.params.items()}
        return make(self.name, (self.x_shape[0], box.height, box.width), **params)


def embed(x: torch.Tensor, canvas_hw: tuple[int, int], box: Box) -> torch.Tensor:
    """``x`` placed at ``box`` in a zero canvas ``(..., Hc, Wc)``."""
    out = x.new_zeros((*x.shape[:-2], *canvas_hw))
    out[..., box.rows, box.cols] = x
    return out


class EmbedOperator(SVDOperator):
    """A task operator that sees only ``box`` of a larger canvas; the rest of the canvas is unmeasured.

    The canvas pixels outside the box are pure null space (extra columns of V, singular value 0), so DDNM
    leaves them to the prior and the result is cropped back. This lets images smaller than the model's window
    be restored in one window-sized canvas, and it is an exact SVD: U and Σ are the inner operator's, V is the
    inner V on the box plus the identity outside it.
    """

    def __init__(self, inner: SVDOperator, canvas_hw: tuple[int, int], box: Box):
        c, h, w = inner.x_shape
        if (box.height, box.width) != (h, w) or box.top + h > canvas_hw[0] or box.left + w > canvas_hw[1]:
            raise ValueError(
                f"box {box} must have the inner operator's size {h}×{w} and fit in the canvas {canvas_hw}"
            )
        super().__init__((c, *canvas_hw))
        self.inner, self.box, self.canvas_hw = inner, box, tuple(canvas_hw)
        outside = torch.ones(self.x_shape, dtype=torch.bool)
        outside[:, box.rows, box.cols] = False
        self.register_buffer("outside", outside.flatten(), persistent=False)

    @property
    def singulars(self) -> torch.Tensor:
        return self.inner.singulars

    def rows(self, index) -> EmbedOperator:
        inner = self.inner.rows(index)
        return self if inner is self.inner else EmbedOperator(inner, self.canvas_hw, self.box)

    def V_t(self, x: torch.Tensor) -> torch.Tensor:  # noqa: N802
        return torch.cat([self.inner.V_t(self.box.crop(x)), x.flatten(1)[:, self.outside]], dim=1)

    def V(self, z: torch.Tensor) -> torch.Tensor:  # noqa: N802
        n_in = self.inner.n
        x = embed(self.inner.V(z[:, :n_in]), self.canvas_hw, self.box).flatten(1)
        x[:, self.outside] = z[:, n_in:]
        return x.view(z.shape[0], *self.x_shape)

    def U(self, z: torch.Tensor) -> torch.Tensor:  # noqa: N802
        return self.inner.U(z)

    def U_t(self, y: torch.Tensor) -> torch.Tensor:  # noqa: N802
        return self.inner.U_t(y)

    def A(self, x: torch.Tensor) -> torch.Tensor:  # noqa: N802
        return self.inner.A(self.box.crop(x))

    def A_pinv(self, y: torch.Tensor) -> torch.Tensor:  # noqa: N802
        return embed(self.inner.A_pinv(y), self.canvas_hw, self.box)

    def A_adjoint(self, y: torch.Tensor) -> torch.Tensor:  # noqa: N802
        return embed(self.inner.A_adjoint(y), self.canvas_hw, self.box)


class MaskShiftOperator(LinearOperator):
    """DDNM's mask-shift trick (arXiv:2212.00490, appendix): a window's task operator plus the pixels earlier
    windows restored, as one operator the unchanged sampler drives.

    Measurement y' = (A x, K ⊙ x), packed flat ``(B, m + n)`` by :meth:`measure`. Its generalised inverse
    B(r, q) = (1 − K) ⊙ A⁺ r + K ⊙ q makes the sampler's correction x0 − B(A' x0 − y') equal to

        x̂0 = K ⊙ k + (1 − K) ⊙ (x0 − A⁺(A x0 − y))      (DDNM Eq. 13 on the unknown pixels)

    *Exact* when the range projector A⁺A commutes with K, i.e. no measurement mixes known and unknown pixels:
    colorize (per pixel), inpaint (per pixel), sr_avgpool when window starts are multiples of the scale. Then
    I − B A' = (1 − K)(I − A⁺A) is the orthogonal projector onto null(A) ∩ null(K) = null(A'), and x̂0 meets
    both A x̂0 = y and K x̂0 = k. *Approximate* otherwise (sr_bicubic, deblur, cs): measurements straddling
    the known/unknown edge keep only the known side's values, so consistency there is not guaranteed.

    Per-item task operators: ``task_ops[i]`` acts on batch item i; items sharing one operator object are
    measured in one call, so windows of a position-independent task (colorize, SR) cost one batched call.
    With σ_y > 0 the sampler treats this operator with one scalar λ_t (it has no SVD), so the known pixels
    are pulled by λ_t too; tiling pastes only the unknown pixels, so the earlier values stay in the image.
    """

    def __init__(self, task_ops: Sequence[LinearOperator], known: torch.Tensor):
        shapes = {op.x_shape for op in task_ops}
        if len(shapes) != 1 or len(task_ops) != known.shape[0]:
            raise ValueError(f"need one task operator per batch item, all of one shape; got {len(task_ops)} "
                             f"operators of shapes {sorted(shapes)} for {known.shape[0]} known masks")
        super().__init__(task_ops[0].x_shape)
        unique: list[LinearOperator] = []
        for op in task_ops:
            if not any(op is u for u in unique):
                unique.append(op)
        self.task_ops = nn.ModuleList(unique)
        self.groups = [[i for i, op in enumerate(task_ops) if op is u] for u in unique]
        self.register_buffer("known", known.float().expand(-1, self.x_shape[0], -1, -1).contiguous(), persistent=False)
        y_shapes = {u.y_shape() for u in unique}
        if len(y_shapes) != 1:
            raise ValueError(f"the window operators measure different shapes {sorted(y_shapes)}; they must agree")
        self.task_y_shape = y_shapes.pop()

    def y_shape(self) -> tuple[int, ...]:
        m = int(torch.Size(self.task_y_shape).numel())
        return (m + self.n,)

    def _per_group(self, fn_name: str, v: torch.Tensor, out_shape: tuple[int, ...]) -> torch.Tensor:
        if len(self.groups) == 1:
            return getattr(self.task_ops[0], fn_name)(v)
        out = v.new_zeros((v.shape[0], *out_shape))
        for op, idx in zip(self.task_ops, self.groups):
            out[idx] = getattr(op, fn_name)(v[idx])
        return out

    def task_A(self, x: torch.Tensor) -> torch.Tensor:  # noqa: N802
        """A x per item, in the task's natural measurement shape."""
        return self._per_group("A", x, self.task_y_shape)

    def measure(self, y_task: torch.Tensor, known_values: torch.Tensor) -> torch.Tensor:
        """Packs the task measurement and the known pixels (values outside K are ignored) into y'."""
        return torch.cat([y_task.flatten(1), (self.known * known_values).flatten(1)], dim=1)

    def A(self, x: torch.Tensor) -> torch.Tensor:  # noqa: N802
        return self.measure(self.task_A(x), x)

    def _unpack(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        m = y.shape[1] - self.n
        return y[:, :m].reshape(y.shape[0], *self.task_y_shape), y[:, m:].reshape(y.shape[0], *self.x_shape)

    def A_pinv(self, y: torch.Tensor) -> torch.Tensor:  # noqa: N802
        r_task, q_known = self._unpack(y)
        # (1 − K) A⁺ r + K q: the task's pseudo-inverse on unknown pixels, the known values on known ones
        return (1 - self.known) * self._per_group("A_pinv", r_task, self.x_shape) + self.known * q_known

    def A_adjoint(self, y: torch.Tensor) -> torch.Tensor:  # noqa: N802
        r_task, q_known = self._unpack(y)
        return self._per_group("A_adjoint", r_task, self.x_shape) + self.known * q_known  # A'ᵀ = [Aᵀ  K]
