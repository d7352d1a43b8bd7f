"""Window tiles in and out of an image: split, weighted merge, and the seam measure. Pure tensor functions.

The windows come from a plan (``ddnm.tiling.plan``); a merge averages overlapping tiles with weights that ramp
down towards each window's edge, so neighbours fade into each other instead of meeting at a cut.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .plan import Item, TilePlan, all_items, min_overlap


def split_tiles(x: torch.Tensor, plan: TilePlan, items: Sequence[Item] | None = None) -> torch.Tensor:
    """Window crops of ``x`` ``(B, C, H, W)`` → ``(len(items), C, window, window)`` (a new tensor)."""
    _check_image(x, plan)
    items = all_items(x.shape[0], plan) if items is None else items
    windows = plan.windows
    return torch.stack([windows[k].box.crop(x[b]) for b, k in items])


def ramp_weight(plan: TilePlan, ramp: int, like: torch.Tensor) -> torch.Tensor:
    """Blend weight ``(window, window)``: 1 inside, falling linearly over ``ramp`` pixels to each edge.

    Positive everywhere, so a pixel covered by one window only (the image border) keeps that window's value;
    where windows overlap each fades out as its neighbour fades in, which removes the step a hard cut leaves.
    """
    k = torch.arange(plan.window, dtype=like.dtype, device=like.device)
    distance = torch.minimum(k, plan.window - 1 - k) + 1  # 1 at the edge pixel
    profile = (distance / (ramp + 1)).clamp(max=1.0)
    return profile[:, None] * profile[None, :]


def coverage(plan: TilePlan, weight: torch.Tensor) -> torch.Tensor:
    """Sum of the window weights at every pixel, ``(H, W)``; positive wherever the plan covers."""
    total = weight.new_zeros((plan.height, plan.width))
    for w in plan.windows:
        total[w.box.rows, w.box.cols] += weight
    return total


def accumulate_tiles(total: torch.Tensor, tiles: torch.Tensor, plan: TilePlan, items: Sequence[Item],
                     weight: torch.Tensor) -> None:
    """Adds ``weight · tile`` into ``total`` ``(B, C, H, W)`` for each item, in place (``total`` is the caller's
    own accumulator; streaming chunks through it keeps only one chunk of windows alive)."""
    windows = plan.windows
    for tile, (b, k) in zip(tiles, items):
        box = windows[k].box
        total[b, :, box.rows, box.cols] += weight * tile


def merge_tiles(tiles: torch.Tensor, plan: TilePlan, batch: int, items: Sequence[Item] | None = None,
                weight: torch.Tensor | None = None) -> torch.Tensor:
    """Weighted average of window tiles → ``(batch, C, H, W)``. Inverse of :func:`split_tiles` on its output.

    ``weight`` ``(window, window)`` defaults to :func:`ramp_weight` with the plan's narrowest overlap.
    """
    items = all_items(batch, plan) if items is None else items
    if tiles.shape[0] != len(items):
        raise ValueError(f"got {tiles.shape[0]} tiles for {len(items)} (image, window) items")
    weight = ramp_weight(plan, min_overlap(plan), tiles) if weight is None else weight.to(tiles)
    total = tiles.new_zeros((batch, tiles.shape[1], plan.height, plan.width))
    accumulate_tiles(total, tiles, plan, items, weight)
    return total / coverage(plan, weight)


def seam_ratio(x: torch.Tensor, plan: TilePlan) -> torch.Tensor:
    """Mean |gradient| across window edges over the mean elsewhere, per image ``(B,)``; 1 means no visible seam.

    Only the gradient normal to the edge counts (|Δx| across column edges, |Δy| across row edges). "Elsewhere"
    is restricted to positions of the same phase modulo ``plan.align``: after super-resolution by s, A⁺y
    jumps at every s-th pixel, and window edges always fall on those jumps. ``x`` may be smaller than the plan
    (an image embedded in a larger canvas); edges outside it are ignored. With no edge inside, returns 1.
    """
    seam_sum = x.new_zeros(x.shape[0], dtype=torch.float64)
    seam_n, rest_sum, rest_n = 0, seam_sum.clone(), 0
    for axis, dim in ((0, -2), (1, -1)):
        size = x.shape[dim]
        if size < 2:  # a 1-pixel side has no steps along this axis
            continue
        grad = x.double().diff(dim=dim).abs()  # index p - 1 holds the step across edge p
        edges = [p for p in plan.edges(axis) if p < size]
        phases = {p % plan.align for p in edges}
        is_edge = torch.zeros(size - 1, dtype=torch.bool, device=x.device)
        is_edge[[p - 1 for p in edges]] = True
        # dtype given: an empty list would make a float tensor, and float & bool has no kernel.
        same_phase = torch.tensor([p % plan.align in phases for p in range(1, size)], dtype=torch.bool,
                                  device=x.device)
        rest = same_phase & ~is_edge
        grad = grad.movedim(dim, -1)  # (B, C, other, size - 1)
        per_position = grad.numel() // (grad.shape[0] * (size - 1))
        seam_sum += grad[..., is_edge].flatten(1).sum(1)
        rest_sum += grad[..., rest].flatten(1).sum(1)
        seam_n += int(is_edge.sum()) * per_position
        rest_n += int(rest.sum()) * per_position
    if seam_n == 0 or rest_n == 0:
        return torch.ones(x.shape[0], dtype=x.dtype, device=x.device)
    return ((seam_sum / seam_n) / (rest_sum / rest_n).clamp_min(1e-12)).to(x.dtype)


def _check_image(x: torch.Tensor, plan: TilePlan) -> None:
    if x.dim() != 4 or tuple(x.shape[-2:]) != (plan.height, plan.width):
        raise ValueError(
            f"the plan covers (B, C, {plan.height}, {plan.width}) images, got {tuple(x.shape)}; build the plan "
            f"with plan_tiles(H, W, settings) for this image"
        )
