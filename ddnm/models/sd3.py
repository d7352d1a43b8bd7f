"""Latent flow-matching priors (Stable Diffusion 3 / 3.5) from a diffusers folder the user already has, for latent DDNM.

Rectified flow (SD3 paper, Esser et al. 2024, Eq. 3 with a_t = 1 − t, b_t = t): z_σ = (1 − σ) z0 + σ ε, and the
transformer predicts the velocity v = ε − z0 at ``timestep`` = 1000 σ. So z_{0|σ} = z_σ − σ v. Images live in the
VAE's latent space: z = (E(x) − shift) · scale and x = D(z / scale + shift).

diffusers is an optional extra (``pip install 'ddnm-batch[latent]'``) imported only here, and only local files are
read (``local_files_only=True``): nothing is ever downloaded. Without text encoders in the folder (or without
``transformers``), the prompt embeddings are zeros: SD3 was trained with each text encoder dropped to zeros for
a share of its steps, so that is its "no caption" input.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch
from torch import nn

from .wrapper import ModelInfo

INSTALL_HINT = "latent (SD3) models need diffusers: pip install 'ddnm-batch[latent]'"


def _diffusers():
    try:
        import diffusers
    except ImportError as exc:
        raise ImportError(INSTALL_HINT) from exc
    return diffusers


class LatentFlowModel(nn.Module):
    """A frozen SD3-style transformer + VAE + flow schedule, with the three calls latent DDNM needs."""

    is_latent = True  # ddnm.restore and the pipeline dispatch on this

    def __init__(self, transformer: nn.Module, vae: nn.Module, scheduler, info: ModelInfo,
                 prompt_embeds: torch.Tensor | None = None, pooled_embeds: torch.Tensor | None = None):  # fmt: skip
        super().__init__()
        self.transformer, self.vae, self.scheduler, self.info = transformer, vae, scheduler, info
        self.in_channels = 3  # pixel channels, as every prior reports them to the pipeline
        config = transformer.config
        if prompt_embeds is None:  # "no caption": zeros, one token
            prompt_embeds = torch.zeros(1, 1, config.joint_attention_dim)
            pooled_embeds = torch.zeros(1, config.pooled_projection_dim)
        self.register_buffer("prompt_embeds", prompt_embeds, persistent=False)
        self.register_buffer("pooled_embeds", pooled_embeds, persistent=False)
        self.vae_factor = 2 ** (len(vae.config.block_out_channels) - 1)
        self.multiple = self.vae_factor * config.patch_size  # image sides must divide by this
        self.scaling, self.shift = vae.config.scaling_factor, vae.config.shift_factor or 0.0
        self.eval().requires_grad_(False)

    def sigmas(self, steps: int) -> list[float]:
        """σ from 1 to 0 in ``steps`` steps, with the folder's shift, exactly as its Euler scheduler would."""
        self.scheduler.set_timesteps(steps)
        return [float(s) for s in self.scheduler.sigmas]

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """E: pixels in [-1, 1] → latents (the posterior mean, so encoding is deterministic)."""
        dtype = next(self.vae.parameters()).dtype
        z = self.vae.encode(x.to(dtype)).latent_dist.mean
        return ((z - self.shift) * self.scaling).float()

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """D: latents → pixels in [-1, 1] (not clamped)."""
        dtype = next(self.vae.parameters()).dtype
        return self.vae.decode((z / self.scaling + self.shift).to(dtype)).sample.float()

    def x0(self, z_t: torch.Tensor, sigma: float) -> torch.Tensor:
        """z_{0|σ} = z_σ − σ v(z_σ, 1000 σ)."""
        dtype = next(self.transformer.parameters()).dtype
        batch = z_t.shape[0]
        v = self.transformer(
            hidden_states=z_t.to(dtype),
            encoder_hidden_states=self.prompt_embeds.expand(batch, -1, -1).to(dtype),
            pooled_projections=self.pooled_embeds.expand(batch, -1).to(dtype),
            timestep=torch.full((batch,), 1000.0 * sigma, device=z_t.device, dtype=dtype),
        ).sample.float()
        return z_t - sigma * v


def is_diffusers_folder(path) -> bool:
    return path is not None and Path(path).is_dir() and (Path(path) / "model_index.json").is_file()


def folder_sha256(folder: Path) -> str:
    """One digest over the folder's transformer and VAE weight files (names and bytes, in sorted order)."""
    digest = hashlib.sha256()
    files = sorted(p for sub in ("transformer", "vae") for p in (folder / sub).glob("*")
                   if p.suffix in (".safetensors", ".bin"))  # fmt: skip
    for path in files:
        digest.update(str(path.relative_to(folder)).encode())
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def _prompt(folder: Path, prompt: str, transformer, vae, scheduler, device, dtype):
    """(prompt_embeds, pooled) from the folder's text encoders, or (None, None) when it has none."""
    if not (folder / "text_encoder").is_dir():
        return None, None, "zeros (no text encoders in the folder)"
    try:
        import transformers  # noqa: F401
    except ImportError:
        return None, None, "zeros (transformers is not installed)"
    pipe = _diffusers().StableDiffusion3Pipeline.from_pretrained(
        folder, transformer=transformer, vae=vae, scheduler=scheduler, local_files_only=True, torch_dtype=dtype)
    pipe.to(device)
    with torch.inference_mode():
        embeds, _, pooled, _ = pipe.encode_prompt(prompt, prompt, prompt, device=device,
                                                  do_classifier_free_guidance=False)  # fmt: skip
    return embeds.clone(), pooled.clone(), f"text encoders, prompt {prompt!r}"


def load_sd3(path, device="cpu", dtype: torch.dtype = torch.float32, prompt: str = "") -> LatentFlowModel:
    """A frozen :class:`LatentFlowModel` from a diffusers SD3 / SD3.5 folder (transformer/, vae/, scheduler/)."""
    diffusers = _diffusers()
    folder = Path(path).expanduser()
    missing = [sub for sub in ("transformer", "vae", "scheduler") if not (folder / sub).is_dir()]
    if missing:
        raise FileNotFoundError(f"{folder} is not a diffusers SD3 folder: it lacks {missing} (expected the layout "
                                "StableDiffusion3Pipeline.save_pretrained writes: model_index.json, transformer/, "
                                "vae/, scheduler/)")
    local = dict(local_files_only=True, torch_dtype=dtype)
    transformer = diffusers.SD3Transformer2DModel.from_pretrained(folder, subfolder="transformer", **local)
    vae = diffusers.AutoencoderKL.from_pretrained(folder, subfolder="vae", **local)
    scheduler = diffusers.FlowMatchEulerDiscreteScheduler.from_pretrained(folder, subfolder="scheduler",
                                                                          local_files_only=True)  # fmt: skip
    embeds, pooled, conditioning = _prompt(folder, prompt, transformer, vae, scheduler, device, dtype)
    info = ModelInfo(name=f"sd3:{folder.name}", arch="sd3", image_size=None, weights_sha256=folder_sha256(folder),
                     license=f"see {folder} (the model's own licence)", generative=True,
                     extra={"conditioning": conditioning, "folder": str(folder)})  # fmt: skip
    return LatentFlowModel(transformer, vae, scheduler, info, embeds, pooled).to(device)
