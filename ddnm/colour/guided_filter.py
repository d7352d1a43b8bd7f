"""Edge-aware upsampling of colour guided by the full-resolution gray: the (fast) guided filter.

He, Sun, Tang, "Guided Image Filtering" (ECCV 2010 / TPAMI 2013), and He, Sun, "Fast Guided Filter"
(arXiv:1505.00996). In every window ω_k the output is a linear function of the guide I,

    q_i = a_k I_i + b_k,   a_k = cov_k(I, p) / (var_k(I) + ε),   b_k = mean_k(p) − a_k mean_k(I)   (TPAMI Eq. 5-6)

and q_i averages the (a_k, b_k) of the windows that contain pixel i (Eq. 8). The fast variant fits (a, b) on a
subsampled guide and input and upsamples only the smooth coefficients, then applies them to the full-resolution
guide (arXiv:1505.00996 Algorithm 2): colour changes where the full-resolution gray changes, so it does not
bleed across edges the way bilinear upsampling of the colour itself does.

The filter is linear in p with coefficients shared by all channels' guide, so colour whose channels sum to zero
(the null space of colorize) keeps summing to zero.

>>> import torch
>>> guide = torch.linspace(-1, 1, 16).repeat(1, 1, 16, 1)
>>> guided_filter(guide, guide, radius=2, eps=1e-6).sub(guide).abs().max() < 1e-3  # I is its own best fit
tensor(True)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def box_filter(x: torch.Tensor, radius: int) -> torch.Tensor:
    """Mean over the (2r+1)² window around every pixel of ``x`` (B, C, H, W), windows clipped at the border.

    Integral images (cumulative sums) make it O(1) per pixel whatever the radius (TPAMI §4.1 "box filter").
    """
    if radius == 0:
        return x
    h, w = x.shape[-2:]

    def along(t: torch.Tensor, dim: int, n: int) -> torch.Tensor:
        c = F.pad(t.cumsum(dim), (1, 0) if dim == -1 else (0, 0, 1, 0))
        hi = torch.arange(n, device=t.device).add(radius + 1).clamp(max=n)
        lo = torch.arange(n, device=t.device).sub(radius).clamp(min=0)
        return c.index_select(dim, hi) - c.index_select(dim, lo)

    ones = torch.ones(1, 1, h, w, dtype=x.dtype, device=x.device)
    counts = along(along(ones, -2, h), -1, w)
    return along(along(x, -2, h), -1, w) / counts


def _coefficients(guide: torch.Tensor, p: torch.Tensor, radius: int, eps: float):
    """(a, b) of TPAMI Eq. 5-6, already averaged over the windows covering each pixel (Eq. 8)."""
    mean_i = box_filter(guide, radius)
    mean_p = box_filter(p, radius)
    cov_ip = box_filter(guide * p, radius) - mean_i * mean_p
    var_i = box_filter(guide * guide, radius) - mean_i * mean_i
    a = cov_ip / (var_i + eps)
    b = mean_p - a * mean_i
    return box_filter(a, radius), box_filter(b, radius)


def guided_filter(guide: torch.Tensor, p: torch.Tensor, radius: int, eps: float) -> torch.Tensor:
    """The guided filter of ``p`` (B, C, H, W) by the one-channel ``guide`` (B, 1, H, W) at the same size."""
    a, b = _coefficients(guide, p, radius, eps)
    return a * guide + b


def upsample_coefficients(guide_low: torch.Tensor, p_low: torch.Tensor, width: int, radius: int,
                          eps: float) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """(a, b) fitted at p's size and resampled to the full ``width``, still at the low height: the first half of a
    separable bilinear upsampling, done once; :func:`rows_of` gives any band of full-size rows from it."""
    a, b = _coefficients(guide_low, p_low, radius, eps)
    size = (a.shape[-2], width)  # the height is unchanged (scale 1: bilinear is the identity there)
    return (F.interpolate(a, size=size, mode="bilinear", align_corners=False),
            F.interpolate(b, size=size, mode="bilinear", align_corners=False))  # fmt: skip


def rows_of(coefficient: torch.Tensor, start: int, stop: int, height: int) -> torch.Tensor:
    """Rows ``start:stop`` of ``coefficient`` (B, C, h, W) bilinearly resampled to ``height`` rows, as
    ``F.interpolate(..., mode="bilinear", align_corners=False)`` places them: source row (i + ½)·h/H − ½,
    clamped."""
    h = coefficient.shape[-2]
    rows = torch.arange(start, stop, dtype=torch.float64, device=coefficient.device)
    source = ((rows + 0.5) * (h / height) - 0.5).clamp(min=0)
    below = source.floor().long().clamp(max=h - 1)
    above = (below + 1).clamp(max=h - 1)
    weight = (source - below).to(coefficient.dtype).view(-1, 1)
    return coefficient[:, :, below] * (1 - weight) + coefficient[:, :, above] * weight


def guided_upsample(guide_low: torch.Tensor, p_low: torch.Tensor, guide_full: torch.Tensor, radius: int,
                    eps: float) -> torch.Tensor:  # fmt: skip
    """Upsample ``p_low`` (B, C, h, w) to the size of ``guide_full`` (B, 1, H, W) (arXiv:1505.00996 Alg. 2).

    ``guide_low`` is the guide at p's size, the image p was estimated from (e.g. the downscaled gray scan).
    Only the smooth coefficients (a, b) are interpolated (bilinear); the edges come from ``guide_full``.
    """
    a, b = _coefficients(guide_low, p_low, radius, eps)
    size = tuple(guide_full.shape[-2:])
    a_full = F.interpolate(a, size=size, mode="bilinear", align_corners=False)
    b_full = F.interpolate(b, size=size, mode="bilinear", align_corners=False)
    return a_full * guide_full + b_full
