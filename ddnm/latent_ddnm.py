"""Latent DDNM for latent flow-matching models with a VAE (SD3 / SD3.5; ``ddnm.models.sd3``).

The range-space projection needs pixels, the model works on latents. Each step decodes the model's latent estimate,
takes its range-space part, re-encodes, and swaps it for the encoded range-space of the measurement:

    ẑ0 = E(A⁺y) + λ (z0 − E(A⁺ A D(z0)))                      (latent DDNM; DDNM Eq. 13 moved through E and D)

λ = 1 is the full swap (exact only if E and D were inverse linear maps, which a VAE is not), λ = 0 throws the
model's estimate away and keeps E(A⁺y); 0.7–0.9 trades the two. The step is the deterministic flow (DDIM-like)
update: ε̂ = (z_σ − (1 − σ) ẑ0)/σ, z_next = (1 − σ_next) ẑ0 + σ_next ε̂, optionally with a share η of fresh noise.
The decoded result is finally projected once in pixel space, x̂ = x − A⁺(A x − y), so its consistency certificate
is as exact as the pixel samplers' (``project_output=False`` returns D(ẑ0) itself).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .ddim import Generators, randn_like
from .operators.base import LinearOperator


@dataclass(frozen=True, slots=True)
class LatentDDNMSettings:
    steps: int = 28  # SD3's usual number of Euler steps
    lam: float = 0.8  # λ above
    eta: float = 0.0  # share of fresh noise in ε̂ (0: deterministic flow)
    project_output: bool = True  # the final pixel-space range-space projection

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise ValueError(f"steps must be >= 1, got {self.steps}")
        if not 0.0 <= self.lam <= 1.0:
            raise ValueError(f"latent DDNM's lambda must be in [0, 1] (0.7-0.9 works best), got {self.lam}")
        if not 0.0 <= self.eta <= 1.0:
            raise ValueError(f"eta must be in [0, 1], got {self.eta}")


def latent_settings(steps: int, sigma_y: float, travel_length: int, options: dict) -> LatentDDNMSettings:
    """``ddnm.restore``'s arguments for a latent model: λ as ``latent_lambda``, ``latent_eta``, ``project_output``;
    the pixel samplers' noise handling, time-travel, warm start and guidance rules are refused, not ignored.
    (``eta``, the pixel samplers' DDIM η, does not apply: the flow step's own share is ``latent_eta``.)"""
    options = dict(options)
    values = {"steps": steps, "lam": options.pop("latent_lambda", None), "eta": options.pop("latent_eta", None),
              "project_output": options.pop("project_output", None)}  # fmt: skip
    if options.pop("guidance", "ddnm") != "ddnm":
        raise ValueError("latent models use latent DDNM; guidance rules (ddpg, idpg, mcg, dps) need a pixel prior")
    if options.pop("convention", "paper") != "paper":
        raise ValueError("convention 'reference' reproduces the authors' pixel-space DDNM code; latent models "
                         "use latent DDNM (convention 'paper')")
    refused = sorted(k for k, v in {**options, "sigma_y": sigma_y, "travel_length": travel_length}.items() if v)
    if refused:
        raise ValueError(f"latent DDNM does not take {refused}; it takes steps, latent_lambda, latent_eta, "
                         "project_output, seed and samples (sigma_y > 0 needs a pixel prior with DDNM+)")
    return LatentDDNMSettings(**{k: v for k, v in values.items() if v is not None})


def check_size(model, op: LinearOperator) -> None:
    _, height, width = op.x_shape
    if height % model.multiple or width % model.multiple:
        raise ValueError(f"latent model {model.info.name!r} needs image sides divisible by {model.multiple} "
                         f"(VAE factor × patch size); got {height}×{width}. Crop or pad the scan to a multiple of "
                         f"{model.multiple}")  # fmt: skip


def sample_latent_ddnm(model, op: LinearOperator, y: torch.Tensor, settings: LatentDDNMSettings = LatentDDNMSettings(),
                       generator: Generators = None) -> torch.Tensor:  # fmt: skip
    """y → x̂ (B, C, H, W) in pixels with latent DDNM. One generator per image keeps each result batch-independent."""
    check_size(model, op)
    y = y.float()
    with torch.inference_mode():
        z_range = model.encode(op.A_pinv(y))  # E(A⁺y), fixed for the whole run
        sigmas = model.sigmas(settings.steps)
        z_t = randn_like(z_range, generator)
        z0_hat = z_t
        for sigma, sigma_next in zip(sigmas[:-1], sigmas[1:]):
            z0 = model.x0(z_t, sigma)
            z0_hat = z_range + settings.lam * (z0 - model.encode(op.A_pinv(op.A(model.decode(z0)))))
            eps_hat = (z_t - (1 - sigma) * z0_hat) / sigma
            if settings.eta > 0 and sigma_next > 0:
                eps_hat = (1 - settings.eta**2) ** 0.5 * eps_hat + settings.eta * randn_like(eps_hat, generator)
            z_t = (1 - sigma_next) * z0_hat + sigma_next * eps_hat
        x = model.decode(z0_hat)
        if settings.project_output:
            x = x - op.A_pinv(op.A(x) - y)  # DDNM Eq. 13 once, on the decoded image
    return x
