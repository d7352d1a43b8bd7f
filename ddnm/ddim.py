"""The DDIM update (Song et al., arXiv:2010.02502) shared by every guidance rule: noise, coefficients, re-noising.

x_next = a_t·x̂0 + c_t·x_t + (noise term)   with   a_t·x̂0 + c_t·x_t = sqrt(ᾱ_next)·x̂0 + d_t·ε̂,
ε̂ = (x_t − sqrt(ᾱ_t)·x̂0) / sqrt(1 − ᾱ_t)   (DDIM Eq. 12; d_t is the weight of the "direction pointing to x_t").
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

# Draws z ~ N(0, I) shaped like its argument (k-diffusion's ``noise_sampler``): lets a caller inject the exact
# noise of another implementation, e.g. to compare two samplers draw for draw.
NoiseSampler = Callable[[torch.Tensor], torch.Tensor]
Generators = torch.Generator | Sequence[torch.Generator] | NoiseSampler | None


def randn_like(x: torch.Tensor, generator: Generators) -> torch.Tensor:
    """Standard normal noise; with one generator per batch item each row is reproducible on its own,
    whatever else shares its batch. A callable (``NoiseSampler``) is asked for the noise instead."""
    if callable(generator):
        z = generator(x)
        if z.shape != x.shape:
            raise ValueError(f"the noise sampler returned shape {tuple(z.shape)} for {tuple(x.shape)}")
        return z.to(dtype=x.dtype, device=x.device)
    if generator is None or isinstance(generator, torch.Generator):
        return torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
    if len(generator) != x.shape[0]:
        raise ValueError(f"got {len(generator)} generators for a batch of {x.shape[0]}")
    # Each row is drawn from its own stream straight into the batch tensor (no per-row tensors to stack).
    out = torch.empty(x.shape, dtype=x.dtype, device=x.device)
    for row, g in zip(out, generator):
        torch.randn(x.shape[1:], generator=g, out=row)
    return out


def direction_coefficients(alpha_bar_t: float, alpha_bar_next: float, d_t: float) -> tuple[float, float]:
    """(a_t, c_t) with a_t·x̂0 + c_t·x_t = sqrt(ᾱ_next)·x̂0 + d_t·ε̂ (DDIM Eq. 12 written in x_t instead of ε̂)."""
    c_t = d_t / (1 - alpha_bar_t) ** 0.5
    a_t = alpha_bar_next**0.5 - c_t * alpha_bar_t**0.5
    return a_t, c_t


def ddim_coefficients(alpha_bar_t: float, alpha_bar_next: float, eta: float) -> tuple[float, float, float]:
    """(σ_t, a_t, c_t) so that x_next = a_t·x̂0 + c_t·x_t + σ_t·z is the DDIM posterior (Eq. 7, Eq. 16)."""
    # DDIM Eq. 16: σ_t(η) = η · sqrt((1 − ᾱ_next)/(1 − ᾱ_t)) · sqrt(1 − ᾱ_t/ᾱ_next)
    sigma_t = eta * ((1 - alpha_bar_next) / (1 - alpha_bar_t) * (1 - alpha_bar_t / alpha_bar_next)) ** 0.5
    # DDIM Eq. 12: the direction to x_t carries what variance σ_t leaves, d_t = sqrt(1 − ᾱ_next − σ_t²)
    a_t, c_t = direction_coefficients(alpha_bar_t, alpha_bar_next, max(1 - alpha_bar_next - sigma_t**2, 0.0) ** 0.5)
    return sigma_t, a_t, c_t


def reference_renoise(x0: torch.Tensor, alpha_bar_up: float, generator: Generators) -> torch.Tensor:
    """Time-travel jump as the authors' code makes it: the last uncorrected x0|t noised afresh to ᾱ_t',
    x_t' = sqrt(ᾱ_t')·x0|t + sqrt(1 − ᾱ_t')·z (q(x_t' | x0) rather than q(x_t' | x_t))."""
    return alpha_bar_up**0.5 * x0 + (1 - alpha_bar_up) ** 0.5 * randn_like(x0, generator)


def renoise(x_t: torch.Tensor, alpha_bar_t: float, alpha_bar_up: float, generator: Generators) -> torch.Tensor:
    """Time-travel jump t → t' > t: sample q(x_t' | x_t) = N(sqrt(ᾱ_t'/ᾱ_t) x_t, (1 − ᾱ_t'/ᾱ_t) I)."""
    ratio = alpha_bar_up / alpha_bar_t
    return ratio**0.5 * x_t + (1 - ratio) ** 0.5 * randn_like(x_t, generator)


def generators_for(seeds: Sequence[int], device: torch.device) -> list[torch.Generator]:
    """One generator per image, so each result depends only on its own seed, never on its batch."""
    gens = []
    for seed in seeds:
        g = torch.Generator(device=device)
        g.manual_seed(int(seed))
        gens.append(g)
    return gens
