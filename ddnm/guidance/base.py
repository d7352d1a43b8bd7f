"""What a guidance rule sees at one denoising step, what it hands back, and the base every rule extends.

The sampler's loop (``ddnm.samplers``) is the same for every rule: predict x0 from x_t, ask the rule for the
corrected x̂0 and the posterior-step coefficients, then step. A rule is small: it says which operators it can
handle (``check``, called before the loop), how it corrects (``update``), and optionally how it projects x_next
(``project``) and which tensor is the final answer (``result``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import torch

from ..ddim import Generators
from ..operators.base import LinearOperator, SVDOperator

if TYPE_CHECKING:  # the settings check rules by ddnm.guidance_params, so they never import the rules
    from ..guidance_params import GuidanceParams
    from ..settings import SamplerSettings


@dataclass(frozen=True)
class StepInput:
    """One denoising step t → t_next as a rule sees it. ``t_next = -1`` is the last step (ᾱ_next = 1)."""

    op: LinearOperator
    y: torch.Tensor
    x_t: torch.Tensor  # requires grad when the rule is differentiable
    x0: torch.Tensor  # the model's x_{0|t}; a function of x_t (with its graph) for differentiable rules
    t: int
    t_next: int
    alpha_bar_t: float
    alpha_bar_next: float
    noise: Callable[[], torch.Tensor]  # draws z ~ N(0, I) like x0 (zeros at the last step), only when called
    generator: Generators
    eps: torch.Tensor | None = None  # the network's raw ε_θ(x_t, t) (the authors' code steps with it)


@dataclass(frozen=True)
class StepUpdate:
    """x_next = a_t·x̂0 + c_t·x_t + noise_term + shift (DDIM Eq. 12 plus whatever the rule adds)."""

    x0_hat: torch.Tensor
    a_t: float
    c_t: float
    noise_term: torch.Tensor | float = 0.0
    shift: torch.Tensor | float = 0.0  # a step taken on x_next itself (DPS / MCG gradient step)


def implements(op: LinearOperator, method: str) -> bool:
    """Whether ``op`` has its own ``A_pinv`` / ``A_adjoint`` rather than the base class's NotImplementedError."""
    return getattr(type(op), method) is not getattr(LinearOperator, method)


class GuidanceRule:
    """Base of the guidance rules; ``GUIDANCE[name](settings)`` builds one per sampling run."""

    name: ClassVar[str] = ""
    params_type: ClassVar[type | None] = None
    differentiable: ClassVar[bool] = False  # needs autograd through the network (runs outside inference_mode)

    def __init__(self, settings: SamplerSettings):
        self.settings = settings
        self.params = settings.params

    @classmethod
    def default_params(cls) -> GuidanceParams | None:
        return None if cls.params_type is None else cls.params_type()

    def check(self, op: LinearOperator) -> None:
        """Raise before the loop if this rule cannot handle ``op``."""

    def update(self, step: StepInput) -> StepUpdate:
        raise NotImplementedError

    def project(self, step: StepInput, x_next: torch.Tensor) -> torch.Tensor:
        """A last correction of x_next itself; none by default."""
        return x_next

    def result(self, x_next: torch.Tensor, x0: torch.Tensor, x0_hat: torch.Tensor) -> torch.Tensor:
        """The restored image after the last step (t_next = -1)."""
        return x_next

    def _need(self, op: LinearOperator, what: str, ok: bool, alternatives: str) -> None:
        if not ok:
            raise ValueError(
                f"guidance {self.name!r} needs {what}; got {type(op).__name__}, which has none. "
                f"Use guidance {alternatives} for this operator, or give it {what}."
            )

    def _need_pinv(self, op: LinearOperator) -> None:
        self._need(op, "an operator with A_pinv", implements(op, "A_pinv"), "'dps'")

    def _need_svd(self, op: LinearOperator) -> None:
        self._need(op, "an SVDOperator (A = U Σ Vᵀ in factored form)", isinstance(op, SVDOperator),
                   "'ddnm', 'mcg' or 'dps'")
