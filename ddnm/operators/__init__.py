"""Degradation operators y = A x, each with A, A⁺ and a factored SVD. ``make(name, x_shape, **params)``.

The registered names and what each operator is are in ``registry.py`` (``OPERATORS``), the one list. Importing this
package loads no torch (the command line reads the registry at start-up); ``make`` imports the operator it builds,
and the classes below load when first asked for.

>>> import torch
>>> op = make("sr_avgpool", (3, 8, 8), scale=2)
>>> op.A(torch.zeros(1, 3, 8, 8)).shape
torch.Size([1, 3, 4, 4])
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING

from .registry import OPERATORS, OperatorSpec, cli_operators, spec

if TYPE_CHECKING:
    from .base import LinearOperator


def make(name: str, x_shape: tuple[int, int, int], **params) -> LinearOperator:
    """Build a registered operator for images of shape ``x_shape`` = (C, H, W).

    >>> make("old_photo", (3, 4, 4), mask=[[1, 1, 0, 1]] * 4).y_shape()
    (1, 4, 4)
    >>> make("sr_bicubic", (3, 4, 4), factor=2)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: operator 'sr_bicubic' got bad parameters {'factor': 2}: ...
    """
    registered = spec(name)
    factory = registered.load()
    try:
        inspect.signature(factory).bind(tuple(x_shape), **params)
    except TypeError as err:  # unknown or missing parameter: say which ones exist
        shown = {k: v if not hasattr(v, "shape") else f"<tensor {tuple(v.shape)}>" for k, v in params.items()}
        raise ValueError(
            f"operator {name!r} got bad parameters {shown}: {err}; it takes {', '.join(registered.parameters) or 'no parameters'}"
        ) from err
    op = factory(tuple(x_shape), **params)
    op.registered_name = name  # what ``registry.name_of`` answers for it (old_photo's Compose has no class of its own)
    return op


__all__ = ["OPERATORS", "Compose", "LinearOperator", "OperatorSpec", "SVDOperator", "cli_operators", "make",
           "motion_kernel", "spec"]


def __getattr__(name: str):
    # Torch-backed names, imported when first used (written out, so tests/test_import_cycles.py sees the edges).
    if name in ("LinearOperator", "SVDOperator"):
        from . import base

        return getattr(base, name)
    if name == "Compose":
        from .compose import Compose

        return Compose
    if name == "motion_kernel":
        from .functional import motion_kernel

        return motion_kernel
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
