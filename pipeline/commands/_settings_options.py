"""The restoration options of ``run``, ``restore`` and ``submit``, made from the settings dataclasses' own fields.

Every field of ``ddnm.settings.SamplerSettings``, ``RestoreSettings``, ``ModelSpec``, ``TileSettings`` and the
guidance rules' parameter dataclasses (``ddnm.guidance_params``) that declares a ``help`` becomes an option with that
help, its type and default; nothing is spelled twice. ``@with_restore_options`` appends them to a Typer command and
hands the command one ``restore: RestoreSettings``, built by the dataclasses themselves, so a bad value is refused
(exit 2, one line) by the same checks the sampler runs. A rule's parameters default to None: unset ones keep the
rule's defaults, and one the chosen rule does not take is refused with the rules that do take it.
"""

from __future__ import annotations

import functools
import inspect
import types
import typing
from dataclasses import MISSING, fields
from typing import Annotated

import typer

from ddnm.guidance_params import RULE_PARAMS as PARAMS_OF_RULE
from ddnm.settings import ModelSpec, RestoreSettings, SamplerSettings
from ddnm.tiling.settings import TileSettings

# The rules' parameter dataclasses, from the one rule -> parameters table (a new rule's parameters become options).
RULE_PARAMS = tuple(dict.fromkeys(p for p in PARAMS_OF_RULE.values() if p is not None))
PANELS = {
    SamplerSettings: "Sampling",
    RestoreSettings: "Sampling",
    ModelSpec: "Model",
    TileSettings: "Tiling",
    **dict.fromkeys(RULE_PARAMS, "Guidance rule parameters (unset: the rule's defaults, docs/guidance.md)"),
}


def _annotation(owner: type, name: str):
    return typing.get_type_hints(owner)[name]


def _options() -> list[tuple[type, str, inspect.Parameter]]:
    """(owner dataclass, field name, Typer parameter) for every field with a ``help``."""
    out, seen = [], set()
    for owner in PANELS:
        for f in fields(owner):
            if "help" not in f.metadata or f.name in seen:
                continue
            seen.add(f.name)
            name = f.metadata.get("option", f.name)
            kind = _annotation(owner, f.name)
            default = f.default if f.default is not MISSING else None
            if owner in RULE_PARAMS:  # unset: the rule's own default
                kind, default = (kind if _is_optional(kind) else kind | None), None
            default = f.metadata.get("cli_default", default)
            if default is not None and _is_optional(kind):
                kind = _without_none(kind)
            option = typer.Option(help=f.metadata["help"], rich_help_panel=PANELS[owner],
                                  show_default=default is not None)  # fmt: skip
            parameter = inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default,
                                          annotation=Annotated[kind, option])  # fmt: skip
            out.append((owner, f.name, parameter))
    return out


def _is_optional(kind) -> bool:
    return isinstance(kind, types.UnionType) and type(None) in kind.__args__


def _without_none(kind):
    args = [a for a in kind.__args__ if a is not type(None)]
    return args[0] if len(args) == 1 else functools.reduce(lambda a, b: a | b, args)


OPTIONS = _options()


def settings_from(values: dict) -> RestoreSettings:
    """The ``RestoreSettings`` the options' values describe (ValueError/TypeError with one line if refused)."""
    from ddnm.overrides import with_overrides

    by_owner: dict[type, dict] = {}
    for owner, name, parameter in OPTIONS:
        by_owner.setdefault(owner, {})[name] = values[parameter.name]
    model = ModelSpec(**by_owner[ModelSpec])
    tiles = TileSettings(**by_owner[TileSettings])
    rules = {k: v for owner in RULE_PARAMS for k, v in by_owner.get(owner, {}).items() if v is not None}
    sampler = by_owner[SamplerSettings]
    restore = by_owner[RestoreSettings]
    return with_overrides(RestoreSettings(model=model, tiles=tiles), {**sampler, **restore, **rules})


def with_restore_options(command):
    """Give ``command`` (which takes ``restore: RestoreSettings``) the options; refuse bad values with exit 2."""
    own = inspect.signature(command, eval_str=True)
    parameters = [p for name, p in own.parameters.items() if name != "restore"] + [p for _, _, p in OPTIONS]
    signature = own.replace(parameters=parameters)

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        values = {p.name: kwargs.pop(p.name, p.default) for _, _, p in OPTIONS}
        try:
            restore = settings_from(values)
        except (TypeError, ValueError) as exc:
            from rich.console import Console

            Console(stderr=True).print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None
        return command(*args, **kwargs, restore=restore)

    # Typer reads the parameters from __signature__ and the annotations from __annotations__.
    wrapper.__signature__ = signature
    wrapper.__annotations__ = {p.name: p.annotation for p in parameters}
    return wrapper
