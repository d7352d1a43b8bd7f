"""How noisy is y? An estimate of σ_y for DDNM+ from the measurement alone (``estimate_sigma_y``).

DDNM+ (the paper's §3.3) needs the standard deviation σ_y of the noise in y = A x + n; an archive's scans come
with grain and sensor noise of a level nobody wrote down. The estimate is Donoho's: the finest diagonal wavelet
band (Haar HH) of a natural image is nearly zero except at texture and edges, while white noise of std σ puts std σ
into every coefficient, so median|HH| / 0.6745 (the normal distribution's MAD) measures σ where the image is smooth.
Texture inflates it, so it is taken per 8×8 block of coefficients and the image's quietest blocks (the 10th
percentile) speak for it, scaled so pure noise reads true (:data:`QUIET_SHARE`, :data:`QUIET_BIAS`); blocks with no
variation at all (clipped highlights, a scanner's black border: noise cannot show there) are left out. A y too small
for 16 blocks (a 64-px window's 16-px SR measurement) falls back to one median over the whole band, which texture
biases upwards. An estimate within the rounding of 8-bit samples is 0: plain DDNM.

>>> import torch
>>> y = torch.zeros(1, 1, 256, 256) + 0.05 * torch.randn(1, 1, 256, 256, generator=torch.Generator().manual_seed(0))
>>> round(float(estimate_sigma_y(y)[0]), 2)
0.05
"""

from __future__ import annotations

import torch

MAD_TO_STD = 0.6745  # median |z| of a standard normal z
BLOCK = 8  # HH coefficients a side of one block (16×16 pixels of y)
MIN_BLOCKS = 16  # fewer: one median over the whole band
QUIET_SHARE = 0.1  # the quantile of the blocks' estimates taken
# The 10th percentile of 64-coefficient MAD estimates of pure noise reads 0.806 σ (measured on 10⁶ blocks of unit
# noise, torch's lower median of an even count; tests/test_noise.py holds the estimate to σ within 3 % on pure noise).
QUIET_BIAS = 0.8056
NOISELESS = 2.0 / 255.0  # one 8-bit level in [-1, 1] units: below this the "noise" is rounding
# A level worth DDNM+, for ``ddnm-batch restore``'s hint: ~4 levels of 8-bit std. The clean scans measured read
# 0–0.015 at full size (Kodak24, the historical set), added noise of 0.02 reads 0.02–0.03.
NOISY = 0.03


def haar_hh(y: torch.Tensor) -> torch.Tensor:
    """The orthonormal Haar transform's diagonal band of ``(..., H, W)``: (a − b − c + d) / 2 over 2×2 cells."""
    h, w = y.shape[-2] // 2 * 2, y.shape[-1] // 2 * 2
    v = y[..., :h, :w].float()
    return (v[..., 0::2, 0::2] - v[..., 0::2, 1::2] - v[..., 1::2, 0::2] + v[..., 1::2, 1::2]) / 2


def band_sigma(hh: torch.Tensor) -> torch.Tensor:
    """σ of one channel's HH band ``(h, w)``: the quiet blocks' MAD estimate, or the whole band's."""
    rows, cols = hh.shape[-2] // BLOCK, hh.shape[-1] // BLOCK
    if rows * cols < MIN_BLOCKS:
        return hh.abs().median() / MAD_TO_STD
    blocks = hh[: rows * BLOCK, : cols * BLOCK].reshape(rows, BLOCK, cols, BLOCK).transpose(1, 2).reshape(-1, BLOCK**2)
    per_block = blocks.abs().median(dim=1).values / MAD_TO_STD
    varied = per_block[per_block > 0]  # a flat block (clipped, a border) shows no noise, whatever the noise is
    if varied.numel() < MIN_BLOCKS:
        return hh.abs().median() / MAD_TO_STD
    return torch.quantile(varied, QUIET_SHARE) / QUIET_BIAS


def estimate_sigma_y(y: torch.Tensor) -> torch.Tensor:
    """σ_y of each image of ``y`` ``(B, C, H, W)`` in its own units ([-1, 1] for images): ``(B,)``, the median of
    its channels' estimates (a gray scan lifted to three equal channels reads as one), 0 below :data:`NOISELESS`."""
    if y.dim() != 4:
        raise ValueError(f"y must be (B, C, H, W), got shape {tuple(y.shape)}")
    hh = haar_hh(y)
    sigma = torch.stack([torch.stack([band_sigma(c) for c in image]).median() for image in hh])
    return torch.where(sigma < NOISELESS, torch.zeros_like(sigma), sigma)
