"""Restoring images larger than the model's window, one purpose per module (docs/tiling.md):

- ``settings``: ``TileSettings`` (window, overlap, strategy), torch-free;
- ``plan``: which windows cover an image and in which waves (``plan_tiles``), torch-free;
- ``blend``: split an image into window tiles, merge them back with ramped weights, measure seams;
- ``operators``: the task operator per window (``OperatorFactory``), canvas embedding, DDNM's mask-shift;
- ``model``: ``TiledModel``, a window-sized prior presented as a prior for the whole image;
- ``restore``: ``restore_tiled``, which composes them with the unchanged sampler.

This ``__init__`` imports only the two torch-free modules, so ``from ddnm.tiling import TileSettings, plan_tiles``
loads no torch; the others are imported by their full names (``from ddnm.tiling.restore import restore_tiled``).
"""

from .plan import Box, Item, TilePlan, Window, all_items, axis_starts, min_overlap, plan_tiles
from .settings import STRATEGIES, TileSettings, check_alignment

__all__ = ["STRATEGIES", "Box", "Item", "TilePlan", "TileSettings", "Window", "all_items", "axis_starts",
           "check_alignment", "min_overlap", "plan_tiles"]
