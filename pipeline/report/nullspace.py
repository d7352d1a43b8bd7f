"""What the model invented: how far a restored image departs from A⁺y, the part the measurement fixes.

DDNM builds x̂ = A⁺y + (I − A⁺A) x̄ (DDNM §3.1, range-null space decomposition): A⁺y is all the
archive image determines; the null-space part (I − A⁺A) x̄ comes from the prior. So
``x̂ − A⁺y`` is, for a consistent result (A x̂ ≈ y), exactly the content the model made up: the
colours of a colorized scan, the fill of a hole, the detail of a super-resolved image.

A⁺y is recomputed from the source image with the same code the restore stage uses
(:func:`pipeline.measurement.build`), so it matches the run as long as the source is unchanged
(callers compare the source's sha256 with the ledger's first).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .. import measurement
from ..decode import to_signed_unit
from ..rows import RowError

# A pixel counts as "invented" when it departs from A⁺y by more than this share of the full range.
INVENTED_THRESHOLD = 0.1


@dataclass(frozen=True, slots=True)
class NullSpaceView:
    """A⁺y as an image and the per-pixel departure ``|x̂ − A⁺y|`` (mean over channels, share of the
    full range, so 0 = identical and 1 = black vs white)."""

    pinv: np.ndarray  # (C, H, W) in [-1, 1], clipped for display
    departure: np.ndarray  # (H, W) float32 in [0, 1]

    @property
    def mean(self) -> float:
        return float(self.departure.mean())

    @property
    def invented_area(self) -> float:
        """Share of pixels departing from A⁺y by more than :data:`INVENTED_THRESHOLD`."""
        return float((self.departure > INVENTED_THRESHOLD).mean())


@torch.inference_mode()
def null_space_view(
    op_name: str, params_json: str, source: np.ndarray, mask: np.ndarray | None, restored: np.ndarray
) -> NullSpaceView:
    """A⁺y for ``source`` (decoded samples ``(C, H, W)``) and the departure of ``restored`` from it.

    ``restored`` is the decoded output; its channel count is the prior's, which decides how the
    source was lifted to y in the run. Raises :class:`RowError` when the shapes do not fit.
    """
    channels = restored.shape[0]
    op, y = measurement.build(op_name, params_json, [source], mask, channels)
    x_hat = torch.from_numpy(to_signed_unit(restored))[None]
    if tuple(x_hat.shape[1:]) != tuple(op.x_shape):
        raise RowError(
            "ShapeMismatch",
            f"restored image is {tuple(x_hat.shape[1:])} but operator {op_name!r} on this source "
            f"restores {tuple(op.x_shape)}; was the source or the output replaced after the run?",
        )
    pinv = op.A_pinv(y)
    # Half the absolute difference of [-1, 1] images: a share of the full range.
    departure = (x_hat - pinv).abs().mean(dim=1)[0] / 2.0
    return NullSpaceView(pinv=pinv[0].clamp(-1.0, 1.0).numpy(), departure=departure.float().numpy())
