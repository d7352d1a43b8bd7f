"""A window-sized prior presented as a prior for the whole image: split x_t, one batched call per chunk, blend x0.

This is the "joint" tiling strategy. The unchanged ``sample_ddnm`` runs on the full image with the full-size
operator, so the range-space correction (DDNM Eq. 13) and the DDIM step act on the whole image and the result
is exactly consistent for every operator. Only the x0 estimate is assembled from windows, as MultiDiffusion
(Bar-Tal et al., arXiv:2302.08113) fuses overlapping windows at every step.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import torch

from ..models.wrapper import DiffusionModel
from .blend import accumulate_tiles, coverage, ramp_weight, split_tiles
from .plan import TilePlan, all_items, min_overlap


def model_device(model: torch.nn.Module) -> torch.device:
    """Where the model's weights (or, for analytic priors, its schedule buffer) live."""
    for tensor in (*model.parameters(), *model.buffers()):
        return tensor.device
    return torch.device("cpu")


class TiledModel(DiffusionModel):
    """``eps, x0 = TiledModel(model, plan)(x_t, t)`` for ``x_t`` of the plan's full size ``(B, C, H, W)``.

    x_t stays where it is (the CPU for a large scan); at most ``max_batch`` windows, from any images of the
    batch, go to the model's device at once. The windows' x0 estimates are blended with :func:`ramp_weight`
    weights; ε is derived from the blended x0 (DDIM Eq. 9). Blending x0 or ε gives the same result, since both
    are the same per-pixel affine function of the window outputs at one x_t.

    ``on_windows(done, total)``, if given, is called after each chunk of windows of one model call (a progress
    bar for a large scan, where one denoising step can take minutes).
    """

    def __init__(self, model: DiffusionModel, plan: TilePlan, max_batch: int = 16,
                 on_windows: Callable[[int, int], None] | None = None):  # fmt: skip
        size = model.info.image_size
        if size is not None and size != plan.window:
            raise ValueError(f"the plan's window {plan.window} differs from the model's native size {size}; "
                             f"use TileSettings(window={size})")
        super().__init__(model.alphas_cumprod, replace(model.info, image_size=None), model.in_channels)
        self.model, self.plan, self.max_batch, self.on_windows = model, plan, max_batch, on_windows
        self._blend: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}

    def blend(self, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(window weight, coverage) for ``like``'s device and dtype, built on the first step and reused by every
        later one (they depend only on the plan; rebuilding them cost a loop over all windows per step)."""
        key = (like.device, like.dtype)
        if key not in self._blend:
            weight = ramp_weight(self.plan, min_overlap(self.plan), like)
            self._blend[key] = weight, coverage(self.plan, weight)
        return self._blend[key]

    def forward(self, x_t: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        device = model_device(self.model)
        weight, cover = self.blend(x_t)
        items = all_items(x_t.shape[0], self.plan)
        x0_sum = torch.zeros_like(x_t)  # this call's own accumulator, filled chunk by chunk
        for start in range(0, len(items), self.max_batch):
            chunk = items[start : start + self.max_batch]
            tiles = split_tiles(x_t, self.plan, chunk).to(device)
            t_chunk = t.to(device)[[b for b, _ in chunk]]
            _, x0_tiles = self.model(tiles, t_chunk)
            accumulate_tiles(x0_sum, x0_tiles.to(x_t), self.plan, chunk, weight)
            if self.on_windows is not None:
                self.on_windows(start + len(chunk), len(items))
        x0 = x0_sum / cover
        a = self.alpha_bar(t, x_t)
        # DDIM Eq. 9 solved for ε: x_t = sqrt(ᾱ_t) x0 + sqrt(1 − ᾱ_t) ε
        eps = (x_t - a.sqrt() * x0) / (1 - a).clamp_min(1e-12).sqrt()
        return eps, x0
