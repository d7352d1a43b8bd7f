"""Flat keyword settings (``ddnm.restore(..., steps=20, gamma=6)``) applied onto a :class:`RestoreSettings`.

The names are the fields of ``SamplerSettings`` and ``RestoreSettings`` and, for the chosen guidance rule, of its
parameter dataclass (``ddnm.guidance_params``); anything else is refused with the valid names.
"""

from __future__ import annotations

from dataclasses import fields, replace

from .guidance_params import check_rule, guidance_params_for, param_names
from .settings import RestoreSettings, SamplerSettings

SAMPLER_NAMES = frozenset(f.name for f in fields(SamplerSettings))
RESTORE_NAMES = frozenset(f.name for f in fields(RestoreSettings)) - {"sampler"}


def with_overrides(settings: RestoreSettings, overrides: dict) -> RestoreSettings:
    """``settings`` with ``overrides`` set; rule parameters gather into ``guidance_params``."""
    if not overrides:
        return settings
    guidance = overrides.get("guidance", settings.sampler.guidance)
    rule_names = param_names(check_rule(guidance))
    unknown = set(overrides) - SAMPLER_NAMES - RESTORE_NAMES - set(rule_names)
    if unknown:
        raise TypeError(
            f"unknown sampler settings {sorted(unknown)}; valid: {sorted(SAMPLER_NAMES | RESTORE_NAMES)}"
            + (f" and, for guidance {guidance!r}, {rule_names}" if rule_names else "")
        )
    sampler = {k: v for k, v in overrides.items() if k in SAMPLER_NAMES}
    rule = {k: v for k, v in overrides.items() if k in rule_names}
    if rule:
        if sampler.get("guidance_params") is not None:
            raise TypeError(f"give either guidance_params or its fields {sorted(rule)}, not both")
        sampler["guidance_params"] = guidance_params_for(guidance, rule)
    restore = {k: v for k, v in overrides.items() if k in RESTORE_NAMES}
    return replace(settings, sampler=replace(settings.sampler, **sampler), **restore)
