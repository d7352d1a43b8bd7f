"""Frozen, validated settings for the samplers."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SamplerSettings:
    """How to run DDNM / DDNM+ (arXiv:2212.00490) on a DDIM schedule (arXiv:2010.02502).

    steps:          number of distinct timesteps visited on the way down (before time-travel).
    eta:            DDIM η (Eq. 16): 0 is deterministic DDIM, 1 is the DDPM posterior.
    sigma_y:        standard deviation of the noise in y, in [-1, 1] image units; > 0 selects DDNM+.
    travel_length:  time-travel length L in steps (DDNM §3.4); 0 disables time-travel.
    travel_repeat:  how many times each travelled segment is sampled (r); 1 means once.
    start_t:        warm start (CCDF, arXiv:2112.05146): begin at this timestep index from a noised
                    initial image instead of pure noise at T-1; None starts at T-1.
    clip_x0:        clamp the model's x0 estimate to [-1, 1] before the range-space correction.
    """

    steps: int = 100
    eta: float = 0.85
    sigma_y: float = 0.0
    travel_length: int = 0
    travel_repeat: int = 1
    start_t: int | None = None
    clip_x0: bool = True

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise ValueError(f"steps must be >= 1, got {self.steps}")
        if not 0.0 <= self.eta <= 1.0:
            raise ValueError(f"eta must be in [0, 1], got {self.eta}")
        if self.sigma_y < 0:
            raise ValueError(f"sigma_y must be >= 0, got {self.sigma_y}")
        if self.travel_length < 0 or self.travel_repeat < 1:
            raise ValueError(
                f"travel_length must be >= 0 and travel_repeat >= 1, got {self.travel_length}, {self.travel_repeat}"
            )
        if self.travel_length and self.travel_length >= self.steps:
            raise ValueError(f"travel_length {self.travel_length} must be smaller than steps {self.steps}")
        if self.start_t is not None and self.start_t < 0:
            raise ValueError(f"start_t must be a timestep index >= 0, got {self.start_t}")

    @property
    def is_noisy(self) -> bool:
        """DDNM+ (Eq. 17-19) is needed only when y carries noise."""
        return self.sigma_y > 0
