"""One restoration as the pipeline and ``ddnm-batch restore`` see it: K posterior samples of a batch, averaged.

``restore_samples`` runs :func:`pipeline.restore_stage.restore_image` (window, tiling, warm start, latent models)
once per sample through ``ddnm.posterior.posterior_mean``. With K = 1 it is exactly one ``restore_image`` call;
with K > 1 the image written is the posterior mean (higher PSNR, no invented detail that the samples disagree on),
the residual is the mean's own certificate, and ``uncertainty`` is the mean per-pixel spread across samples
(0 to 1 intensity units): a number per image the review page and the metadata can sort on.

Colorize and the old photo go through ``ddnm.colour`` instead (unless ``work_size`` is 0): colour estimated on a
copy of the scan at the working size (default: the prior's window, so it sees the whole photo), K samples there
in one batch (default 8), chroma shrunk where they disagree, carried up to full size exactly (A x̂ = y).
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
    samples: int = 1  # K actually averaged
    work_size: int | None = None  # long side of the working image when colour went through ddnm.colour


def colour_work_size(model, op, work_size: int | None) -> int | None:
    """The working size for ``op`` (None: restore at full size): colour tasks only, ``work_size`` or the prior's
    window when None; 0 turns the working size off. Latent priors (no window) restore at full size unless asked."""
    from ddnm.colour import is_colour_task

    if work_size == 0 or not is_colour_task(op) or getattr(model, "is_latent", False):
        return None
    return work_size or getattr(model.info, "image_size", None)


def restore_samples(y: torch.Tensor, op, model, sampler_kwargs: dict, seeds: list[int], op_name: str = "",
                    samples: int | None = None, work_size: int | None = None, progress=None) -> Restored:  # fmt: skip
    """``samples`` None is 1, or ``ddnm.colour.WorkingSize.samples`` (8) at the working size."""
    from ddnm.metrics import consistency
    from ddnm.posterior import posterior_mean, uncertainty

    from .restore_stage import restore_image

    size = colour_work_size(model, op, work_size)
    if size is not None:
        return _restore_colour(y, op, model, sampler_kwargs, seeds, op_name, samples, size, progress)
    samples = samples or 1
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
    return Restored(x, residual, seam_ratio, tiles, uncertainty(std), samples)


def _restore_colour(y, op, model, sampler_kwargs, seeds, op_name, samples, size, progress) -> Restored:
    from ddnm.colour import WorkingSize, restore_colour
    from ddnm.metrics import consistency

    from .restore_stage import restore_image

    settings = WorkingSize(size=size) if samples is None else WorkingSize(size=size, samples=samples)
    tiles = 1

    def sample(y_work: torch.Tensor, op_work, sample_seeds: list[int]) -> torch.Tensor:
        nonlocal tiles
        x, _, _, tiles = restore_image(y_work, op_work, model, sampler_kwargs, sample_seeds, op_name, progress)
        return x

    out = restore_colour(y, op, sample, seeds, settings)
    return Restored(out.x, consistency(op, out.x, y.float()), None, tiles, out.uncertainty, settings.samples, size)
