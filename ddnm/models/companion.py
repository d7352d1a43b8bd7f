"""A prior's colour companion: the prior its config names for colour at the working size (issue 22).

The bundled ``ddnm-prior-64`` sees 64-px windows and knows no colour semantics; ``ddnm-colour-32`` was trained on
whole-photo 32-px thumbnails, where which hue goes with what is decided. The main prior's config says so:

    "colour": {"prior": "ddnm-colour-32"}

and the companion's own config holds how it colours (``"colour"``: working size, shrink, stretch; ``"sampling"``:
steps, η, samples), so ``--model ddnm-colour-32`` alone colours the same way. A prior without a ``"colour"`` block
colours with itself. The companion is loaded once per process, on the main prior's device and dtype.
"""

from __future__ import annotations

from functools import lru_cache

import torch


def load_colour_companion(model):
    """The prior that colours for ``model``: its config's ``colour.prior``, else ``model`` itself.

    A registered name (``ddnm.models.PRIORS``), loaded by ``ddnm.models.load`` on the device and dtype of
    ``model``'s network and kept for the process: every colorize of a batch job reuses it.
    """
    name = (getattr(model.info, "colour", None) or {}).get("prior")
    if not name or name == model.info.name:
        return model
    parameter = next(model.parameters(), None)
    device = parameter.device if parameter is not None else torch.device("cpu")
    dtype = parameter.dtype if parameter is not None else torch.float32
    return _load_once(str(name), str(device), str(dtype).removeprefix("torch."))


@lru_cache(maxsize=4)
def _load_once(name: str, device: str, dtype: str):
    from .loading import load
    from .registry import PRIORS

    if name not in PRIORS:
        raise ValueError(f"the prior's config names colour prior {name!r}, which is not registered; "
                         f"expected one of {sorted(PRIORS)}")  # fmt: skip
    return load(name, device=device, dtype=dtype)
