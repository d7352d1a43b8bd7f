"""The job options of ``run`` and ``submit``, made from ``JobSettings``'s own fields: each is spelled once.

Every field of ``pipeline.settings.JobSettings`` that declares a ``help`` becomes an option with that help, its type
and its default (``run_only`` ones only on ``run``: a local Ray's CPUs and dashboard mean nothing to a job sent to a
cluster). ``@with_job_options`` appends them to a command and hands it one ``job: JobOptions``; the command turns that
into ``JobSettings`` inside its own error handling, so a bad value is refused (exit 2, one line) by the same checks a
job submitted as JSON meets. Two fields are text on the command line: ``--storage-options`` (a JSON object) and
``--output-format`` (any case, ``tif`` for ``tiff``).
"""

from __future__ import annotations

import functools
import inspect
import typing
from dataclasses import MISSING, dataclass, fields
from typing import Annotated, Any, Callable

import typer

from ..settings import JobSettings, RestoreSettings, output_format_named
from ._json_options import parse_storage_options

# Fields the command line writes as text: (the option's type, its default, the parser to the field's value).
AS_TEXT: dict[str, tuple[type, str, Callable[[str], Any]]] = {
    "storage_options": (str, "{}", parse_storage_options),
    "output_format": (str, "png", output_format_named),
}


def _options() -> list[tuple[bool, inspect.Parameter]]:
    """(run only, Typer parameter) for every ``JobSettings`` field with a ``help``, in the dataclass's order."""
    hints = typing.get_type_hints(JobSettings)
    out = []
    for f in fields(JobSettings):
        if "help" not in f.metadata:
            continue
        kind, default = hints[f.name], f.default
        if f.name in AS_TEXT:
            kind, default, _ = AS_TEXT[f.name]
        assert default is not MISSING, f"JobSettings.{f.name} needs a default to be an option"
        declared = (f.metadata["flag"],) if "flag" in f.metadata else ()  # a flag without its --no- twin
        option = typer.Option(*declared, help=f.metadata["help"], show_default=default is not None)
        parameter = inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=default,
                                      annotation=Annotated[kind, option])  # fmt: skip
        out.append((bool(f.metadata.get("run_only")), parameter))
    return out


OPTIONS = _options()


@dataclass(frozen=True)
class JobOptions:
    """The job options' values as the command line gave them; ``settings`` checks and converts them."""

    values: dict[str, Any]

    def settings(self, manifest_uri: str, out_uri: str, restore: RestoreSettings | None) -> JobSettings:
        """The ``JobSettings`` these options describe (ValueError, or typer.BadParameter for bad JSON)."""
        parsed = {name: AS_TEXT[name][2](v) if name in AS_TEXT else v for name, v in self.values.items()}
        return JobSettings(manifest_uri=manifest_uri, out_uri=out_uri, restore=restore or RestoreSettings(),
                           **parsed)  # fmt: skip


def with_job_options(*, cluster: bool):
    """Give a command that takes ``job: JobOptions`` the job options (``cluster``: leave out the run-only ones)."""
    options = [p for run_only, p in OPTIONS if not (cluster and run_only)]

    def decorate(command):
        own = inspect.signature(command, eval_str=True)
        parameters = [p for name, p in own.parameters.items() if name != "job"] + options

        @functools.wraps(command)
        def wrapper(*args, **kwargs):
            values = {p.name: kwargs.pop(p.name, p.default) for p in options}
            return command(*args, **kwargs, job=JobOptions(values))

        # Typer reads the parameters from __signature__ and the annotations from __annotations__.
        wrapper.__signature__ = own.replace(parameters=parameters)
        wrapper.__annotations__ = {p.name: p.annotation for p in parameters}
        return wrapper

    return decorate
