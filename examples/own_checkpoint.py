"""A stand-in for your own trained prior: a small ADM with random weights, as NAME.safetensors + NAME.json.

The README's "Models" section uses it to show the checkpoint format the CLI reads (``--model NAME.safetensors``)
from a fresh clone, with no weights to download. Random weights restore nothing useful in the null space, but DDNM
keeps the range space, so the output is still consistent with the measurement (its certificate stays small).

    python examples/own_checkpoint.py out/my-prior      # writes out/my-prior.safetensors and out/my-prior.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file

from ddnm.models.adm import create_model

# guided-diffusion's create_model flags; a real checkpoint's .json lists the ones it was trained with.
HPARAMS = dict(image_size=64, num_channels=32, num_res_blocks=1, channel_mult="1,2", attention_resolutions="16",
               num_heads=2, learn_sigma=False)


def main(name: str) -> None:
    torch.manual_seed(0)
    net = create_model(**HPARAMS)
    with torch.no_grad():  # ADM zero-initialises its output layer (ε ≡ 0); give every weight some noise instead
        for parameter in net.parameters():
            parameter.add_(0.02 * torch.randn(parameter.shape))
    weights = Path(f"{name}.safetensors")
    weights.parent.mkdir(parents=True, exist_ok=True)
    save_file(net.state_dict(), str(weights))
    config = {
        "arch": "adm",                                 # or "ddpm"
        "hparams": HPARAMS,                            # the network's constructor arguments
        "schedule": {"kind": "linear", "T": 1000},     # the β schedule it was trained on
        "name": weights.stem,                          # recorded with every output
        "license": "CC0-1.0",                          # the weights' licence, recorded too
        "sampling": {"eta": 1.0},                      # optional: the η it samples best with
    }
    weights.with_suffix(".json").write_text(json.dumps(config, indent=2) + "\n")
    print(f"wrote {weights} and {weights.with_suffix('.json')}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "my-prior")
