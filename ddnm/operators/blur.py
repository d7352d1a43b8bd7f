"""Deblurring: circular convolution y = k ⊛ x, diagonal in Fourier, with an exact real SVD."""

from __future__ import annotations

import torch

from . import functional as Fn
from .base import SINGULAR_EPS, SVDOperator


class KernelBlur(SVDOperator):
    """y = k ⊛ x (circular, same kernel on every channel), y of shape (B, C, H, W).

    With the unitary DFT, Y(f) = K̂(f) X(f). In the real orthonormal Fourier coordinates of
    ``functional.real_fourier_coords`` a conjugate pair (Re, Im) is multiplied by |K̂| and rotated by
    arg K̂, and a self-conjugate bin by the real K̂. Hence V = that basis, singulars = |K̂| and
    U = V followed by the rotation (or sign): an exact SVD of real matrices, never formed densely.

    ``threshold``: frequencies with |K̂| below it are treated as lost (singular value 0) in A itself,
    as DDRM does; otherwise A⁺ would amplify quantisation noise by up to 1/|K̂|.
    """

    u_is_flatten = False

    def __init__(self, x_shape: tuple[int, int, int], kernel, threshold: float = 0.0):
        super().__init__(x_shape)
        c, h, w = self.x_shape
        k = torch.as_tensor(kernel, dtype=torch.float64)
        if k.dim() != 2 or k.numel() == 0:
            raise ValueError(f"blur kernel must be a non-empty 2-D array (kh, kw), got shape {tuple(k.shape)}")
        if not torch.isfinite(k).all():
            raise ValueError("blur kernel has NaN or infinite entries; pass a finite kernel")
        if not threshold >= 0:
            raise ValueError(f"blur threshold must be >= 0, got {threshold!r}")
        spectrum = Fn.kernel_spectrum(k, h, w).flatten()
        spectrum = torch.where(spectrum.abs() < threshold, torch.zeros_like(spectrum), spectrum)
        pairs = Fn.conjugate_pairs(h, w)
        self_idx, pair_idx, _ = pairs
        for name, t in zip(("self_idx", "pair_idx", "partner_idx"), pairs):
            self.register_buffer(name, t, persistent=False)
        # K̂ stored as (H·W, 2) real/imag: Module.to(float32) would drop the imaginary part of a complex buffer.
        self.register_buffer("spectrum_ri", torch.view_as_real(spectrum).clone(), persistent=False)
        s_self = spectrum[self_idx].real
        s_pair = spectrum[pair_idx]
        self.register_buffer("sign_self", torch.where(s_self < 0, -1.0, 1.0).to(torch.float64), persistent=False)
        self.register_buffer("cos_pair", torch.cos(s_pair.angle()), persistent=False)
        self.register_buffer("sin_pair", torch.sin(s_pair.angle()), persistent=False)
        per_channel = torch.cat([s_self.abs(), s_pair.abs(), s_pair.abs()])
        self.register_buffer("_singulars", per_channel.repeat(c), persistent=False)

    @property
    def _pairs(self):
        return self.self_idx, self.pair_idx, self.partner_idx

    @property
    def singulars(self) -> torch.Tensor:
        return self._singulars

    @property
    def spectrum(self) -> torch.Tensor:
        """K̂, the unnormalised DFT of the centred kernel, flat (H·W,) complex."""
        return torch.view_as_complex(self.spectrum_ri.contiguous())

    def _filter(self, x: torch.Tensor, spectrum: torch.Tensor) -> torch.Tensor:
        _, h, w = self.x_shape
        ctype = torch.complex128 if x.dtype == torch.float64 else torch.complex64
        f = torch.fft.fft2(x) * spectrum.to(device=x.device, dtype=ctype).view(h, w)
        return torch.fft.ifft2(f).real.to(x.dtype)

    def A(self, x):  # noqa: N802
        return self._filter(x, self.spectrum)

    def A_adjoint(self, y):  # noqa: N802
        return self._filter(y, self.spectrum.conj())

    def A_pinv(self, y):  # noqa: N802
        # Σ⁺ in Fourier: conj(K̂)/|K̂|² = 1/K̂ where |K̂| > SINGULAR_EPS, else 0 (as the factored A⁺).
        spectrum = self.spectrum
        mag = spectrum.abs()
        keep = mag > SINGULAR_EPS
        inv = torch.where(keep, spectrum.conj() / torch.where(keep, mag, torch.ones_like(mag)) ** 2, 0)
        return self._filter(y, inv)

    def V_t(self, x):  # noqa: N802
        return Fn.real_fourier_coords(x, self._pairs).flatten(1)

    def V(self, z):  # noqa: N802
        c, h, w = self.x_shape
        return Fn.from_real_fourier_coords(z.view(z.shape[0], c, h * w), self._pairs, h, w)

    def _rotate(self, z: torch.Tensor, direction: float) -> torch.Tensor:
        """Rotate each (Re, Im) pair by ±arg K̂ and flip the sign of negative self-conjugate bins."""
        n_self, n_pair = self.self_idx.numel(), self.pair_idx.numel()
        zs, a, b = z[..., :n_self], z[..., n_self : n_self + n_pair], z[..., n_self + n_pair :]
        cos, sin = self.cos_pair.to(z.dtype), direction * self.sin_pair.to(z.dtype)
        return torch.cat([zs * self.sign_self.to(z.dtype), cos * a - sin * b, sin * a + cos * b], dim=-1)

    def U_t(self, y):  # noqa: N802
        c, h, w = self.x_shape
        coords = Fn.real_fourier_coords(y, self._pairs)
        return self._rotate(coords, -1.0).flatten(1)

    def U(self, z):  # noqa: N802
        c, h, w = self.x_shape
        coords = self._rotate(z.view(z.shape[0], c, h * w), 1.0)
        return Fn.from_real_fourier_coords(coords, self._pairs, h, w)


def gaussian_blur(x_shape, sigma: float, size: int | None = None, threshold: float = 0.0) -> KernelBlur:
    """Circular Gaussian blur of std ``sigma`` pixels on a ``size``×``size`` support (default 2·ceil(3σ)+1)."""
    return KernelBlur(x_shape, Fn.gaussian_kernel(sigma, size), threshold)


def motion_blur(x_shape, length: int, angle: float = 0.0, threshold: float = 0.0) -> KernelBlur:
    """Circular blur by a straight motion kernel of ``length`` pixels at ``angle`` degrees."""
    return KernelBlur(x_shape, Fn.motion_kernel(length, angle), threshold)
