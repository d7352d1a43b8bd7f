"""One restoration as the pipeline and ``ddnm-batch restore`` see it: K posterior samples of a batch, averaged.

``restore_samples`` runs :func:`pipeline.restore_stage.restore_image` (window, tiling, warm start, latent models)
once per sample through ``ddnm.posterior.posterior_mean``. With K = 1 it is exactly one ``restore_image`` call;
with K > 1 the image written is the posterior mean (higher PSNR, no invented detail that the samples disagree on),
the residual is the mean's own certificate, and ``uncertainty`` is the mean per-pixel spread across samples
(0 to 1 intensity units): a number per image the review page and the metadata can sort on.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Restored:
    x: torch.Tensor  # (B, C, H, W) in [-1, 1]
    residual: torch.Tensor  # (B,) ‖A x̂ − y‖ / ‖y‖ of x itself
    seam_ratio: torch.Tensor | None  # (B,) tiled images only; the samples' mean for K > 1
    tiles: int
    uncertainty: torch.Tensor | None  # (B,) K > 1 only


def restore_samples(y: torch.Tensor, op, model, sampler_kwargs: dict, seeds: list[int], op_name: str = "",
                    samples: int = 1, progress=None) -> Restored:  # fmt: skip
    from ddnm.metrics import consistency
    from ddnm.posterior import posterior_mean, uncertainty

    from .restore_stage import restore_image

    seams, tiles, residual = [], 1, None

    def one_sample(sample_seeds: list[int]) -> torch.Tensor:
        nonlocal tiles, residual
        x, residual, seam, tiles = restore_image(y, op, model, sampler_kwargs, sample_seeds, op_name, progress)
        if seam is not None:
            seams.append(seam)
        return x

    x, std = posterior_mean(one_sample, seeds, samples)
    if samples > 1:
        residual = consistency(op, x, y.float())
    seam_ratio = torch.stack(seams).mean(0) if seams else None
    return Restored(x, residual, seam_ratio, tiles, uncertainty(std))
