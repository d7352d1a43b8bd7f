"""What the guidance benchmark compares: its methods, tasks, crops and prior.

Shared by ``benchmarks.guidance`` (the table) and ``benchmarks.guidance_memory`` (each method's peak memory in a
child process), so that neither imports the other.
"""

from __future__ import annotations

from pathlib import Path

import torch

import ddnm

ROOT = Path(__file__).resolve().parents[1]
EVAL_DIR = ROOT.parent / "shared" / "eval" / "classic"
PRIOR = ROOT / "ddnm" / "weights" / "ddnm-prior-64.safetensors"

# method → (guidance, whether the sampler is told σ_y); DDNM without σ_y is the hard range-space projection.
METHODS = {"DDNM": ("ddnm", False), "DDNM+": ("ddnm", True), "DDPG": ("ddpg", True), "IDPG": ("idpg", True),
           "DPS": ("dps", True)}
# Deblur drops frequencies with |K̂| < 3e-2 as DDRM and DDNM do; without it A⁺ amplifies noise by up to ~1e5.
TASKS = {"SR×4": ("sr_bicubic", {"scale": 4}), "deblur": ("deblur_gaussian", {"sigma": 1.5, "threshold": 3e-2})}


def load_images(size: int, count: int) -> tuple[list[str], torch.Tensor]:
    """Names and the size×size centre crops of the first ``count`` of Set5 then Kodak24, (N, 3, size, size)."""
    from pipeline.eval_report import load_crops

    names, crops = [], []
    for folder in (EVAL_DIR / "Set5", EVAL_DIR / "Kodak24"):
        if len(names) < count:
            try:
                part_names, part = load_crops(folder, size, count - len(names))
            except FileNotFoundError as error:
                raise SystemExit(f"{error}; see ../shared/eval/README.md") from None
            names, crops = names + part_names, crops + [part]
    return names, torch.cat(crops)


def load_prior(device: torch.device):
    """The bundled prior, else (weights absent) the analytic Gaussian oracle."""
    if PRIOR.exists():
        return ddnm.models.load(device=device)
    from ddnm.models.testing import GaussianPosteriorModel

    return GaussianPosteriorModel(mean=0.0, std=0.5).to(device)
