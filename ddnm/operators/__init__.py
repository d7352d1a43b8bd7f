"""Degradation operators y = A x, each with A, A⁺ and a factored SVD. ``make(name, x_shape, **params)``.

>>> import torch
>>> op = make("sr_avgpool", (3, 8, 8), scale=2)
>>> op.A(torch.zeros(1, 3, 8, 8)).shape
torch.Size([1, 3, 4, 4])
"""

from __future__ import annotations

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
    """Old photo: colorize a gray scan and fill its damaged pixels (mask 1 = intact), y of shape (B, 1, H, W)."""
    _, h, w = x_shape
    return Compose(Inpaint((1, h, w), mask), Colorize(x_shape))


def motion_blur(x_shape, length: int, angle: float = 0.0, threshold: float = 0.0) -> KernelBlur:
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


def make(name: str, x_shape: tuple[int, int, int], **params) -> LinearOperator:
    """Build a registered operator for images of shape ``x_shape`` = (C, H, W)."""
    if name not in OPERATORS:
        raise ValueError(f"unknown operator {name!r}; valid: {', '.join(sorted(OPERATORS))}")
    try:
        return OPERATORS[name](tuple(x_shape), **params)
    except TypeError as err:
        raise ValueError(f"bad parameters {sorted(params)} for operator {name!r}: {err}") from err


__all__ = ["OPERATORS", "Compose", "LinearOperator", "SVDOperator", "make"]
