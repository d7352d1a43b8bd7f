"""How to cover an image larger than the model's window (``ddnm.tiling.plan`` plans it), torch-free.

Torch-free so that ``ddnm.settings.RestoreSettings`` and the command line can hold and check it without loading
torch (``ddnm.tiling``'s ``__init__`` imports only this and the plan).
"""

from __future__ import annotations

from dataclasses import dataclass, field

STRATEGIES = ("joint", "mask_shift", "independent")


@dataclass(frozen=True, slots=True)
class TileSettings:
    """How to cover an image larger than the model's window.

    window:     side of the square window; None takes the model's native size (``model.info.image_size``).
    overlap:    minimum overlap in pixels between neighbouring windows (the plan may overlap more).
    strategy:   "joint" (all windows denoised together every step, x0 estimates blended; exact
                consistency for every operator), "mask_shift" (windows in wavefront order, the overlap with
                restored pixels treated as known data; DDNM appendix), or "independent" (each window
                restored on its own and pasted: the seamy baseline).
    max_batch:  most windows on the model's device in one model call.
    align:      window starts are multiples of this; None infers it from the measurement (SR scale).
    """

    window: int | None = None
    overlap: int = field(default=16, metadata={"option": "tile_overlap", "help": "Images larger than the model's "
                         "window: minimum overlap of neighbouring windows, in pixels."})  # fmt: skip
    # Not a command-line option: mask_shift and independent need an operator per window (OperatorFactory), and
    # the restore façade hands the tiler the full-size operator, so only "joint" is reachable from the pipeline.
    strategy: str = "joint"
    max_batch: int = 16
    align: int | None = None

    def __post_init__(self) -> None:
        if self.overlap < 0 or (self.window is not None and not 0 <= self.overlap < self.window):
            raise ValueError(
                f"need window >= 1 and 0 <= overlap < window, got window={self.window}, overlap={self.overlap}"
            )
        if self.strategy not in STRATEGIES:
            raise ValueError(f"unknown tiling strategy {self.strategy!r}; valid: {list(STRATEGIES)}")
        if self.max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {self.max_batch}")
        if self.align is not None and self.window is not None:
            check_alignment(self.window, self.overlap, self.align)


def check_alignment(window: int, overlap: int, align: int) -> None:
    """Windows must be whole multiples of ``align`` and step by at least one ``align``."""
    if align < 1 or window % align or window - overlap < align:
        raise ValueError(
            f"window {window} with overlap {overlap} cannot be aligned to {align}: the window must be a multiple "
            f"of {align} and window - overlap >= {align}; pick e.g. window={max(align, window // align * align)}, "
            f"overlap <= {max(0, window // align * align - align)}"
        )
