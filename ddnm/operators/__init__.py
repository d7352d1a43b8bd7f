"""Degradation operators y = A x, each with A, A⁺ and a factored SVD. ``make(name, x_shape, **params)``.

>>> import torch
>>> op = make("sr_avgpool", (3, 8, 8), scale=2)
>>> op.A(torch.zeros(1, 3, 8, 8)).shape
torch.Size([1, 3, 4, 4])
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

from .base import LinearOperator, SVDOperator
from .blur import KernelBlur, gaussian_blur
from .colorize import Colorize
from .compose import Compose
from .cs import BlockCS
from .denoise import Denoise
from .downsample import AvgPool, Bicubic
from .functional import motion_kernel
from .inpaint import Inpaint


def old_photo(x_shape: tuple[int, int, int], mask) -> Compose:
    """Old photo: colorize a gray scan and fill its damaged pixels (mask 1 = intact), y of shape (B, 1, H, W).

    ``mask`` is (H, W), (1, H, W) or per image (B, 1, H, W).
    """
    _, h, w = x_shape
    return Compose(Inpaint((1, h, w), mask), Colorize(x_shape))


def motion_blur(x_shape, length: int, angle: float = 0.0, threshold: float = 0.0) -> KernelBlur:
    """Circular blur by a straight motion kernel of ``length`` pixels at ``angle`` degrees."""
    return KernelBlur(x_shape, motion_kernel(length, angle), threshold)


OPERATORS: dict[str, Callable[..., LinearOperator]] = {
    "colorize": Colorize,
    "sr_avgpool": AvgPool,
    "sr_bicubic": Bicubic,
    "inpaint": Inpaint,
    "deblur_gaussian": gaussian_blur,
    "deblur_kernel": KernelBlur,
    "deblur_motion": motion_blur,
    "denoise": Denoise,
    "cs": BlockCS,
    "old_photo": old_photo,
}


def _parameter_names(factory: Callable[..., LinearOperator]) -> list[str]:
    names = list(inspect.signature(factory).parameters)[1:]  # after x_shape
    return [n for n in names if n != "self"]


def make(name: str, x_shape: tuple[int, int, int], **params) -> LinearOperator:
    """Build a registered operator for images of shape ``x_shape`` = (C, H, W).

    >>> make("old_photo", (3, 4, 4), mask=[[1, 1, 0, 1]] * 4).y_shape()
    (1, 4, 4)
    >>> make("sr_bicubic", (3, 4, 4), factor=2)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: operator 'sr_bicubic' got bad parameters {'factor': 2}: ...
    """
    if name not in OPERATORS:
        raise ValueError(f"unknown operator {name!r}; valid: {', '.join(sorted(OPERATORS))}")
    factory = OPERATORS[name]
    try:
        inspect.signature(factory).bind(tuple(x_shape), **params)
    except TypeError as err:  # unknown or missing parameter: say which ones exist
        shown = {k: v if not hasattr(v, "shape") else f"<tensor {tuple(v.shape)}>" for k, v in params.items()}
        raise ValueError(
            f"operator {name!r} got bad parameters {shown}: {err}; it takes {', '.join(_parameter_names(factory))}"
        ) from err
    return factory(tuple(x_shape), **params)


__all__ = ["OPERATORS", "Compose", "LinearOperator", "SVDOperator", "make", "motion_kernel"]
