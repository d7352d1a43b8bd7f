"""The colour-tint diagnostic's arithmetic: a tint that follows only the seed, or only the photo, is attributed so."""

from __future__ import annotations

import torch

from benchmarks.colour_tint import tint, variance_split


def test_tint_is_the_mean_chroma_on_orthonormal_axes():
    gray = torch.full((1, 3, 4, 4), 0.3)
    red = gray + torch.tensor([0.2, -0.1, -0.1]).view(1, 3, 1, 1)
    assert torch.allclose(tint(gray), torch.zeros(1, 2), atol=1e-7)
    t = tint(red)[0]  # chroma (0.2, -0.1, -0.1): red-green 0.3/sqrt2, yellow-blue (0.1 + 0.2)/sqrt6
    assert torch.allclose(t, torch.tensor([0.3 / 2**0.5, 0.3 / 6**0.5]), atol=1e-6)


def test_variance_split_attributes_seed_and_photo():
    g = torch.Generator().manual_seed(0)
    per_seed = torch.randn(1, 16, 2, generator=g).expand(10, 16, 2)
    per_photo = torch.randn(10, 1, 2, generator=g).expand(10, 16, 2)
    photo, seed = variance_split(per_seed)
    assert photo < 1e-6 and abs(seed - 1) < 1e-6
    photo, seed = variance_split(per_photo)
    assert abs(photo - 1) < 1e-6 and seed < 1e-6
    photo, seed = variance_split(per_seed + per_photo)
    assert 0.2 < photo < 0.8 and abs(photo + seed - 1) < 1e-5  # additive effects: the shares add up
