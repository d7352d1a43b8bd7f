"""Colour estimated at a working resolution, made exact at full resolution: the null-space lift.

For colorize A x = mean_c(x) (DDNM §4), so A⁺A x is the gray of x repeated over the channels and
(I − A⁺A) x = x − mean_c(x) is its chroma. Whatever chroma c we carry up from the working image,

    x̂ = A⁺y + (I − A⁺A) c        (DDNM Eq. 7 with x̄ = up(x_work), at full size)

satisfies A x̂ = y exactly, because A (I − A⁺A) = 0. For the old photo A = M ∘ colorize (M the mask of intact
pixels) the null space also holds the gray of the damaged pixels: we fill that gray harmonically from the intact
ones at full resolution (``ddnm.initial.harmonic_fill``: exact for thin scratches, smooth for holes) and carry
the chroma up as for colorize; A x̂ = M ⊙ gray = M ⊙ y still holds exactly.

Clamping x̂ to [−1, 1] channel by channel would change the gray, so :func:`fit_gamut` shrinks the chroma of a
pixel instead until every channel fits; the gray (and so A x̂) is untouched.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .guided_filter import rows_of, upsample_coefficients

STRIP_PIXELS = 1 << 22  # full-size pixels lifted at a time: ~4 MP bands keep a 150 MP plate's peak memory small


def resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resampling, low-pass filtered when shrinking (antialias) so the working gray is the scan's average."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return F.interpolate(x, size=tuple(size), mode="bilinear", antialias=True, align_corners=False)


def chroma(x: torch.Tensor) -> torch.Tensor:
    """(I − A⁺A) x for colorize: x minus its channel mean, (B, C, H, W); the channels sum to zero."""
    return x - x.mean(dim=1, keepdim=True)


def fit_gamut(gray: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """gray (B, 1, H, W) + t·c with the largest t ∈ [0, 1] per pixel that keeps every channel in [−1, 1].

    Requires gray ∈ [−1, 1] (then t = 0 always fits). The result's channel mean is exactly gray.
    """
    room_up = (1 - gray) / c.clamp_min(1e-12)  # channel k may rise by c_k only while gray + t c_k ≤ 1
    room_down = (-1 - gray) / c.clamp_max(-1e-12)
    t = torch.where(c > 0, room_up, torch.where(c < 0, room_down, torch.full_like(c, float("inf"))))
    t = t.amin(dim=1, keepdim=True).clamp(0, 1)
    return gray + t * c


def with_strength(x: torch.Tensor, strength: float) -> torch.Tensor:
    """x's chroma times ``strength`` around its channel mean, which stays as it was: colorize's and the old photo's A
    is that mean, so A x and the consistency residual are unchanged. Above 1 the gamut is fitted (``fit_gamut``)."""
    if strength == 1.0:
        return x
    gray = x.mean(dim=1, keepdim=True)
    c = strength * chroma(x)
    return fit_gamut(gray, c) if strength > 1.0 else gray + c


def working_measurement(y: torch.Tensor, known: torch.Tensor | None, size: tuple[int, int]):
    """The gray scan at the working size: ``(y_work, known_work)``; ``known`` is None for plain colorize.

    With a damage mask the working gray averages intact pixels only (a normalised convolution), and a working
    pixel counts as intact when at least half of the scan pixels under it are.
    """
    if known is None:
        return resize(y, size), None
    weight = resize(known.to(y.dtype).expand_as(y), size)
    y_work = resize(y * known, size) / weight.clamp_min(1e-6)
    known_work = weight >= 0.5
    return torch.where(known_work, y_work, torch.zeros_like(y_work)), known_work


def lift_and_compose(c_work: torch.Tensor, gray_work: torch.Tensor, gray_full: torch.Tensor, radius: int,
                     eps: float, channels: int, strip_pixels: int = STRIP_PIXELS) -> torch.Tensor:  # fmt: skip
    """Chroma (B, C, h, w) lifted from the working size to the size of ``gray_full`` (B, 1, H, W), edge-aware, and
    composed with the gray: ``compose(gray_full, chroma(guided_upsample(...)), channels)``, computed in bands of
    full-size rows. The chroma is guided by the gray (``ddnm.colour.guided_filter.guided_upsample``) and projected
    back onto the null space so rounding leaves no gray behind.

    Every step after the coefficients' fit is per pixel, so bands give the same x̂ (to float rounding: the bilinear
    resampling is done separably) while only one band's temporaries exist at a time: whole-image temporaries
    (a, b, a·I + b, its chroma, the gamut fit's) made a 41 MP colorize peak at 3.4 GB.
    """
    batch, _, height, width = gray_full.shape
    a_low, b_low = upsample_coefficients(gray_work, c_work, width, radius, eps)
    out = torch.empty(batch, channels, height, width, dtype=gray_full.dtype, device=gray_full.device)
    step = max(1, strip_pixels // max(width, 1))
    for start in range(0, height, step):
        stop = min(height, start + step)
        gray = gray_full[:, :, start:stop]
        c = chroma(rows_of(a_low, start, stop, height) * gray + rows_of(b_low, start, stop, height))
        out[:, :, start:stop] = compose(gray, c, channels)
    return out


def full_gray(y: torch.Tensor, known: torch.Tensor | None) -> torch.Tensor:
    """The full-resolution gray x̂ must have: y itself, or y with damaged pixels filled harmonically."""
    if known is None:
        return y
    from ..initial import harmonic_fill

    return harmonic_fill(y, known)


def compose(gray_full: torch.Tensor, c_full: torch.Tensor, channels: int) -> torch.Tensor:
    """x̂ = A⁺y + (I − A⁺A) c, kept in [−1, 1] by shrinking chroma, never by moving the gray."""
    return fit_gamut(gray_full.clamp(-1, 1), c_full) if channels > 1 else gray_full
