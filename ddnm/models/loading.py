"""``load``: a weight file or a registered name -> a frozen ``DiffusionModel`` (eval mode, no gradients).

    load()                                           # the bundled prior, ddnm/weights/ddnm-prior-64.safetensors
    load("ffdnet")                                   # a registered prior with its own loader
    load("my.safetensors")                           # arch, hparams, schedule from my.json beside it
    load("256x256_diffusion_uncond.pt", arch="adm", preset="imagenet256_uncond")
    load("celeba_hq.ckpt", arch="ddpm", **DDPM_PRESETS["celeba_hq"])
    load("stable-diffusion-3.5-medium/", arch="sd3")  # a diffusers folder: latent DDNM (ddnm.models.sd3)

Precedence for the configuration: keyword arguments, then ``preset``, then the sibling ``<stem>.json``.
"""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path

import torch

from ..schedules import alphas_cumprod_from_betas, cosine_alphas_cumprod, linear_betas
from .checkpoint import check_fits, read_config, read_state_dict, sha256_of
from .registry import ADM_PRESETS, ARCHS, DDPM_PRESETS, DEFAULT_PRIOR, PRESETS, PRIORS, WEIGHTS_DIR, Prior
from .runtime import configure_backend, parse_dtype
from .sd3 import is_diffusers_folder
from .wrapper import DiffusionModel, ModelInfo, NetworkEpsModel

__all__ = ["ADM_PRESETS", "DDPM_PRESETS", "load", "alphas_cumprod_for"]

DEFAULT_SCHEDULE = {"kind": "linear", "T": 1000}  # both ADM-256 and DDPM CelebA-HQ were trained on it


def alphas_cumprod_for(schedule: dict) -> torch.Tensor:
    """ᾱ (float64, length T) for a config's ``schedule``: {"kind": "linear"|"cosine", "T": int, ...}."""
    kind, steps = schedule.get("kind", "linear"), int(schedule.get("T", 1000))
    if kind == "linear":
        betas = linear_betas(steps, schedule.get("start", 1e-4), schedule.get("end", 0.02))
        return alphas_cumprod_from_betas(betas)
    if kind == "cosine":
        return cosine_alphas_cumprod(steps)
    raise ValueError(f"unknown schedule kind {kind!r}; expected 'linear' or 'cosine'")


def _resolve(path: str | Path | None) -> tuple[Path | None, Prior | None, str]:
    """(weights file, registry entry, display name) for a path or a registered name."""
    name = DEFAULT_PRIOR if path is None else str(path)
    if name in PRIORS and not Path(name).is_file():
        prior = PRIORS[name]
        return (WEIGHTS_DIR / prior.file if prior.file else None), prior, name
    file = Path(path).expanduser()
    if not file.is_file():
        raise FileNotFoundError(f"no weight file at {file}; give an existing .safetensors/.pt path or one of the "
                                f"registered priors {sorted(PRIORS)}")
    return file, None, file.stem


def _configure(file: Path, prior: Prior | None, arch: str | None, hparams: dict) -> tuple[str, dict, dict, dict]:
    """(arch, hparams, schedule, whole config) from the sibling JSON, a preset and the arguments."""
    config = read_config(file) or {}
    preset = hparams.pop("preset", None)
    arch = arch or config.get("arch") or (prior.arch if prior else None)
    if arch is None:
        raise ValueError(f"cannot tell the architecture of {file}: no {file.with_suffix('.json').name} beside it. "
                         f"Pass arch= (one of {sorted(ARCHS)}) and its hyper-parameters or preset= "
                         f"(adm: {sorted(ADM_PRESETS)}, ddpm: {sorted(DDPM_PRESETS)})")
    if arch not in ARCHS:
        raise ValueError(f"unknown arch {arch!r} for {file}; expected one of {sorted(ARCHS)}")
    merged = dict(config.get("hparams", {})) if config.get("arch", arch) == arch else {}
    if preset is not None:
        if preset not in PRESETS[arch]:
            raise ValueError(f"unknown {arch} preset {preset!r}; expected one of {sorted(PRESETS[arch])}")
        merged.update(PRESETS[arch][preset])
    merged.update(hparams)
    if not merged:
        raise ValueError(f"no hyper-parameters for {file} (arch {arch!r}): add a {file.with_suffix('.json').name} "
                         f"with 'hparams', or pass them or preset= (one of {sorted(PRESETS[arch])})")
    return arch, merged, config.get("schedule", DEFAULT_SCHEDULE), config


