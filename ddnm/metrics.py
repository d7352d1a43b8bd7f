"""Per-image quality and consistency measures on images in [-1, 1]. Pure tensor functions."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .operators.base import LinearOperator


def consistency(op: LinearOperator, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Relative data-consistency residual ‖A x̂ − y‖ / ‖y‖ per image: the certificate every output carries."""
    r = (op.A(x.to(y.dtype)) - y).flatten(1).norm(dim=1)
    return r / y.flatten(1).norm(dim=1).clamp_min(1e-12)


def psnr(x: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """PSNR in dB per image, computed on [0, 1] intensities (inputs in [-1, 1])."""
    mse = ((x.double() - ref.double()) / 2).pow(2).flatten(1).mean(dim=1)
    return 10 * torch.log10(1.0 / mse.clamp_min(1e-20))


def _gaussian_window(size: int, sigma: float, channels: int, like: torch.Tensor) -> torch.Tensor:
    coords = torch.arange(size, dtype=like.dtype, device=like.device) - (size - 1) / 2
    g = torch.exp(-(coords**2) / (2 * sigma**2))
    g = g / g.sum()
    return (g[:, None] * g[None, :]).expand(channels, 1, size, size).contiguous()


def ssim(x: torch.Tensor, ref: torch.Tensor, window: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """SSIM (Wang et al. 2004) per image: Gaussian 11×11 window, σ 1.5, [0, 1] range, channel mean, valid region."""
    a = (x.double() + 1) / 2
    b = (ref.double() + 1) / 2
    c = a.shape[1]
    w = _gaussian_window(window, sigma, c, a)
    c1, c2 = 0.01**2, 0.03**2

    def blur(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(t, w, groups=c)

    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a**2
    var_b = blur(b * b) - mu_b**2
    cov = blur(a * b) - mu_a * mu_b
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return s.flatten(1).mean(dim=1)


def colourfulness(x: torch.Tensor) -> torch.Tensor:
    """Hasler & Süsstrunk (2003) colourfulness M per RGB image, on [0, 255] intensities."""
    rgb = (x.double() + 1) * 127.5
    rg = rgb[:, 0] - rgb[:, 1]
    yb = 0.5 * (rgb[:, 0] + rgb[:, 1]) - rgb[:, 2]
    std = (rg.flatten(1).var(dim=1, correction=0) + yb.flatten(1).var(dim=1, correction=0)).sqrt()
    mean = (rg.flatten(1).mean(dim=1) ** 2 + yb.flatten(1).mean(dim=1) ** 2).sqrt()
    return std + 0.3 * mean
