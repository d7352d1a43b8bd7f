"""Reading weight files safely and explaining why a state dict does not fit a network.

Only tensors are ever read: ``.safetensors`` through safetensors, ``.pt/.pth/.ckpt`` through
``torch.load(weights_only=True)``, which refuses any pickle that would build other objects or run code.
"""

from __future__ import annotations

import hashlib
import json
import pickle
from pathlib import Path

import torch
from safetensors.torch import load_file
from torch import nn

from .registry import ARCHS, PRESETS

TORCH_SUFFIXES = (".pt", ".pth", ".ckpt", ".bin")
SHOW = 5  # how many offending keys an error lists
ARCH_MARKERS = {"adm": "time_embed.0.weight", "ddpm": "temb.dense.0.weight"}  # a key only that layout has


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """The tensors stored at ``path`` (on CPU), keyed as saved; a DataParallel ``module.`` prefix is dropped."""
    if path.suffix == ".safetensors":
        state_dict = load_file(str(path), device="cpu")
    elif path.suffix in TORCH_SUFFIXES:
        try:
            state_dict = torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as err:
            # torch's message opens with advice to set weights_only=False; quote only the reason.
            reasons = [line for line in str(err).splitlines() if "GLOBAL" in line or "Unsupported" in line]
            raise ValueError(
                f"refused to load {path}: it holds pickled objects other than tensors (possibly code), and only "
                f"weights are read (torch.load(weights_only=True)). Re-save it as a plain state_dict, or convert it "
                f"to .safetensors. Reason: {(reasons or ['not a tensors-only pickle'])[0].strip()}"
            ) from err
    else:
        raise ValueError(f"unknown weight file type {path.suffix!r} for {path}; "
                         f"expected .safetensors or one of {', '.join(TORCH_SUFFIXES)}")
    if not isinstance(state_dict, dict) or not all(isinstance(v, torch.Tensor) for v in state_dict.values()):
        raise ValueError(f"{path} holds a {type(state_dict).__name__} that is not a flat state_dict of tensors; "
                         "save model.state_dict() itself")
    if state_dict and all(key.startswith("module.") for key in state_dict):
        state_dict = {key[len("module."):]: value for key, value in state_dict.items()}
    return state_dict


def read_config(weights: Path) -> dict | None:
    """The sibling ``<stem>.json`` ({"arch", "hparams", "schedule", "name", "license"}), or None if absent."""
    config_path = weights.with_suffix(".json")
    if not config_path.is_file():
        return None
    try:
        config = json.loads(config_path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{config_path} is not valid JSON ({err}); fix or remove it") from err
    if not isinstance(config, dict):
        raise ValueError(f"{config_path} must hold a JSON object with 'arch' and 'hparams'")
    return config


def _shapes(state_dict: dict[str, torch.Tensor]) -> dict[str, tuple[int, ...]]:
    return {key: tuple(value.shape) for key, value in state_dict.items()}


def matching_presets(state_dict: dict[str, torch.Tensor]) -> list[str]:
    """``arch/preset`` names whose network has exactly these keys and shapes (built on the meta device)."""
    wanted = _shapes(state_dict)
    found = []
    for arch, presets in PRESETS.items():
        for name, hparams in presets.items():
            with torch.device("meta"):
                net = ARCHS[arch](**hparams)
            if _shapes(net.state_dict()) == wanted:
                found.append(f"arch={arch!r}, preset={name!r}")
    return found


def _sample(keys: list[str]) -> str:
    more = f", … ({len(keys) - SHOW} more)" if len(keys) > SHOW else ""
    return ", ".join(keys[:SHOW]) + more


def check_fits(net: nn.Module, state_dict: dict[str, torch.Tensor], source: str, described: str) -> None:
    """Raise ValueError naming missing/unexpected keys or shape mismatches, and any preset that does fit."""
    expected, given = _shapes(net.state_dict()), _shapes(state_dict)
    missing = [k for k in expected if k not in given]
    unexpected = [k for k in given if k not in expected]
    mismatched = [f"{k}: file {given[k]} vs network {expected[k]}"
                  for k in expected if k in given and given[k] != expected[k]]
    if not (missing or unexpected or mismatched):
        return
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing keys ({_sample(missing)})")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected keys ({_sample(unexpected)})")
    if mismatched:
        problems.append(f"{len(mismatched)} shape mismatches ({_sample(mismatched)}); "
                        "check num_channels/ch, channel_mult, learn_sigma/out_ch and image_size")
    fits = matching_presets(state_dict)
    layouts = [arch for arch, marker in ARCH_MARKERS.items() if marker in given]
    hint = (f"these weights fit {' or '.join(fits)}" if fits else
            f"no known preset fits either ({', '.join(f'{a}: {sorted(p)}' for a, p in PRESETS.items())}); "
            f"the keys are laid out as arch {' or '.join(map(repr, layouts)) or 'unknown'}: pass that arch and "
            "the hyper-parameters the checkpoint was trained with")
    raise ValueError(f"{source} does not fit {described}: {'; '.join(problems)}. {hint}")
