"""The posterior mean and spread of K DDNM samples: a minimum-squared-error estimate and an uncertainty map.

One DDNM run draws one sample of p(x | y): the range space is fixed to A⁺y and the prior invents the null space.
The average of K independent samples approximates E[x | y], the estimate that minimises the expected squared error
(so it maximises expected PSNR), at K times the cost. It stays exactly consistent because A is linear:
A·(1/K Σ x_k) = 1/K Σ A x_k = y. The per-pixel standard deviation across the samples is zero on the range space
and shows where, and how much, the prior had to invent: useful for an archivist deciding whether to trust a detail.

Sample 0 of every image keeps the image's own seed, so ``samples=1`` is plain DDNM, bit for bit.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import torch

Restore = Callable[[list[int]], torch.Tensor]  # seeds (one per image) -> x̂ (B, C, H, W)


def sample_seed(seed: int, k: int) -> int:
    """The seed of sample ``k`` of an image whose own seed is ``seed`` (sample 0 keeps it)."""
    if k == 0:
        return int(seed)
    digest = hashlib.sha256(f"{int(seed)}:{k}".encode()).digest()
    return int.from_bytes(digest[:8], "big") & (2**63 - 1)


def posterior_mean(restore: Restore, seeds: list[int], samples: int,
                   per_call: int = 1) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``(mean, std)`` over ``samples`` runs of ``restore``; ``std`` is ``None`` for a single sample.

    ``per_call`` samples run in one call of ``restore`` (``ddnm.packing``): it gets their seeds sample after sample
    (c·B seeds) and returns c·B rows in that order. With 1 (the default) the samples run one after another and
    memory stays that of one run. Either way the samples are folded in order with Welford's update, in float64 so
    K = 100 loses nothing, and each sample keeps its own seeds, so the result does not depend on the packing.
    """
    if samples < 1:
        raise ValueError(f"samples must be >= 1, got {samples}")
    if per_call < 1:
        raise ValueError(f"per_call must be >= 1, got {per_call}")
    mean = m2 = None
    batch = len(seeds)
    for first in range(0, samples, per_call):
        ks = range(first, min(first + per_call, samples))
        packed = restore([sample_seed(s, k) for k in ks for s in seeds])
        for j, k in enumerate(ks):
            x = packed[j * batch : (j + 1) * batch] if len(ks) > 1 else packed
            if samples == 1:
                return x, None
            x64 = x.to(torch.float64)
            if mean is None:
                mean, m2 = x64.clone(), torch.zeros_like(x64)
                continue
            delta = x64 - mean
            mean += delta / (k + 1)
            m2 += delta * (x64 - mean)
    std = (m2 / (samples - 1)).sqrt()  # unbiased: the spread of the posterior, not of this finite average
    return mean.to(x.dtype), std.to(x.dtype)


def uncertainty(std: torch.Tensor | None) -> torch.Tensor | None:
    """One number per image: the mean per-pixel posterior standard deviation, on the [0, 1] intensity scale."""
    if std is None:
        return None
    return std.flatten(1).mean(1) / 2  # images live on [-1, 1]
