"""Model adapters: ADM and DDPM networks, the ε/x0 contract and ``load`` (see docs/CONTRACTS.md)."""

from .companion import load_colour_companion
from .loading import alphas_cumprod_for, load
from .registry import ADM_PRESETS, ARCHS, COLOUR_PRIOR, DDPM_PRESETS, DEFAULT_PRIOR, PRIORS
from .wrapper import DiffusionModel, EpsModel, ModelInfo, NetworkEpsModel, X0Model

__all__ = [
    "ADM_PRESETS", "ARCHS", "COLOUR_PRIOR", "DDPM_PRESETS", "DEFAULT_PRIOR", "PRIORS", "DiffusionModel", "EpsModel",
    "ModelInfo", "NetworkEpsModel", "X0Model", "alphas_cumprod_for", "load", "load_colour_companion",
]
