"""Shared fixtures."""

from __future__ import annotations

import logging

import os

import pytest


@pytest.fixture(scope="session")
def ray_local():
    """One real local Ray for the whole session (2 CPUs: one restore actor + one task)."""
    ray = pytest.importorskip("ray")
    if not ray.is_initialized():
        # address="local": always a fresh cluster of our own; with None, Ray 2.60 joins any cluster already
        # running on the machine (another checkout's tests, a `ray start`) and then refuses num_cpus.
        ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level=logging.WARNING)
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


AWS_DUMMY_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


@pytest.fixture(scope="session")
def s3_endpoint():
    """A real S3 API (moto's threaded server) on a free 127.0.0.1 port, as s3fs's own tests use; dummy
    credentials in the environment so no test can ever reach real ones."""
    from moto.server import ThreadedMotoServer

    saved = {k: os.environ.get(k) for k in AWS_DUMMY_ENV}
    os.environ.update(AWS_DUMMY_ENV)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
