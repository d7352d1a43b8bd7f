"""Window plans for images larger than the model's window: split, merge and a seam measure. Pure tensor functions.

A plan covers an ``H × W`` image with square windows of the model's size on a grid of row starts × column
starts. Along each axis the first window sits at 0 and the last one flush with the far border; the windows
in between are spaced evenly, so every overlap is at least the requested one (shifting only the last window
back would leave one much larger overlap, and on unlucky sizes a near-duplicate window). With ``align > 1``
(super-resolution by that factor) every start is a multiple of ``align``, so window edges fall on the
measurement's pixel grid.

Windows are numbered in raster order and grouped in *waves*, the anti-diagonals ``row + col = d``: a window
depends on its left, top and top-left neighbours, which all belong to earlier waves. Two windows of one wave
overlap at most in a corner that an earlier wave already covers (window ``(a, d)`` holds the intersection of
``(a, b)`` and ``(c, d)`` for ``a < c``, ``b > d``, because starts and ends grow along each axis), so within a
wave the still-unknown pixels of different windows never meet and the wave can run as one batch.

A plan needs ``H ≥ window`` and ``W ≥ window``; :func:`ddnm.restore_tiled.restore_tiled` first embeds smaller
images in a window-sized canvas whose margin is left unmeasured (see ``ddnm.tiled_operators.EmbedOperator``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from .tile_settings import STRATEGIES, TileSettings, check_alignment  # noqa: F401 - ddnm.tiling's names

Item = tuple[int, int]  # (image index in the batch, window index in the plan)


@dataclass(frozen=True, slots=True)
class Box:
    """A rectangle of pixels: rows ``top:top+height``, columns ``left:left+width``."""

    top: int
    left: int
    height: int
    width: int

    @property
    def rows(self) -> slice:
        return slice(self.top, self.top + self.height)

    @property
    def cols(self) -> slice:
        return slice(self.left, self.left + self.width)

    def crop(self, x: torch.Tensor) -> torch.Tensor:
        """The box's pixels of ``(..., H, W)`` (a view)."""
        return x[..., self.rows, self.cols]

    def intersect(self, other: Box) -> Box | None:
        top, left = max(self.top, other.top), max(self.left, other.left)
        bottom = min(self.top + self.height, other.top + other.height)
        right = min(self.left + self.width, other.left + other.width)
        return Box(top, left, bottom - top, right - left) if bottom > top and right > left else None


@dataclass(frozen=True, slots=True)
class Window:
    """One window of a plan: raster ``index``, grid position (``row``, ``col``) and its ``box``."""

    index: int
    row: int
    col: int
    box: Box

    @property
    def wave(self) -> int:
        return self.row + self.col


@dataclass(frozen=True, slots=True)
class TilePlan:
    """Square windows of side ``window`` on the grid ``row_starts × col_starts`` over an ``height × width`` image."""

    height: int
    width: int
    window: int
    row_starts: tuple[int, ...]
    col_starts: tuple[int, ...]
    align: int = 1

    @property
    def windows(self) -> tuple[Window, ...]:
        n_cols = len(self.col_starts)
        return tuple(
            Window(r * n_cols + c, r, c, Box(top, left, self.window, self.window))
            for r, top in enumerate(self.row_starts)
            for c, left in enumerate(self.col_starts)
        )

    @property
    def waves(self) -> tuple[tuple[Window, ...], ...]:
        """Anti-diagonals in order; each wave depends only on earlier ones."""
        windows = self.windows
        n_waves = len(self.row_starts) + len(self.col_starts) - 1
        return tuple(tuple(w for w in windows if w.wave == d) for d in range(n_waves))

    def edges(self, axis: int) -> tuple[int, ...]:
        """Window edges strictly inside the image along rows (axis 0) or columns (axis 1).

        An edge p lies between pixels p - 1 and p.
        """
        starts, size = (self.row_starts, self.height) if axis == 0 else (self.col_starts, self.width)
        return tuple(sorted({p for s in starts for p in (s, s + self.window) if 0 < p < size}))


def axis_starts(size: int, window: int, overlap: int, align: int = 1) -> tuple[int, ...]:
    """Evenly spaced window starts from 0 to ``size - window``, multiples of ``align``, overlaps >= ``overlap``."""
    if size < window:
        raise ValueError(f"image side {size} is smaller than the window {window}; embed it in a canvas of {window}")
    check_alignment(window, overlap, align)
    if size % align:
        raise ValueError(f"image side {size} is not a multiple of the alignment {align}; crop or pad it to "
                         f"{size // align * align} or {(size // align + 1) * align}")
    slots = (size - window) // align  # positions a start can take, in units of align
    if slots == 0:
        return (0,)
    step = (window - overlap) // align  # the largest step that keeps the requested overlap
    gaps = -(-slots // step)  # ceil: number of steps between first and last window
    # Integer division spreads the slots so consecutive steps differ by at most one unit (≤ step).
    return tuple((j * slots // gaps) * align for j in range(gaps + 1))


def plan_tiles(height: int, width: int, settings: TileSettings, align: int | None = None) -> TilePlan:
    """The window plan for an ``height × width`` image; ``align`` overrides ``settings.align`` (default 1)."""
    if settings.window is None:
        raise ValueError("TileSettings.window is None; give the window (the model's image_size) to plan tiles")
    align = align or settings.align or 1
    return TilePlan(
        height=height,
        width=width,
        window=settings.window,
        row_starts=axis_starts(height, settings.window, settings.overlap, align),
        col_starts=axis_starts(width, settings.window, settings.overlap, align),
        align=align,
    )


def all_items(batch: int, plan: TilePlan) -> list[Item]:
    """Every (image, window) pair, image-major: the order :func:`split_tiles` uses by default."""
    n = len(plan.windows)
    return [(b, k) for b in range(batch) for k in range(n)]


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


def min_overlap(plan: TilePlan) -> int:
    """The narrowest overlap between neighbouring windows along either axis (0 for a single window)."""
    gaps = [b - a for starts in (plan.row_starts, plan.col_starts) for a, b in zip(starts, starts[1:])]
    return max(0, plan.window - max(gaps)) if gaps else 0


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
