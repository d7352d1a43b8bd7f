"""Size-aware batching: in which model calls, and in what order, the restore stage restores a batch's rows.

A batch may mix a 64×64 scan with a 6000×4000 one. Restored in the order they came, the small one waits for the
large one (issue 18 saw a 64×64 scan get no row in 7 minutes). So the stage restores its groups of same-shaped
images smallest first and hands each group's rows on as soon as they are done (its ``__call__`` is a generator,
which Ray Data takes as several output blocks). An image larger than the model's window is restored alone: it is
cut into windows anyway, and padding it to ``batch_size`` copies (``JobSettings.fixed_batch``) would multiply its
cost; alone, its result still does not depend on its batch-mates.
"""

from __future__ import annotations

import json

from .measurement import x_shape_for
from .rows import RowError


def output_size(row: dict) -> tuple[int, int]:
    """The restored image's (H, W) (the observed size, times the scale for super-resolution)."""
    shape = tuple(row["_samples"].shape)
    try:
        _, h, w = x_shape_for(row["op"], json.loads(row["params"]), shape)
    except (RowError, ValueError, KeyError):  # bad params: the row fails in its model call, at the observed size
        _, h, w = shape
    return h, w


def exceeds_window(row: dict, window: int | None) -> bool:
    """More than one model window (``window`` None: a prior without windows, restored whole)."""
    h, w = output_size(row)
    return window is not None and (h > window or w > window)


def plan_calls(rows: list[dict], groups: list[list[int]], window: int | None) -> list[list[int]]:
    """``groups`` (row indices of same-shaped images) as model calls, smallest images first; an image larger than
    the window is a call of its own. Ties keep the batch's order."""
    calls = []
    for indices in groups:
        if exceeds_window(rows[indices[0]], window):
            calls += [[i] for i in indices]
        else:
            calls.append(list(indices))

    def size(call: list[int]) -> tuple[int, int]:
        h, w = output_size(rows[call[0]])
        return h * w, call[0]

    return sorted(calls, key=size)
