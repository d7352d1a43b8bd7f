"""Flat keyword settings (``ddnm.restore(..., steps=20, gamma=6)``) applied onto a :class:`RestoreSettings`.

The names are the fields of ``SamplerSettings``, ``RestoreSettings`` (``model`` may be a path) and ``ModelSpec`` and, for the chosen guidance rule, of its
parameter dataclass (``ddnm.guidance_params``); anything else is refused with the valid names.
"""

from __future__ import annotations

from dataclasses import fields, replace

from .guidance_params import RULE_PARAMS, check_rule, guidance_params_for, param_names
from .settings import ModelSpec, RestoreSettings, SamplerSettings

class SettingNameError(TypeError, ValueError):
    """A keyword that is no setting (or a rule parameter of another rule): a TypeError for a Python call, and a
    ValueError for the checks that report bad settings in one line (command line, job settings)."""


SAMPLER_NAMES = frozenset(f.name for f in fields(SamplerSettings))
RESTORE_NAMES = frozenset(f.name for f in fields(RestoreSettings)) - {"sampler"}
MODEL_NAMES = frozenset(f.name for f in fields(ModelSpec)) - {"path"}  # model="path" names the path
RULE_NAMES = frozenset(name for params in RULE_PARAMS.values() for name in param_names(params))


def with_overrides(settings: RestoreSettings, overrides: dict) -> RestoreSettings:
    """``settings`` with ``overrides`` set; rule parameters gather into ``guidance_params``."""
    if not overrides:
        return settings
    guidance = overrides.get("guidance", settings.sampler.guidance)
    rule_names = param_names(check_rule(guidance))
    unknown = set(overrides) - SAMPLER_NAMES - RESTORE_NAMES - MODEL_NAMES - RULE_NAMES
    if unknown:
        raise SettingNameError(
            f"unknown sampler settings {sorted(unknown)}; valid: {sorted(SAMPLER_NAMES | RESTORE_NAMES | MODEL_NAMES)}"
            + (f" and, for guidance {guidance!r}, {rule_names}" if rule_names else "")
        )
    sampler = {k: v for k, v in overrides.items() if k in SAMPLER_NAMES}
    rule = {k: v for k, v in overrides.items() if k in RULE_NAMES}  # another rule's: refused, naming its rules
    if rule:
        if sampler.get("guidance_params") is not None:
            raise SettingNameError(f"give either guidance_params or its fields {sorted(rule)}, not both")
        try:
            sampler["guidance_params"] = guidance_params_for(guidance, rule)
        except ValueError as exc:
            if set(rule) - set(rule_names):
                raise SettingNameError(str(exc)) from None
            raise
    restore = {k: v for k, v in overrides.items() if k in RESTORE_NAMES}
    model = restore.pop("model", settings.model)
    if not isinstance(model, ModelSpec):
        model = replace(settings.model, path=model)
    model = replace(model, **{k: v for k, v in overrides.items() if k in MODEL_NAMES})
    return replace(settings, sampler=replace(settings.sampler, **sampler), model=model, **restore)
