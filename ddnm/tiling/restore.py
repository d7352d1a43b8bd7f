"""Restore images larger than the model's window: one call per image (or batch of same-size images).

Composes the window plan (``ddnm.tiling.plan``) with the unchanged sampler (``ddnm.samplers.sample_ddnm``):

* ``joint``: ``sample_ddnm`` on the full image with the full-size operator and a :class:`TiledModel`.
* ``mask_shift``: waves of windows (anti-diagonals), each wave one batched ``sample_ddnm`` call per chunk with a
  :class:`MaskShiftOperator` that holds the pixels earlier waves restored as known data.
* ``independent``: every window restored on its own in one pass and pasted; the seamy baseline.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import NamedTuple

import numpy as np
import torch

from ..ddim import generators_for
from ..metrics import consistency
from ..models.wrapper import DiffusionModel
from ..operators.base import LinearOperator
from ..samplers import sample_ddnm
from ..settings import SamplerSettings
from .blend import seam_ratio
from .model import TiledModel, model_device
from .operators import EmbedOperator, MaskShiftOperator, OperatorFactory
from .plan import Box, TilePlan, Window, plan_tiles
from .settings import TileSettings


class TiledRestoration(NamedTuple):
    x: torch.Tensor  # (B, C, H, W) in [-1, 1]
    residual: torch.Tensor  # (B,) ‖A x̂ − y‖ / ‖y‖ with the full-size operator
    seam_ratio: torch.Tensor  # (B,) see ddnm.tiling.blend.seam_ratio
    tiles: int  # windows per image, as planned (with the operator's alignment)


def measurement_scale(op: LinearOperator) -> int:
    """s when y is an image s times smaller than x on both sides (super-resolution), else 1."""
    y_shape, (_, h, w) = op.y_shape(), op.x_shape
    if len(y_shape) == 3 and h % y_shape[1] == 0 and w % y_shape[2] == 0 and h // y_shape[1] == w // y_shape[2]:
        return h // y_shape[1]
    return 1


def window_seed(seed: int, index: int) -> int:
    """A seed for window ``index`` of the image with ``seed``: the result depends on neither batch nor chunking."""
    return int(np.random.SeedSequence([seed, index]).generate_state(1, np.uint64)[0] >> 1)


def window_operators(source: OperatorFactory, plan: TilePlan, image: Box) -> list[LinearOperator]:
    """The task operator of every window; one shared object per window shape when no parameter is spatial.

    A window reaching past a small image into the canvas margin gets an :class:`EmbedOperator`.
    """
    shared: dict[tuple, LinearOperator] = {}
    ops = []
    for w in plan.windows:
        real = w.box.intersect(image)
        offset = Box(real.top - w.box.top, real.left - w.box.left, real.height, real.width)
        key = (real.height, real.width, offset) if not source.spatial_params else w.index
        if key not in shared:
            inner = source.window(real)
            is_whole = offset == Box(0, 0, plan.window, plan.window)
            shared[key] = inner if is_whole else EmbedOperator(inner, (plan.window, plan.window), offset)
        ops.append(shared[key])
    return ops


def _restore_windows(y, full_op, ops, model, plan, waves, sampler, tiles, seeds, callback, x_init=None):
    """Mask-shift (or, with one wave and nothing known, independent tiles): returns the canvas ``(B, C, H, W)``.
    ``x_init`` (a warm start's initial image on the canvas) gives each window its crop."""
    device = model_device(model)
    x_pinv = full_op.A_pinv(y)  # windows read their measurement from A⁺y: exact for block-local operators
    canvas = torch.zeros_like(x_pinv)
    known = torch.zeros((1, plan.height, plan.width), dtype=torch.bool, device=y.device)
    for d, wave in enumerate(waves):
        items = [(b, w) for w in wave for b in range(y.shape[0])]
        for start in range(0, len(items), tiles.max_batch):
            chunk = items[start : start + tiles.max_batch]
            x_windows, mask = _restore_chunk(chunk, x_pinv, canvas, known, ops, model, sampler, seeds, device, x_init)
            for (b, w), x_w, k in zip(chunk, x_windows.to(canvas), mask.to(y.device)):
                region = w.box.crop(canvas[b])
                region.copy_(torch.where(k, region, x_w))  # paste only pixels no earlier wave restored
            if callback is not None:
                callback({"wave": d, "items": [(b, w.index) for b, w in chunk], "x_windows": x_windows, "known": mask})
        if len(waves) > 1:
            for w in wave:
                w.box.crop(known)[:] = True
    return canvas


def _restore_chunk(chunk: Sequence[tuple[int, Window]], x_pinv, canvas, known, ops, model, sampler, seeds, device,
                   x_init=None):  # fmt: skip
    mask = torch.stack([w.box.crop(known) for _, w in chunk]).to(device)
    # Item (b, w) is measured by window w's operator for image b: ``rows`` gives image b's own mask where each
    # image has one, and the shared operator itself otherwise (then the chunk's windows measure in one call).
    op = MaskShiftOperator([ops[w.index].rows([b]) for b, w in chunk], mask).to(device)
    x_pinv_w = torch.stack([w.box.crop(x_pinv[b]) for b, w in chunk]).to(device)
    restored = torch.stack([w.box.crop(canvas[b]) for b, w in chunk]).to(device)
    y_w = op.measure(op.task_A(x_pinv_w), restored)
    gens = generators_for([window_seed(seeds[b], w.index) for b, w in chunk], device)
    x_init_w = None if x_init is None else torch.stack([w.box.crop(x_init[b]) for b, w in chunk]).to(device)
    return sample_ddnm(model, op, y_w, sampler, generator=gens, x_init=x_init_w), mask


def _on_canvas(x_init: torch.Tensor | None, image: Box, canvas_hw: tuple[int, int], batch: int):
    """x_init of the image's size on the canvas: an image smaller than the window sits at its top left, and the
    margin repeats the image's edge (a grey margin would be a false edge the prior restores towards)."""
    if x_init is None:
        return None
    expected = (batch, image.height, image.width)
    if (x_init.shape[0], *x_init.shape[-2:]) != expected:
        raise ValueError(f"x_init has shape {tuple(x_init.shape)}; expected {batch} images of {image.height}x"
                         f"{image.width}")  # fmt: skip
    pad = (0, canvas_hw[1] - image.width, 0, canvas_hw[0] - image.height)
    return torch.nn.functional.pad(x_init.float(), pad, mode="replicate") if any(pad) else x_init.float()


def with_model_window(tiles: TileSettings, model: DiffusionModel) -> TileSettings:
    """The settings with ``window`` filled in from the model, after checking the two agree."""
    size = model.info.image_size
    if tiles.window is None and size is None:
        raise ValueError(f"{model.info.name} has no native window; give TileSettings(window=...)")
    if tiles.window is not None and size not in (None, tiles.window):
        raise ValueError(
            f"the model's window is {size}, tiles.window is {tiles.window}; use TileSettings(window={size})"
        )
    return tiles if tiles.window is not None else replace(tiles, window=size)


def _problem(y: torch.Tensor, op, tiles: TileSettings):
    """Full operator on the canvas, window operators (or None) and the plan."""
    full_op = op.full() if isinstance(op, OperatorFactory) else op
    c, h, w = full_op.x_shape
    expected = (y.shape[0], *full_op.y_shape())
    if tuple(y.shape) != expected:
        raise ValueError(f"y has shape {tuple(y.shape)} but the operator measures {expected}")
    canvas_hw = (max(h, tiles.window), max(w, tiles.window))
    plan = plan_tiles(*canvas_hw, tiles, align=tiles.align or measurement_scale(full_op))
    image = Box(0, 0, h, w)
    if canvas_hw != (h, w):
        full_op = EmbedOperator(full_op, canvas_hw, image)  # small image: margin left to the prior, cropped after
    ops = window_operators(op, plan, image) if isinstance(op, OperatorFactory) else None
    if ops is None and tiles.strategy != "joint":
        raise ValueError(f"strategy {tiles.strategy!r} needs an operator per window: pass "
                         f"OperatorFactory(name, x_shape, params) instead of a full-size {type(op).__name__}")
    return full_op.to(y.device), ops, plan, image


@torch.inference_mode()
def restore_tiled(
    y: torch.Tensor,
    op: LinearOperator | OperatorFactory,
    model: DiffusionModel,
    tiles: TileSettings = TileSettings(),
    sampler: SamplerSettings = SamplerSettings(),
    seed: int | Sequence[int] = 0,
    *,
    x_init: torch.Tensor | None = None,
    callback: Callable[[dict], None] | None = None,
    on_windows: Callable[[int, int], None] | None = None,
) -> TiledRestoration:
    """Restore x ``(B, C, H, W)`` from y with a window-sized prior; returns (x, residual, seam_ratio, tiles).

    ``op`` is the full-size operator (enough for "joint") or an :class:`OperatorFactory`, which every strategy
    accepts. ``tiles.window`` defaults to ``model.info.image_size``. y stays on its device (keep a large image
    on the CPU); windows go to the model's device in chunks of ``tiles.max_batch``. ``seed`` is one int (image
    i gets seed + i) or one per image. ``callback`` gets
    ``sample_ddnm``'s per-step dict ("joint") or, per chunk of windows, ``{"wave", "items", "x_windows",
    "known"}`` ("mask_shift", "independent"). ``on_windows(done, total)`` reports the windows of each model call
    ("joint" only: :class:`~ddnm.tiling.model.TiledModel`), for progress within a step on a large image.
    ``x_init`` ``(B, C, H, W)`` is a warm start's initial image (``sampler.start_t``; default A⁺y).

    >>> import torch
    >>> from ddnm.models.testing import ZeroEpsModel
    >>> factory = OperatorFactory("colorize", (3, 40, 100))
    >>> y = factory.full().A(torch.rand(1, 3, 40, 100, generator=torch.Generator().manual_seed(0)))
    >>> x, residual, seams, _ = restore_tiled(y, factory, ZeroEpsModel(), TileSettings(32, 8), SamplerSettings(steps=3))
    >>> x.shape, bool(residual[0] < 1e-4)
    (torch.Size([1, 3, 40, 100]), True)
    """
    y = y.float()
    sampler = sampler.for_model(model)  # before TiledModel wraps it: the prior's recommended steps and η
    tiles = with_model_window(tiles, model)
    full_op, ops, plan, image = _problem(y, op, tiles)
    seeds = [seed + i for i in range(y.shape[0])] if isinstance(seed, int) else [int(s) for s in seed]
    if len(seeds) != y.shape[0] or min(seeds) < 0:
        raise ValueError(f"need one non-negative seed per image ({y.shape[0]}), got {seeds}")
    x_init = _on_canvas(x_init, image, (plan.height, plan.width), y.shape[0])
    if tiles.strategy == "joint":
        tiled = TiledModel(model, plan, tiles.max_batch, on_windows)
        x = sample_ddnm(tiled, full_op, y, sampler, generator=generators_for(seeds, y.device), x_init=x_init,
                        callback=callback)  # fmt: skip
    else:
        waves = plan.waves if tiles.strategy == "mask_shift" else (plan.windows,)
        x = _restore_windows(y, full_op, ops, model, plan, waves, sampler, tiles, seeds, callback, x_init)
    x = image.crop(x).contiguous()
    real_op = full_op.inner if isinstance(full_op, EmbedOperator) else full_op
    return TiledRestoration(x, consistency(real_op, x, y), seam_ratio(x, plan), len(plan.windows))
