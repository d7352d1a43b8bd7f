"""Window plans for images larger than the model's window: which windows cover an image, and in which waves.

Plain data and integer arithmetic, no torch (the tensors are cut and blended in ``ddnm.tiling.blend``).

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

A plan needs ``H ≥ window`` and ``W ≥ window``; :func:`ddnm.tiling.restore.restore_tiled` first embeds smaller
images in a window-sized canvas whose margin is left unmeasured (see ``ddnm.tiling.operators.EmbedOperator``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .settings import TileSettings, check_alignment

if TYPE_CHECKING:
    import torch

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


def min_overlap(plan: TilePlan) -> int:
    """The narrowest overlap between neighbouring windows along either axis (0 for a single window)."""
    gaps = [b - a for starts in (plan.row_starts, plan.col_starts) for a, b in zip(starts, starts[1:])]
    return max(0, plan.window - max(gaps)) if gaps else 0
