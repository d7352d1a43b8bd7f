"""What the batch pipeline asks of an operator, answered by the registry (``ddnm.operators.registry``).

An archive holds what the camera or the damage left, in one of two forms (the registry's ``observed``):

* ``"x"`` (x-space): the observed image has the restored image's size (a grey photo to colorize,
  a photo with holes to inpaint). The restore stage lifts it to the model's channels and takes
  y = A(observed), so y follows the operator's own convention (e.g. channel mean for colorize).
* ``"y"`` (measurement-space): the observed image *is* y (a small image to super-resolve, a
  blurred or noisy photo); the restored size follows from the operator's ``scale_param``.

Operators whose measurements are not images (``cs``) are not offered by the batch pipeline.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ddnm.operators.registry import OperatorSpec

# The CLI's operator names, for --help, which starts without torch; ``import ddnm`` still loads torch (until issue
# 17's settings work makes the package import lazily), so this copy stands in for the names only and
# tests/test_operator_registry.py holds it equal to ``ddnm.operators.registry.cli_operators()``. Everything else
# about an operator is read from the registry.
CLI_OPERATOR_NAMES = ("colorize", "sr_avgpool", "sr_bicubic", "inpaint", "deblur_gaussian", "deblur_kernel",
                      "deblur_motion", "denoise", "old_photo")


def plan(op_name: str) -> OperatorSpec:
    """The registry's entry for an operator the pipeline takes (KeyError for any other)."""
    from ddnm.operators.registry import cli_operators

    return cli_operators()[op_name]


class _CliOperators(Mapping):
    """``PLANS[name]``: the registry entry of each operator the pipeline takes; iterating needs no torch."""

    def __getitem__(self, name: str) -> OperatorSpec:
        if name not in CLI_OPERATOR_NAMES:
            raise KeyError(name)
        return plan(name)

    def __contains__(self, name: object) -> bool:
        return name in CLI_OPERATOR_NAMES

    def __iter__(self) -> Iterator[str]:
        return iter(CLI_OPERATOR_NAMES)

    def __len__(self) -> int:
        return len(CLI_OPERATOR_NAMES)


PLANS: Mapping[str, OperatorSpec] = _CliOperators()


def output_size(op_name: str, params: dict, height: int, width: int) -> tuple[int, int]:
    """The restored image's ``(H, W)`` for an observed ``height x width`` image; a scale that is not an
    integer >= 1 is left for the operator to refuse (``pipeline.measurement``)."""
    scale_param = PLANS[op_name].scale_param if op_name in PLANS else None
    scale = params.get(scale_param) if scale_param else None
    if not isinstance(scale, int) or isinstance(scale, bool) or scale < 1:
        return height, width
    return height * scale, width * scale


def output_too_large(op_name: str, params: dict, height: int, width: int, max_pixels: int) -> str | None:
    """Why the restored image would be too large (a scale can ask for any size), or ``None``."""
    out_h, out_w = output_size(op_name, params, height, width)
    if out_h * out_w <= max_pixels:
        return None
    return (f"{op_name} with params {params} turns the {width}x{height} image into {out_w}x{out_h} = "
            f"{out_w * out_h} pixels, above the limit of {max_pixels} pixels (--max-pixels bounds outputs too); "
            "lower the scale or raise --max-pixels")


def engine_operator_names() -> set[str]:
    """Operator names the engine registers (``ddnm.operators.registry.OPERATORS``)."""
    from ddnm.operators.registry import OPERATORS

    return set(OPERATORS)


def check_op(name: str, engine_names: set[str]) -> str | None:
    """``None`` if the pipeline can run ``name``, else the reason it cannot (the registry's ``cli``)."""
    from ddnm.operators.registry import OPERATORS

    if name in engine_names and OPERATORS[name].cli:
        return None
    if name in engine_names:
        return f"operator {name!r} is not supported by the batch pipeline (its measurement is not an image)"
    supported = sorted(n for n in engine_names if n in OPERATORS and OPERATORS[n].cli)
    return f"unknown operator {name!r}; expected one of {supported}"
