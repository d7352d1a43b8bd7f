"""A colour baseline with no network: the training photos' mean chroma at each gray level, E[c | gray].

The colour benchmark's gray A⁺y shows what no colour scores; this shows what the *simplest* colour prior scores:
a table of 16 chroma vectors, one per gray level, measured on the photos the colour prior trained on (the corpus
minus ``jobs/holdout.txt``), applied per pixel (x̂ = A⁺y + (I − A⁺A) table(A⁺y), gamut-fitted as the real path
is). It knows that shadows are near neutral, mid-tones yellow and bright areas (skies) bluish, and nothing else. The
diffusion colour's margin over it is what the prior knows about content.

Its rows are the colour benchmark's "tint table (no network)" (``python -m benchmarks.colour``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

BINS = 16  # gray levels: ~8 levels of 8-bit gray each; finer bins only add noise from 180 photos


def tint_table(paths: list[Path], bins: int = BINS, side: int = 128) -> torch.Tensor:
    """(bins, 3): the mean chroma (RGB minus its channel mean, [-1, 1] units) of the pixels in each gray bin,
    pooled over ``paths`` as thumbnails of long side ``side`` (every photo weighs by its pixel count). A bin no
    pixel falls in is neutral."""
    sums = torch.zeros(bins, 3, dtype=torch.float64)
    counts = torch.zeros(bins, dtype=torch.float64)
    for path in paths:
        image = Image.open(path).convert("RGB")
        image.thumbnail((side, side), Image.LANCZOS)
        x = torch.from_numpy(np.asarray(image, dtype=np.float64) / 127.5 - 1).permute(2, 0, 1)
        gray = x.mean(0)
        index = gray_bin(gray, bins).flatten()
        sums.index_add_(0, index, (x - gray).flatten(1).T)
        counts.index_add_(0, index, torch.ones_like(index, dtype=torch.float64))
    return (sums / counts.clamp_min(1)[:, None]).float()


def gray_bin(gray: torch.Tensor, bins: int) -> torch.Tensor:
    """The bin index of each gray level in [-1, 1]."""
    return ((gray + 1) / 2 * bins).long().clamp(0, bins - 1)


def table_chroma(gray: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """Chroma (B, 3, H, W) for a gray (B, 1, H, W): the table read piecewise-linearly between bin centres, so equal
    gray levels get equal colour and no bin edge draws a contour."""
    bins = table.shape[0]
    position = ((gray[:, 0] + 1) / 2 * bins - 0.5).clamp(0, bins - 1)
    low = position.floor().long().clamp(0, bins - 2)
    frac = (position - low)[..., None]
    table = table.to(gray.device, gray.dtype)
    return (table[low] * (1 - frac) + table[low + 1] * frac).permute(0, 3, 1, 2)


def table_colour(y: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """x̂ (B, 3, H, W) for a gray scan y (B, 1, H, W): exactly y's gray levels, the table's chroma."""
    from ddnm.colour.lift import compose

    return compose(y.float(), table_chroma(y.float(), table), 3)


def corpus_table(corpus: Path | None = None) -> torch.Tensor | None:
    """The table of the training photos of ``corpus`` (default: the one the priors train on,
    ``jobs.train_settings.default_corpus``), or None where there is none (CI keeps no ../shared)."""
    from jobs.photos import list_images, split_holdout
    from jobs.train_settings import default_corpus

    try:
        train, _ = split_holdout(list_images(corpus or default_corpus()))
    except FileNotFoundError:
        return None
    return tint_table(train)
