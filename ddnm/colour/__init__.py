"""Colour for gray scans: estimated at a working resolution, exact at full size, shrunk where the prior is unsure.

``restore_colour(y, op, sample, seeds, WorkingSize())`` (``ddnm.colour.working``); the null-space lift and gamut fit
(``ddnm.colour.lift``); the guided filter that carries colour up along the gray's edges
(``ddnm.colour.guided_filter``).
"""

from .guided_filter import box_filter, guided_filter, guided_upsample
from .lift import chroma, fit_gamut, with_strength
from .working import (
    WORKING_OPTIONS,
    ColourResult,
    WorkingSize,
    is_colour_task,
    restore_colour,
    working_shape,
    working_size_for,
)

__all__ = ["WORKING_OPTIONS", "ColourResult", "WorkingSize", "box_filter", "chroma", "fit_gamut", "guided_filter",
           "guided_upsample", "is_colour_task", "restore_colour", "with_strength", "working_shape", "working_size_for"]
