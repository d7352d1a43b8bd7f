"""The one list of degradations y = A x: each operator's name, parameters and what the rest of the code asks of it.

``make`` builds them, the pipeline reads how a scan of each is recorded and whether it takes it at all, the warm
start picks its initial image, evaluation picks its baselines: all from here, so a new operator is added in one
place. Plain data, no torch: factories are named, not imported, and load on first use.

>>> OPERATORS["sr_bicubic"].parameters, OPERATORS["sr_bicubic"].observed
(('scale',), 'y')
>>> sorted(name for name, spec in OPERATORS.items() if not spec.cli)
['cs']
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

Observed = Literal["x", "y"]
WarmStart = Literal["pinv", "bicubic", "harmonic"]


@dataclass(frozen=True, slots=True)
class OperatorSpec:
    """One registered operator.

    factory:        ``"module:attribute"`` in ``ddnm.operators``, called as ``factory(x_shape, **params)``.
    parameters:     its keyword parameters after ``x_shape``, in order (a test holds them to the signature);
    required:       those of them without a default.
    observed:       how a photo of this degradation is recorded. ``"x"``: an image of the restored size that A maps
                    to y (a grey photo, a photo with holes); ``"y"``: y itself (a small, blurred or noisy photo);
                    ``None``: y is not an image (cs), so the operator is for the library only.
    scale_param:    the parameter by which x is larger than y (SR), else None.
    warm_start:     initial image of a warm start (``ddnm.initial``): ``"pinv"`` A⁺y, ``"bicubic"`` upsampling of
                    y, ``"harmonic"`` A⁺y with the holes filled; the same images are evaluation baselines.
    removes_colour: y has no colour: a denoiser prior cannot invent it, and evaluation scores colourfulness.
    measurement:    what y is, in words (CLI help and the README's table).
    title:          the degradation's name in tables; ``{parameter}`` fields are filled where the values are known
                    (``ddnm.evaluate`` labels "SR ×4 (bicubic)").
    """

    name: str
    factory: str
    measurement: str
    title: str
    parameters: tuple[str, ...] = ()
    required: tuple[str, ...] = ()
    observed: Observed | None = "y"
    scale_param: str | None = None
    warm_start: WarmStart = "pinv"
    removes_colour: bool = False

    @property
    def cli(self) -> bool:
        """Whether the command line and the batch pipeline take it (its measurement is an image)."""
        return self.observed is not None

    @property
    def needs_mask(self) -> bool:
        """Whether it needs a pixel mask (the pipeline reads it from the manifest's ``mask_uri``)."""
        return "mask" in self.required

    def load(self) -> Callable:
        """The factory itself (imports torch and the operator's module)."""
        module, attribute = self.factory.split(":")
        return getattr(importlib.import_module(f"ddnm.operators.{module}"), attribute)


_SCALE, _MASK = ("scale",), ("mask",)
OPERATORS: dict[str, OperatorSpec] = {spec.name: spec for spec in (
    OperatorSpec("colorize", "colorize:Colorize", "gray image (channel mean)", "colorize",
                 observed="x", removes_colour=True),
    OperatorSpec("sr_avgpool", "downsample:AvgPool", "small image (average pooling)", "SR ×{scale} (average pool)",
                 _SCALE, _SCALE, scale_param="scale", warm_start="bicubic"),
    OperatorSpec("sr_bicubic", "downsample:Bicubic", "small image (bicubic downsampling)", "SR ×{scale} (bicubic)",
                 _SCALE, _SCALE, scale_param="scale", warm_start="bicubic"),
    OperatorSpec("inpaint", "inpaint:Inpaint", "image + mask (white = known)", "inpaint",
                 _MASK, _MASK, observed="x", warm_start="harmonic"),
    OperatorSpec("deblur_gaussian", "blur:gaussian_blur", "blurry image (Gaussian kernel)",
                 "deblur Gaussian σ={sigma:g}", ("sigma", "size", "threshold"), ("sigma",)),
    OperatorSpec("deblur_kernel", "blur:KernelBlur", "blurry image (given kernel)", "deblur (kernel)",
                 ("kernel", "threshold"), ("kernel",)),
    OperatorSpec("deblur_motion", "blur:motion_blur", "blurry image (straight motion)", "deblur (motion)",
                 ("length", "angle", "threshold"), ("length",)),
    OperatorSpec("denoise", "denoise:Denoise", "noisy image", "denoise"),
    OperatorSpec("cs", "cs:BlockCS", "block compressed-sensing coefficients (not an image)", "compressed sensing",
                 ("ratio", "block", "seed"), observed=None),
    OperatorSpec("old_photo", "compose:old_photo", "gray scan + mask of damage (colorize + inpaint)", "old photo",
                 _MASK, _MASK, observed="x", removes_colour=True),
)}


def spec(name: str) -> OperatorSpec:
    """The registered operator ``name``, or a ValueError listing the valid names."""
    if name not in OPERATORS:
        raise ValueError(f"unknown operator {name!r}; valid: {', '.join(sorted(OPERATORS))}")
    return OPERATORS[name]


def name_of(op) -> str | None:
    """The registered name of an operator object: the one ``make`` built it under, else that of the registered
    class it is exactly (``Bicubic(...)`` is "sr_bicubic"); None for any other (a hand-built ``Compose``, a window's
    operator), which warm starts from A⁺y and suits any prior."""
    name = getattr(op, "registered_name", None)
    if name in OPERATORS:
        return name
    for registered in OPERATORS.values():
        factory = registered.load()
        if isinstance(factory, type) and type(op) is factory:
            return registered.name
    return None


def cli_operators() -> dict[str, OperatorSpec]:
    """The operators the command line and the batch pipeline take (their measurements are images)."""
    return {name: s for name, s in OPERATORS.items() if s.cli}