def _build(arch: str, hparams: dict) -> torch.nn.Module:
    """The network on the meta device (no memory, no random init); weights are assigned afterwards."""
    builder = ARCHS[arch]
    accepted = inspect.signature(builder).parameters
    unknown = sorted(set(hparams) - set(accepted))
    if unknown:
        raise ValueError(f"unknown {arch} hyper-parameters {unknown}; expected some of {list(accepted)}")
    with torch.device("meta"):
        return builder(**hparams)


def _load_registered(prior: Prior, device, dtype, hparams: dict) -> DiffusionModel:
    module_name, function_name = prior.loader.split(":")
    loader = getattr(importlib.import_module(module_name), function_name)
    return loader(device=device, dtype=dtype, **hparams)


def load(path: str | Path | None = None, arch: str | None = None, *, device: str | torch.device = "cpu",
         dtype: torch.dtype | str = torch.float32, channels_last: bool | None = None, compile: bool | str = False,
         **hparams) -> DiffusionModel:
    """Load a prior as a frozen ``NetworkEpsModel`` (or a registered prior's own model) on ``device``.

    ``dtype`` sets the network's weights and, for bfloat16/float16, runs it under autocast; the ᾱ schedule stays
    float64 and the sampler's arithmetic float32 (``ddnm.models.runtime``). guided-diffusion's ``use_fp16`` flag
    does not override it. ``channels_last`` and ``compile`` (``True`` or a ``torch.compile`` mode) apply to
    ε-networks (ADM, DDPM); compiling falls back to eager with one warning. ``channels_last=None`` (the default) runs
    an ε-network in channels_last and any other prior as it is: the same maths in NHWC, the layout of oneDNN's and
    cuDNN's fast convolutions (the bundled priors on a 2-core CPU: 1.04–1.46× faster per network call; SR ×2 of a
    512-px scan 1.24× faster end to end, one pixel of 174k one level apart; ``benchmarks/cpu_dtype.py``); ``False``
    keeps the contiguous layout. On CUDA, cudnn.benchmark is turned on and an fp32 network runs with TF32.
    ``hparams`` are the architecture's hyper-parameters, plus ``preset=``.
    """
    dtype = parse_dtype(dtype)
    device = torch.device(device)
    configure_backend(device)
    model = _load(path, arch, device, dtype, hparams)
    if channels_last or compile:  # asked for: refused where it cannot apply
        if not isinstance(model, NetworkEpsModel):
            raise ValueError(f"channels_last and compile apply to ε-networks (adm, ddpm); "
                             f"{model.info.name!r} is a {type(model).__name__}")
    if isinstance(model, NetworkEpsModel) and (channels_last is not False or compile):
        model.optimize(channels_last=channels_last is not False, compile=compile)
    return model


def _load(path, arch, device: torch.device, dtype: torch.dtype, hparams: dict) -> DiffusionModel:
    """:func:`load` without the network's layout and compilation."""
    if arch == "sd3" or is_diffusers_folder(path):
        if path is None:
            raise ValueError("arch='sd3' needs the path of a diffusers SD3 folder (nothing is downloaded)")
        from .sd3 import load_sd3  # diffusers is an optional extra

        return load_sd3(path, device=device, dtype=dtype, **hparams)
    file, prior, name = _resolve(path)
    if prior is not None and prior.loader:
        return _load_registered(prior, device, dtype, hparams)
    if not file.is_file():
        raise FileNotFoundError(f"the bundled prior {name!r} is missing: expected {file} and "
                                f"{file.with_suffix('.json').name} beside it. Reinstall ddnm-batch with its weights, "
                                f"or pass the path of a checkpoint (load(path, arch=..., ...)) or 'ffdnet'")
    arch, hparams, schedule, config = _configure(file, prior, arch, dict(hparams))
    state_dict = read_state_dict(file)
    net = _build(arch, hparams)
    check_fits(net, state_dict, str(file), f"arch {arch!r} with {hparams}")
    net.load_state_dict(state_dict, strict=True, assign=True)
    net = net.to(device=device, dtype=dtype)
    info = ModelInfo(
        name=config.get("name", name), arch=arch,
        image_size=hparams.get("image_size", hparams.get("resolution")),
        weights_sha256=sha256_of(file),
        license=config.get("license", prior.license if prior else ""),
        generative=prior.generative if prior else True,
        extra={"hparams": hparams, "schedule": schedule, "file": file.name},
        sampling=dict(config.get("sampling", {})),
        colour=dict(config.get("colour", {})),
    )
    in_channels = getattr(net, "in_channels", 3)
    # Only the network takes ``dtype``; .to(device) keeps the float64 ᾱ buffer.
    model = NetworkEpsModel(net, alphas_cumprod_for(schedule), info, in_channels).to(device)
    return model.eval().requires_grad_(False)
