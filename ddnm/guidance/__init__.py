"""Guidance rules: how the sampler pulls each x0 estimate towards the measurement y.

``GUIDANCE[name](settings)`` builds the rule ``SamplerSettings.guidance`` names; ``check(op)`` runs before the loop.

==========  =====================================================  ============================  =========
name        correction                                             operators                     autograd
==========  =====================================================  ============================  =========
``ddnm``    DDNM Eq. 13 / DDNM+ Eq. 17, 19 (default)               any with ``A_pinv``           no
``ddpg``    x0 − Aᵀ W_t (A x0 − y), BP → LS, ζ-mixed noise         ``SVDOperator``               no
``idpg``    the same, no injected noise (deterministic)            ``SVDOperator``               no
``mcg``     −ζ_t ∇‖y − A x̂0‖², then projection onto A x = y_t      any with ``A_pinv``           yes
``dps``     −ζ_t ∇‖y − A x̂0‖²                                      any ``LinearOperator``        yes
==========  =====================================================  ============================  =========
"""

from __future__ import annotations

from .base import GuidanceRule, StepInput, StepUpdate
from .ddnm import DDNMRule
from .ddpg import DDPGRule, IDPGRule
from .gradient import DPSRule, MCGRule

GUIDANCE: dict[str, type[GuidanceRule]] = {
    rule.name: rule for rule in (DDNMRule, DDPGRule, IDPGRule, MCGRule, DPSRule)
}

__all__ = ["GUIDANCE", "GuidanceRule", "StepInput", "StepUpdate"]
