"""Colorize at a working resolution where the prior sees the whole photo; exact at full resolution; safe by default.

The bundled prior sees 64 px at a time. Tiling a full-size scan with it lets every window pick its own hue (blotches
one window wide) and costs hours on a CPU. As DeOldify's ``render_factor`` and DDColor do, we instead estimate
colour on a small copy of the scan (the *working size*), where one window holds the whole photo, and carry only
the colour up (``ddnm.colour.lift``): x̂ = A⁺y + (I − A⁺A) up(x_work), so A x̂ = y exactly at full size.

Safe colour: at the working size K posterior samples are cheap (one batch). Their mean is the MMSE estimate
(``ddnm.posterior``): where the samples pick different hues it is already grayer. On top, the chroma is shrunk by
how much the samples disagree, a per-pixel Wiener-type gain

    g = |m|² / (|m|² + λ s²),   m = mean chroma of the K samples,  s² = their per-pixel chroma variance,

both box-averaged over a few working pixels so the gain is smooth: where the prior is sure (s ≪ |m|) the colour
stays, where it guesses (s ≳ |m|) it fades to the gray scan. Archivists prefer less colour to wrong colour.

A small prior's samples disagree more than the true posterior's, so their mean is grayer than the truth even where
the hue is right; ``saturation`` (> 1) scales the mean's chroma back, a calibration measured on held-out photos.
A prior trained on whole-photo thumbnails (``ddnm-colour-32``) colours best when the photo fills its window:
``stretch`` resizes it to size × size whatever its aspect, and the lift restores the aspect.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import torch

from ..operators import make
from ..operators.colorize import Colorize
from ..operators.compose import Compose
from ..operators.inpaint import Inpaint
from ..posterior import sample_seed
from .guided_filter import box_filter
from .lift import chroma, full_gray, lift_and_compose, working_measurement

# (y_work, op_work, seeds) -> x_work (B, C, h, w): one posterior sample per row (the caller's sampler and tiling)
Sampler = Callable[[torch.Tensor, object, list[int]], torch.Tensor]


@dataclass(frozen=True, slots=True)
class WorkingSize:
    """How colour is estimated at the working size and carried up (defaults chosen in docs/model_card.md, "Colour").

    size:    long side of the working image in pixels (its short side follows the photo's aspect, at least 8).
             The prior's window (64) lets it see the whole photo at once; larger sizes tile.
    samples: K posterior samples at the working size, run as one batch; their mean is the colour.
    shrink:  λ of the spread gain g = |m|²/(|m|² + λ s²); 0 keeps the plain posterior mean.
    radius:  guided-filter window radius, in working pixels, for the upsampling of the colour.
    eps:     guided-filter ε (in [−1, 1]² units): larger smooths colour across weak edges.
    saturation: the posterior-mean chroma times this, after the spread gain. A weak prior's samples disagree more
             than the true posterior's would, so their mean is grayer than the truth; a value > 1 calibrates that
             (chosen on the hold-out, docs/model_card.md "Colour prior"). 1 keeps the mean.
    stretch: resize the photo to size × size whatever its aspect, so it fills the prior's whole window as the
             whole-photo thumbnails it was trained on did (no unmeasured margin to invent); the lift carries the
             colour back to the photo's own aspect. False keeps the aspect (long side ``size``).
    cast:    the share of the colour's spatial mean (a global tint over the whole photo) that is kept; the rest is
             taken out, leaving the colour's variation over the photo (sky against foliage against skin). The
             colour prior's samples agree with each other far more on where colours differ than on the photo's
             overall tint, which comes mostly from the seed and, averaged, is the prior's own cast (olive-yellow);
             measured in docs/model_card.md ("Colour prior"). 1 keeps the posterior mean's tint.
    """

    size: int = 64
    samples: int = 8
    shrink: float = 1.0
    radius: int = 1
    eps: float = 1e-3
    saturation: float = 1.0
    stretch: bool = False
    cast: float = 1.0

    def __post_init__(self) -> None:
        if self.size < 8:
            raise ValueError(f"work size must be >= 8 pixels, got {self.size}")
        if self.samples < 1:
            raise ValueError(f"working-size samples must be >= 1, got {self.samples}")
        if self.shrink < 0 or self.radius < 0 or self.eps <= 0:
            raise ValueError(f"need shrink >= 0, radius >= 0, eps > 0; got {self.shrink}, {self.radius}, {self.eps}")
        if not 0 <= self.saturation <= 4:
            raise ValueError(f"saturation must be in [0, 4] (1 keeps the posterior mean), got {self.saturation}")
        if not 0 <= self.cast <= 1:
            raise ValueError(f"cast must be in [0, 1] (1 keeps the colour's global tint), got {self.cast}")


WORKING_OPTIONS = ("shrink", "radius", "eps", "saturation", "stretch", "cast")  # a prior's config may recommend these


def working_size_for(recommended: dict, size: int, samples: int) -> WorkingSize:
    """``WorkingSize(size, samples)`` with the options a prior's ``colour`` config block recommends.

    The block's other keys (``prior``, ``work_size``, ``samples``) are resolved by ``ddnm.settings``.
    """
    known = {"prior", "work_size", "samples", *WORKING_OPTIONS}
    if unknown := sorted(set(recommended) - known):
        raise ValueError(f"unknown keys {unknown} in the prior's 'colour' config; expected some of {sorted(known)}")
    return WorkingSize(size=size, samples=samples, **{k: recommended[k] for k in WORKING_OPTIONS if k in recommended})


class ColourResult(NamedTuple):
    x: torch.Tensor  # (B, C, H, W) in [-1, 1]; A x = y exactly
    uncertainty: torch.Tensor | None  # (B,) mean per-pixel spread of the K working samples, [0, 1] units
    x_work: torch.Tensor  # (B, C, h, w) the colour at the working size, after the gain and the saturation
    gain: torch.Tensor  # (B, 1, h, w) the safe-colour gain g (1 = kept)


def is_colour_task(op) -> bool:
    """True for colorize and the old photo (mask ∘ colorize): the tasks whose null space is colour."""
    return isinstance(op, Colorize) or (
        isinstance(op, Compose) and isinstance(op.inner, Colorize) and isinstance(op.outer, Inpaint)
    )


def working_shape(height: int, width: int, size: int, stretch: bool = False) -> tuple[int, int]:
    """(h, w) with long side ``size`` and the photo's aspect (``stretch``: size × size); never larger than the
    photo on either side."""
    if stretch:
        return min(height, size), min(width, size)
    scale = min(1.0, size / max(height, width))
    return max(min(8, height), round(height * scale)), max(min(8, width), round(width * scale))


def _known(op) -> torch.Tensor | None:
    """The intact-pixel mask (B|1, 1, H, W) of an old photo; None for colorize."""
    if isinstance(op, Colorize):
        return None
    return op.outer.mask[:, :1] > 0.5


def spread_gain(samples: torch.Tensor, shrink: float, radius: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean chroma, g) from K samples (B, K, C, h, w): the posterior-mean chroma and its safe-colour gain."""
    c = chroma(samples.flatten(0, 1)).view_as(samples)
    mean = c.mean(dim=1)
    if samples.shape[1] == 1 or shrink == 0:
        return mean, torch.ones_like(mean[:, :1])
    energy = box_filter(mean.pow(2).sum(dim=1, keepdim=True), radius)  # |m|²
    variance = box_filter(c.var(dim=1).sum(dim=1, keepdim=True), radius)  # s², unbiased over K
    return mean, energy / (energy + shrink * variance).clamp_min(1e-12)


@torch.inference_mode()
def restore_colour(y: torch.Tensor, op, sample: Sampler, seeds: list[int], settings: WorkingSize) -> ColourResult:
    """Colour a gray scan y (B, 1, H, W) for ``op`` (colorize or old photo) via the working size.

    ``sample`` draws one posterior sample per row of a working-size problem (the caller's DDNM sampler, windows
    and warm start); it is called once, on a batch of B·K rows. Sample k of image b has seed
    ``ddnm.posterior.sample_seed(seeds[b], k)``, as ``ddnm.posterior`` gives it.
    """
    if not is_colour_task(op):
        raise ValueError(f"working-size colour is for colorize and old_photo, not {type(op).__name__}")
    channels, height, width = op.x_shape
    b, k = y.shape[0], settings.samples
    known = _known(op)
    known = None if known is None else known.to(y.device).expand(b, 1, height, width)
    size = working_shape(height, width, settings.size, settings.stretch)
    y_work, known_work = working_measurement(y.float(), known, size)
    if known_work is None:
        op_work = make("colorize", (channels, *size))
    else:
        op_work = make("old_photo", (channels, *size), mask=known_work.repeat_interleave(k, 0).float())
    rows = sample(y_work.repeat_interleave(k, 0), op_work.to(y.device),
                  [sample_seed(s, j) for s in seeds for j in range(k)])  # fmt: skip
    rows = rows.float().view(b, k, channels, *size)
    mean, gain = spread_gain(rows, settings.shrink)
    colour = settings.saturation * gain * mean
    # keep `cast` of the global tint: c ← c − (1 − cast)·mean_hw(c), on the chroma, so the gray stays the scan's
    colour = colour - (1 - settings.cast) * colour.mean(dim=(2, 3), keepdim=True)
    gray_work = rows.mean(dim=(1, 2)).unsqueeze(1)  # = y_work on intact pixels; the prior's fill elsewhere
    gray = full_gray(y.float(), known)
    x = lift_and_compose(colour, gray_work, gray, settings.radius, settings.eps, channels)
    spread = None if k == 1 else rows.std(dim=1).flatten(1).mean(dim=1) / 2  # as ddnm.posterior.uncertainty
    return ColourResult(x.to(y.dtype), spread, gray_work + colour, gain)
