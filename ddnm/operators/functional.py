"""Pure kernels behind the operators: bicubic weights, blur kernels, a real orthonormal Fourier basis."""

from __future__ import annotations

import math
import numbers

import torch


def cubic(t: torch.Tensor, a: float = -0.5) -> torch.Tensor:
    """Keys' cubic convolution kernel (a = −0.5, as PIL and PyTorch's antialiased bicubic)."""
    t = t.abs()
    near = (a + 2) * t**3 - (a + 3) * t**2 + 1
    far = a * t**3 - 5 * a * t**2 + 8 * a * t - 4 * a
    return torch.where(t <= 1, near, torch.where(t < 2, far, torch.zeros_like(t)))


def bicubic_matrix(size: int, scale: int, dtype=torch.float64) -> torch.Tensor:
    """The (size/scale × size) 1-D bicubic downsampling matrix with the kernel stretched by ``scale``
    (antialiased, as PIL). Taps outside the signal are dropped and each row renormalised to sum 1,
    PIL's border rule (so a constant image stays constant; no reflection)."""
    out = size // scale
    centers = (torch.arange(out, dtype=dtype) + 0.5) * scale - 0.5
    taps = torch.arange(size, dtype=dtype)
    w = cubic((taps[None, :] - centers[:, None]) / scale)
    return w / w.sum(dim=1, keepdim=True)


def gaussian_kernel(sigma: float, size: int | None = None, dtype=torch.float64) -> torch.Tensor:
    """Normalised 2-D Gaussian kernel; default size 2·ceil(3σ)+1."""
    if not isinstance(sigma, numbers.Real) or not sigma > 0 or math.isinf(sigma):
        raise ValueError(f"blur sigma must be a finite number > 0 (pixels), got {sigma!r}")
    if size is None:
        size = 2 * math.ceil(3 * sigma) + 1
    elif isinstance(size, bool) or not isinstance(size, numbers.Integral) or size < 1:
        raise ValueError(f"blur kernel size must be a positive integer (odd keeps it centred), got {size!r}")
    r = torch.arange(size, dtype=dtype) - (size - 1) / 2
    g = torch.exp(-(r**2) / (2 * sigma**2))
    k = g[:, None] * g[None, :]
    return k / k.sum()


def motion_kernel(length: int, angle_deg: float = 0.0, dtype=torch.float64) -> torch.Tensor:
    """A straight motion-blur kernel of ``length`` pixels at ``angle_deg``, sampled on a supersampled line."""
    if isinstance(length, bool) or not isinstance(length, numbers.Integral) or length < 1:
        raise ValueError(f"motion length must be an integer >= 1 (pixels), got {length!r}")
    size = length if length % 2 else length + 1
    k = torch.zeros(size, size, dtype=dtype)
    theta = math.radians(angle_deg)
    c = (size - 1) / 2
    for s in torch.linspace(-(length - 1) / 2, (length - 1) / 2, 8 * length):
        i = round(c - float(s) * math.sin(theta))
        j = round(c + float(s) * math.cos(theta))
        k[i, j] += 1
    return k / k.sum()


def kernel_spectrum(kernel: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Unnormalised 2-D DFT of ``kernel`` zero-padded to H×W with its centre moved to (0, 0), so that
    circular convolution y = k ⊛ x is ``ifft2(K̂ · fft2(x))``."""
    kh, kw = kernel.shape
    if kh > height or kw > width:
        raise ValueError(f"blur kernel {kh}×{kw} is larger than the image {height}×{width}")
    padded = kernel.new_zeros(height, width)
    padded[:kh, :kw] = kernel
    padded = torch.roll(padded, shifts=(-(kh // 2), -(kw // 2)), dims=(0, 1))
    return torch.fft.fft2(padded)


def conjugate_pairs(height: int, width: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Split the H·W DFT bins of a real image into self-conjugate bins and conjugate pairs.

    Returns flat indices ``(self_idx, pair_idx, partner_idx)``: F[partner] = conj(F[pair]) for real input,
    and F[self] is real. len(self) + 2·len(pair) = H·W.
    """
    k1 = torch.arange(height)[:, None].expand(height, width)
    k2 = torch.arange(width)[None, :].expand(height, width)
    flat = (k1 * width + k2).flatten()
    partner = (((-k1) % height) * width + (-k2) % width).flatten()
    self_idx = flat[flat == partner]
    pair_idx = flat[flat < partner]
    return self_idx, pair_idx, partner[pair_idx]


def real_fourier_coords(x: torch.Tensor, pairs) -> torch.Tensor:
    """Real orthonormal Fourier coordinates (B, C, H·W) of real images (B, C, H, W):
    [F(self) | √2·Re F(pair) | √2·Im F(pair)] with the unitary DFT, an orthogonal map Rⁿ → Rⁿ."""
    self_idx, pair_idx, _ = pairs
    f = torch.fft.fft2(x, norm="ortho").flatten(2)
    p = f[..., pair_idx]
    return torch.cat([f[..., self_idx].real, math.sqrt(2) * p.real, math.sqrt(2) * p.imag], dim=-1)


def from_real_fourier_coords(z: torch.Tensor, pairs, height: int, width: int) -> torch.Tensor:
    """Inverse of :func:`real_fourier_coords`: (B, C, H·W) → (B, C, H, W)."""
    self_idx, pair_idx, partner_idx = pairs
    n_self, n_pair = self_idx.numel(), pair_idx.numel()
    a = z[..., n_self : n_self + n_pair] / math.sqrt(2)
    b = z[..., n_self + n_pair :] / math.sqrt(2)
    ctype = torch.complex128 if z.dtype == torch.float64 else torch.complex64
    f = torch.zeros((*z.shape[:-1], height * width), dtype=ctype, device=z.device)
    f[..., self_idx] = z[..., :n_self].to(ctype)
    f[..., pair_idx] = torch.complex(a, b)
    f[..., partner_idx] = torch.complex(a, -b)
    return torch.fft.ifft2(f.view(*z.shape[:-1], height, width), norm="ortho").real
