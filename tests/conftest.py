"""Shared fixtures."""

from __future__ import annotations

import logging

import pytest


@pytest.fixture(scope="session")
def ray_local():
    """One real local Ray for the whole session (2 CPUs: one restore actor + one task)."""
    ray = pytest.importorskip("ray")
    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.WARNING)
    yield ray
    ray.shutdown()


TINY_ADM_HPARAMS = dict(image_size=32, num_channels=32, num_res_blocks=1, channel_mult="1,2",
                        attention_resolutions="16", num_heads=2, learn_sigma=True)  # fmt: skip


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory) -> str:
    """A tiny randomly initialised ADM (32x32 window) saved as safetensors + json, for pipeline tests.

    Every weight gets seeded noise (ADM zero-initialises its output layers, which would make ε ≡ 0).
    """
    import json

    import torch
    from safetensors.torch import save_file

    from ddnm.models.adm import create_model

    net = create_model(**TINY_ADM_HPARAMS)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for parameter in net.parameters():
            parameter.add_(0.02 * torch.randn(parameter.shape, generator=generator))
    path = tmp_path_factory.mktemp("tiny-model") / "tiny-adm.safetensors"
    save_file(net.state_dict(), str(path))
    config = {"arch": "adm", "hparams": TINY_ADM_HPARAMS, "schedule": {"kind": "linear", "T": 1000},
              "name": "tiny-adm-test", "license": "CC0-1.0"}  # fmt: skip
    path.with_suffix(".json").write_text(json.dumps(config))
    return str(path)
