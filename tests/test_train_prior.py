"""Prior training on CPU: data split and crops, learning on a fixed batch, checkpoint resume, fp16 export."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from ddnm.models.adm import create_model
from jobs.checkpoint import sha256_file
from jobs.data import CropSampler, CropSettings, list_images, split_holdout
from jobs.train_prior import TrainSettings, Trainer, fixed_t_loss, main

CORPUS = Path(__file__).resolve().parents[2] / "shared/corpus"


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny nets on a busy 2-core machine run ~10x slower with 2 OpenMP threads (spin-waiting) than with 1."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """Six small photos: downscaled real corpus images when ../shared is there, smooth random images otherwise."""
    folder = tmp_path_factory.mktemp("corpus") / "images"
    folder.mkdir()
    real = list_images(CORPUS)[:6] if CORPUS.is_dir() else []
    rng = np.random.default_rng(0)
    for i in range(6):
        if real:
            with Image.open(real[i]) as im:
                image = im.convert("RGB").resize((96, 72), Image.LANCZOS)
        else:
            coarse = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
            image = Image.fromarray(coarse).resize((96, 72), Image.BICUBIC)
        image.save(folder / f"photo-{i}.jpg", quality=95)
    return folder.parent


def tiny_settings(corpus: Path, tmp: Path, **changes) -> TrainSettings:
    base = TrainSettings(
        corpus=corpus, window=16, num_channels=32, num_res_blocks=1, channel_mult="1,2", attention_resolutions="8",
        batch_size=4, lr=1e-3, warmup_steps=1, steps=3, validate_every=2, validation_crops=4, log_every=1,
        checkpoint_dir=tmp / "ckpt", export_path=tmp / "weights/prior.safetensors", log_path=tmp / "log.csv")
    return dataclasses.replace(base, **changes)


def test_holdout_split_is_deterministic_and_disjoint(corpus):
    names = [Path(f"img-{i:03d}.jpg") for i in range(50)]
    train, held = split_holdout(names, 0.1)
    assert held == split_holdout(list(reversed(names)), 0.1)[1] and len(held) == 5  # order of listing is irrelevant
    assert sorted(train + held) == sorted(names) and not set(train) & set(held)
    assert split_holdout(names, 0.1) == split_holdout(names, 0.1)
    paths = list_images(corpus)
    train, held = split_holdout(paths)
    assert len(held) == 1 and held[0] not in train and len(train) == 5


def test_crops_are_seeded_windows_in_range(corpus):
    settings = CropSettings(window=16)
    paths = list_images(corpus)
    a = CropSampler(paths, settings, seed=3).sample(8)
    b = CropSampler(paths, settings, seed=3).sample(8)
    assert a.shape == (8, 3, 16, 16) and torch.equal(a, b)
    assert a.min() >= -1 and a.max() <= 1 and a.std() > 0.05


def test_loss_decreases_on_fixed_batch(corpus):
    torch.manual_seed(0)
    net = create_model(**tiny_settings(corpus, Path("/unused")).hparams)
    x0 = CropSampler(list_images(corpus), CropSettings(window=16), seed=0).sample(8)
    t, eps = torch.randint(0, 1000, (8,)), torch.randn(8, 3, 16, 16)
    from ddnm.schedules import alphas_cumprod_from_betas, linear_betas

    alphas_cumprod = alphas_cumprod_from_betas(linear_betas(1000))
    optimizer = torch.optim.AdamW(net.parameters(), lr=2e-3)
    losses = []
    for _ in range(20):
        loss = fixed_t_loss(net, x0, t, eps, alphas_cumprod)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert all(np.isfinite(losses))
    assert np.mean(losses[-3:]) < 0.7 * np.mean(losses[:3])


def test_resume_restores_state_and_export_loads(corpus, tmp_path):
    settings = tiny_settings(corpus, tmp_path)
    first = main(settings)
    again = Trainer(settings)
    assert again.resume() and again.step == 3
    for name, tensor in first.net.state_dict().items():
        assert torch.equal(again.net.state_dict()[name], tensor), name
        assert torch.equal(again.ema.state_dict()[name], first.ema.state_dict()[name]), name
    assert again.sampler.state() == first.sampler.state()
    assert torch.equal(again.generator.get_state(), first.generator.get_state())

    resumed = main(dataclasses.replace(settings, steps=5))
    assert resumed.step == 5
    rows = (tmp_path / "log.csv").read_text().splitlines()
    assert rows[0].startswith("step,loss") and [r.split(",")[0] for r in rows[1:]] == ["1", "2", "3", "4", "5"]

    weights = load_file(settings.export_path)
    meta = json.loads(settings.export_path.with_suffix(".json").read_text())
    expected = create_model(**meta["hparams"]).state_dict()
    assert set(weights) == set(expected) and all(w.dtype == torch.float16 for w in weights.values())
    assert meta["trained_steps"] == 5 and meta["arch"] == "adm" and meta["schedule"] == {"kind": "linear", "T": 1000}
    assert meta["sha256"] == sha256_file(settings.export_path)
    for name, tensor in resumed.ema.state_dict().items():
        torch.testing.assert_close(weights[name].float(), tensor, atol=1e-3, rtol=1e-3)
