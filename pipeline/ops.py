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

from collections.abc import Mapping

from ddnm.operators.registry import OPERATORS, OperatorSpec, cli_operators  # torch-free: the CLI reads it at start-up

# The operators the pipeline takes, by name (the registry's ``cli``): how each scan is recorded (``observed``), its
# scale parameter, whether it needs a mask.
PLANS: Mapping[str, OperatorSpec] = cli_operators()


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
    return set(OPERATORS)


def check_op(name: str, engine_names: set[str]) -> str | None:
    """``None`` if the pipeline can run ``name``, else the reason it cannot (the registry's ``cli``)."""
    if name in engine_names and OPERATORS[name].cli:
        return None
    if name in engine_names:
        return f"operator {name!r} is not supported by the batch pipeline (its measurement is not an image)"
    supported = sorted(n for n in engine_names if n in OPERATORS and OPERATORS[n].cli)
    return f"unknown operator {name!r}; expected one of {supported}"


def colour_strength_for(op_name: str, strength: float) -> float | None:
    """The ``colour_strength`` a row of ``op_name`` was restored with (the ledger's and the output's record): the
    job's for a colour task (colorize, old photo), None for the operators that leave colour alone."""
    known = OPERATORS.get(op_name)
    return strength if known is not None and known.removes_colour else None

