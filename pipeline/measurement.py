"""Build the operator A and the measurement y for a group of decoded images (see :mod:`pipeline.ops`)."""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np
import torch

from .decode import to_signed_unit
from .ops import PLANS
from .rows import RowError


def observed_tensor(samples: list[np.ndarray], channels: int) -> torch.Tensor:
    """Stack decoded samples to ``(B, channels, h, w)`` float32 in [-1, 1].

    Grey sources are repeated to 3 channels for an RGB prior (a grey photo is an RGB image whose
    channels agree); RGB sources are averaged for a 1-channel prior. The repetition is a view (no copy): for an
    x-space operator only ``A`` of it is kept (colorize's channel mean of a 41 MP plate's three copies was 0.5 GB
    of a 3.4 GB peak); :func:`build` makes y-space observations contiguous.
    """
    unit = [to_signed_unit(s) for s in samples]
    x = torch.from_numpy(unit[0][None] if len(unit) == 1 else np.stack(unit))  # one scan: no stacking copy
    if x.shape[1] == channels:
        return x
    if x.shape[1] == 1:
        return x.expand(-1, channels, -1, -1)
    return x.mean(dim=1, keepdim=True).expand(-1, channels, -1, -1)


def in_source_channels(x: np.ndarray, source_channels: int, op_name: str) -> np.ndarray:
    """A restored ``(C, H, W)`` in the scan's own channels: a grey scan restored by an RGB prior comes back grey,
    the mean of the prior's channels, unless the operator adds colour (colorize, old_photo).

    The lift to RGB (:func:`observed_tensor`) is the prior's format, not the archive's: what the prior puts into
    the channels' differences is colour that no grey scan holds (up to ~3 levels of tint on an SR of a plate), and
    a grey master's derivative should be grey, at a third of the bytes. It stays consistent: these operators act
    on every channel alike and y's channels are equal, so A(mean x̂) = mean(A x̂) = y."""
    if source_channels != 1 or x.shape[0] == 1 or (op_name in PLANS and PLANS[op_name].removes_colour):
        return x
    return x.mean(axis=0, keepdims=True)


def operator_mask(masks: Sequence[np.ndarray | None]) -> np.ndarray | None:
    """One mask per image (``(H, W)``, 1 = known; None for an image without) as the operator's mask: None when
    no image has one, the ``(H, W)`` mask itself when every image has the same, else ``(B, 1, H, W)``, a mask
    per image in one batch (``ddnm.operators.inpaint``)."""
    present = [m is not None for m in masks]
    if not any(present):
        return None
    if not all(present):
        raise RowError("BadParams", "some images of the batch have a mask and some do not; give every row one")
    first = masks[0]
    if all(m.shape == first.shape and np.array_equal(m, first) for m in masks[1:]):
        return first  # one shared mask: one buffer, and A acts on every image by broadcasting
    if len({m.shape for m in masks}) > 1:
        raise RowError("MaskMismatch", f"masks of shapes {sorted({m.shape for m in masks})} in one batch")
    return np.stack(masks)[:, None]


def operator_kwargs(params: dict, mask: np.ndarray | None) -> dict:
    """Manifest params to operator arguments: JSON lists (kernels) become tensors; masks are
    ``(H, W)`` (or per image ``(B, 1, H, W)``) float tensors with 1 = known pixel."""
    kwargs = {k: torch.tensor(v, dtype=torch.float32) if isinstance(v, list) else v for k, v in params.items()}
    if mask is not None:
        kwargs["mask"] = torch.from_numpy(mask.astype(np.float32))
    return kwargs


def x_shape_for(op_name: str, params: dict, observed_shape: tuple[int, int, int]) -> tuple[int, int, int]:
    """The restored image's ``(C, H, W)``: the observed size, times the scale for SR."""
    channels, h, w = observed_shape
    key = PLANS[op_name].scale_param
    if key is None:
        return channels, h, w
    scale = params.get(key)
    if not isinstance(scale, int) or scale < 1:
        raise RowError("BadParams", f'operator {op_name!r} needs params {{"{key}": <integer >= 1>}}, got {params}')
    return channels, h * scale, w * scale


def build(op_name: str, params_json: str, samples: list[np.ndarray],
          mask: np.ndarray | Sequence[np.ndarray | None] | None, channels: int):  # fmt: skip
    """``(op, y)`` for images that share operator, params and shape.

    ``mask`` is one ``(H, W)`` mask for every image, or a list with each image's own (``operator_mask``): images
    with different masks are one batch, their operator holding a mask per image.
    """
    from ddnm.operators import make

    if mask is not None and not isinstance(mask, np.ndarray):
        mask = operator_mask(list(mask))
    params = json.loads(params_json)
    observed = observed_tensor(samples, channels)
    x_shape = x_shape_for(op_name, params, tuple(observed.shape[1:]))
    try:
        op = make(op_name, x_shape, **operator_kwargs(params, mask))
    except (TypeError, ValueError) as exc:
        raise RowError("BadParams", f"cannot build operator {op_name!r} with params {params}: {exc}") from exc
    y = op.A(observed) if PLANS[op_name].observed == "x" else observed.contiguous()
    expected = tuple(op.y_shape())
    if tuple(y.shape[1:]) != expected:
        raise RowError(
            "ShapeMismatch",
            f"operator {op_name!r} on a {x_shape} image measures {expected}, but the input gives {tuple(y.shape[1:])}",
        )
    return op, y
