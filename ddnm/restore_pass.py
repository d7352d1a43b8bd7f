"""One posterior sample of a batch, the way the model needs it: how :func:`ddnm.restore` runs the sampler.

* A latent (SD3-type) model: latent DDNM on the whole image (``ddnm.latent_ddnm``).
* A pixel prior whose window is the image (or that has none, FFDNet): ``ddnm.samplers.sample_ddnm`` directly.
* Any other size: windows of the model's size, denoised jointly (``ddnm.tiling.restore``; smaller images sit on a
  window-sized canvas), with the seam ratio and the number of windows.
* A warm start (CCDF, ``start_t``: asked for, recommended by the prior for the task, or forced by a denoiser that
  cannot start from noise, FFDNet's ``max_t``) begins from ``ddnm.initial.initial_image`` unless the caller gives
  ``x_init``: bicubic for SR, harmonic fill for inpainting, A⁺y otherwise. The start index itself is resolved with
  the other settings (``RestoreSettings.for_model``).
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from .ddim import generators_for
from .initial import initial_image
from .latent_ddnm import latent_settings, sample_latent_ddnm
from .metrics import consistency
from .operators.base import LinearOperator
from .operators.registry import name_of
from .samplers import sample_ddnm
from .settings import RestoreSettings
from .tiling.restore import restore_tiled


class Pass(NamedTuple):
    x: torch.Tensor  # (B, C, H, W) in [-1, 1]
    residual: torch.Tensor  # (B,) ‖A x − y‖ / ‖y‖
    seam_ratio: torch.Tensor | None  # (B,) windowed images only
    tiles: int  # windows per image (1 unless windowed)


def warm_start_image(y: torch.Tensor, op: LinearOperator) -> torch.Tensor:
    """A warm start's initial image: the task's classical estimate (the registry's ``warm_start``, ``ddnm.initial``),
    A⁺y for an operator the registry does not name. A⁺y alone is a poor start where A loses much: blocks for SR,
    flat grey holes for inpainting, which the few steps of a warm start cannot undo."""
    name = name_of(op)
    return op.A_pinv(y) if name is None else initial_image(name, y, op)


def restore_pass(y: torch.Tensor, op: LinearOperator, model, settings: RestoreSettings, seeds: list[int],
                 x_init: torch.Tensor | None = None, callback=None, on_windows=None) -> Pass:  # fmt: skip
    """One sample per row of y with ``settings`` already resolved for ``model`` (``for_model``)."""
    sampler = settings.sampler
    if getattr(model, "is_latent", False):
        if x_init is not None:
            raise ValueError("latent DDNM starts from noise; x_init is for the pixel samplers' warm start")
        latent = latent_settings(sampler.steps, sampler.sigma_y, sampler.travel_length, settings.latent_options)
        x = sample_latent_ddnm(model, op, y, latent, generators_for(seeds, y.device))
        return Pass(x, consistency(op, x, y.float()), None, 1)
    if sampler.start_t is not None and x_init is None:
        x_init = warm_start_image(y, op)
    window = model.info.image_size
    _, h, w = op.x_shape
    if window is None or (h, w) == (window, window):
        x = sample_ddnm(model, op, y, sampler, generator=generators_for(seeds, y.device), x_init=x_init,
                        callback=callback)  # fmt: skip
        return Pass(x, consistency(op, x, y.float()), None, 1)
    result = restore_tiled(y, op, model, settings.tiles, sampler, seeds, x_init=x_init, callback=callback,
                           on_windows=on_windows)  # fmt: skip
    return Pass(result.x, result.residual, result.seam_ratio, result.tiles)
