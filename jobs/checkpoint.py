"""Resumable training checkpoints (small enough to commit) and the fp16 EMA export the library loads.

Checkpoint layout, one folder, every file ≤ ~16 MiB for models up to ~4M parameters:
``model.safetensors`` (fp32 weights), ``ema.safetensors`` (fp32 EMA), ``optim.safetensors`` (AdamW moments in bf16:
enough precision to resume, half the size) and ``state.pt`` (step, RNG states, settings, optimizer hyper-parameters).
A save writes a sibling ``<dir>.tmp`` folder and swaps it in, so a crash never leaves a half-written checkpoint.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn


def _swap_in(tmp: Path, target: Path) -> None:
    old = target.with_name(target.name + ".old")
    if old.exists():
        shutil.rmtree(old)
    if target.exists():
        os.replace(target, old)
    os.replace(tmp, target)
    if old.exists():
        shutil.rmtree(old)


def _optimizer_tensors(optimizer: torch.optim.Optimizer, model: nn.Module) -> tuple[dict, dict]:
    """AdamW moments keyed by parameter name (bf16), and the per-parameter step counts."""
    tensors, steps = {}, {}
    for name, param in model.named_parameters():
        state = optimizer.state.get(param)
        if not state:
            continue
        tensors[f"{name}.exp_avg"] = state["exp_avg"].to(torch.bfloat16).contiguous()
        tensors[f"{name}.exp_avg_sq"] = state["exp_avg_sq"].to(torch.bfloat16).contiguous()
        steps[name] = float(state["step"])
    return tensors, steps


def save_checkpoint(folder: Path, model: nn.Module, ema: nn.Module, optimizer: torch.optim.Optimizer,
                    state: dict) -> None:
    """Write model, EMA, optimizer and ``state`` (step, RNG states, settings) atomically to ``folder``."""
    folder = Path(folder)
    tmp = folder.with_name(folder.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    save_file({k: v.detach().float().contiguous() for k, v in model.state_dict().items()}, tmp / "model.safetensors")
    save_file({k: v.detach().float().contiguous() for k, v in ema.state_dict().items()}, tmp / "ema.safetensors")
    moments, steps = _optimizer_tensors(optimizer, model)
    save_file(moments, tmp / "optim.safetensors")
    groups = [{k: v for k, v in g.items() if k != "params"} for g in optimizer.param_groups]
    torch.save({**state, "optimizer_steps": steps, "param_groups": groups}, tmp / "state.pt")
    _swap_in(tmp, folder)


def find_checkpoint(folder: Path) -> Path | None:
    """The checkpoint folder to resume from, or None; falls back to ``<dir>.old`` if a swap was interrupted."""
    folder = Path(folder)
    for candidate in (folder, folder.with_name(folder.name + ".old")):
        if (candidate / "state.pt").is_file():
            return candidate
    return None


def load_checkpoint(folder: Path, model: nn.Module, ema: nn.Module, optimizer: torch.optim.Optimizer) -> dict:
    """Restore weights, EMA and AdamW moments in place (these objects belong to the training loop); return state."""
    device = next(model.parameters()).device
    model.load_state_dict(load_file(folder / "model.safetensors", device=str(device)))
    ema.load_state_dict(load_file(folder / "ema.safetensors", device=str(device)))
    state = torch.load(folder / "state.pt", weights_only=True)  # plain ints, tuples, dicts and tensors: no pickled code
    moments = load_file(folder / "optim.safetensors", device=str(device))
    for name, param in model.named_parameters():
        if name not in state["optimizer_steps"]:
            continue
        optimizer.state[param] = {
            # fused AdamW (CUDA) wants its step counts on the parameters' device; the plain one takes either
            "step": torch.tensor(state["optimizer_steps"][name],
                                 device=param.device if optimizer.defaults.get("fused") else None),
            "exp_avg": moments[f"{name}.exp_avg"].to(param.dtype),
            "exp_avg_sq": moments[f"{name}.exp_avg_sq"].to(param.dtype),
        }
    for group, saved in zip(optimizer.param_groups, state["param_groups"]):
        group.update(saved)
    return state


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def export_weights(ema: nn.Module, weights_path: Path, meta: dict) -> dict:
    """Write the EMA weights in fp16 to ``weights_path`` and the metadata (with sha256) next to it as .json."""
    weights_path = Path(weights_path)
    weights_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = weights_path.with_name(weights_path.name + ".tmp")
    save_file({k: v.detach().to(torch.float16).contiguous() for k, v in ema.state_dict().items()}, tmp)
    os.chmod(tmp, 0o644)  # safetensors writes 0600; package data must be readable by every user
    record = {**meta, "sha256": sha256_file(tmp)}
    json_path = weights_path.with_suffix(".json")
    json_tmp = json_path.with_name(json_path.name + ".tmp")
    json_tmp.write_text(json.dumps(record, indent=2) + "\n")
    os.replace(tmp, weights_path)
    os.replace(json_tmp, json_path)
    return record
