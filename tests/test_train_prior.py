"""Prior training on CPU: data split and crop mix, learning on a fixed batch, state outside the checkout, resume
from a checkpoint and from an fp16 export, the export's config."""

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
from jobs.data import CropSampler, CropSettings
from jobs.photos import holdout_names, list_images, split_holdout
from jobs.objective import fixed_t_loss
from jobs.train_prior import REPO, TrainSettings, Trainer, main
from jobs.train_settings import BUNDLED_WEIGHTS

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
        state_dir=tmp / "state", init_weights=None, dc_head=False)
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


def test_project_holdout_is_the_committed_list():
    """The corpus's 10 % hold-out is a fixed list, whatever else is in the folder or how it is listed."""
    names = holdout_names()
    assert len(names) == 20 == len(set(names)) and "matplotlib-grace-hopper.jpg" in names  # old hold-out kept
    others = [Path(f"other-{i:03d}.jpg") for i in range(180)]
    paths = [Path(n) for n in names] + others
    train, held = split_holdout(paths)
    assert [p.name for p in held] == sorted(names) and train == others
    assert split_holdout(list(reversed(paths)))[1] == held
    if CORPUS.is_dir():  # every listed photo is in the shared corpus: the hold-out really is 10 % of it
        real = list_images(CORPUS)
        train, held = split_holdout(real)
        assert len(held) == 20 and len(real) == 200 and not {p.name for p in train} & set(names)


def two_colour_image(folder: Path) -> Path:
    """Left half red, right half blue, 96×72: a crop shows both colours only if it spans the middle."""
    folder.mkdir(parents=True, exist_ok=True)
    pixels = np.zeros((72, 96, 3), np.uint8)
    pixels[:, :48, 0] = 255
    pixels[:, 48:, 2] = 255
    Image.fromarray(pixels).save(folder / "halves.png")
    return folder / "halves.png"


def test_crop_mix_draws_whole_photo_thumbnails(tmp_path):
    path = two_colour_image(tmp_path)

    def both_colours(settings):
        x = CropSampler([path], settings, seed=0).sample(64)
        red, blue = (x[:, 0] > 0.5).flatten(1).any(1), (x[:, 2] > 0.5).flatten(1).any(1)
        return (red & blue).float().mean().item()

    # a thumbnail keeps ≥ 1/1.25 of the short side, so it always spans the middle of the photo
    assert both_colours(CropSettings(window=16, thumbnail_fraction=1, context_fraction=0)) == 1.0
    detail = both_colours(CropSettings(window=16, thumbnail_fraction=0, context_fraction=0))
    mixed = both_colours(CropSettings(window=16))
    assert detail < 0.9 and detail < mixed  # the default mix sees whole scenes more often than detail crops do
    with pytest.raises(ValueError):
        CropSettings(thumbnail_fraction=0.8, context_fraction=0.3)


def test_training_state_defaults_outside_the_checkout(monkeypatch, tmp_path):
    settings = TrainSettings()
    for path in (settings.checkpoint_dir, settings.export_path, settings.log_path):
        assert REPO not in path.parents, path
    monkeypatch.setenv("DDNM_TRAIN_DIR", str(tmp_path))
    monkeypatch.setenv("DDNM_CORPUS", str(tmp_path / "corpus"))
    settings = TrainSettings()
    assert settings.checkpoint_dir == tmp_path / "ddnm-prior-64/checkpoint"
    assert settings.corpus == tmp_path / "corpus"
    # the default start is the bundled prior, whose architecture the default settings describe
    meta = json.loads(BUNDLED_WEIGHTS.with_suffix(".json").read_text())
    assert settings.init_weights == BUNDLED_WEIGHTS and meta["hparams"] == settings.hparams


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
    rows = settings.log_path.read_text().splitlines()
    # step 0: the starting weights' validation loss, logged once, before training
    assert rows[0].startswith("step,loss") and [r.split(",")[0] for r in rows[1:]] == ["0", "1", "2", "3", "4", "5"]
    assert all(p.is_relative_to(tmp_path) for p in (settings.checkpoint_dir, settings.export_path))

    weights = load_file(settings.export_path)
    meta = json.loads(settings.export_path.with_suffix(".json").read_text())
    expected = create_model(**meta["hparams"]).state_dict()
    assert set(weights) == set(expected) and all(w.dtype == torch.float16 for w in weights.values())
    assert meta["trained_steps"] == 5 and meta["arch"] == "adm" and meta["schedule"] == {"kind": "linear", "T": 1000}
    assert meta["sha256"] == sha256_file(settings.export_path)
    assert meta["sampling"] == {"steps": settings.sampling_steps, "eta": 1.0, "samples": settings.sampling_samples}
    for name, tensor in resumed.ema.state_dict().items():
        torch.testing.assert_close(weights[name].float(), tensor, atol=1e-3, rtol=1e-3)


def test_fine_tune_starts_from_an_fp16_export(corpus, tmp_path):
    first = tiny_settings(corpus, tmp_path / "a")
    main(first)
    export = first.export_path
    tuned = tiny_settings(corpus, tmp_path / "b", init_weights=export, steps=5)
    start = Trainer(tuned)
    assert not start.resume() and start.step == start.start_step == 3  # counting continues from the export's
    weights = load_file(export)
    for name, tensor in start.net.state_dict().items():
        assert torch.equal(tensor, weights[name].float()) and torch.equal(start.ema.state_dict()[name], tensor), name
    assert start.optimizer.state == {}  # fresh moments, so the learning rate warms up again from this step

    done = main(tuned)
    meta = json.loads(tuned.export_path.with_suffix(".json").read_text())
    assert done.step == 5 and meta["trained_steps"] == 5
    assert meta["init"] == {"name": "ddnm-prior-64", "sha256": sha256_file(export), "trained_steps": 3}
    again = Trainer(tuned)  # the fine-tune's own checkpoint now wins over the init weights
    assert again.resume() and again.step == 5 and again.start_step == 3 and again.init == meta["init"]

    with pytest.raises(ValueError, match="hparams"):
        Trainer(tiny_settings(corpus, tmp_path / "c", init_weights=export, num_channels=64)).resume()


def test_a_dc_head_run_starts_from_weights_without_one(corpus, tmp_path):
    """The zero-initialised ε channel-mean head (ddnm.models.adm) may be added to a trained prior: the network computes
    what the export did until training moves the head; the export then carries it and loads as its own config."""
    first = tiny_settings(corpus, tmp_path / "a")
    main(first)
    headed = tiny_settings(corpus, tmp_path / "b", init_weights=first.export_path, dc_head=True, steps=5)
    start = Trainer(headed)
    assert not start.resume() and start.net.dc_head is not None
    plain = create_model(**first.hparams)
    plain.load_state_dict({k: v.float() for k, v in load_file(first.export_path).items()})
    x, t = torch.randn(2, 3, 16, 16), torch.tensor([999, 300])
    with torch.no_grad():
        assert torch.equal(start.net(x, t), plain(x, t))

    main(headed)
    meta = json.loads(headed.export_path.with_suffix(".json").read_text())
    assert meta["hparams"]["dc_head"] is True and "dc_head" not in first.hparams
    weights = load_file(headed.export_path)
    assert {"dc_head.weight", "dc_head.bias"} <= set(weights) and float(weights["dc_head.weight"].abs().max()) > 0
    with pytest.raises(ValueError, match="hparams"):  # the head may be added, nothing else changed
        Trainer(tiny_settings(corpus, tmp_path / "c", init_weights=first.export_path, dc_head=True,
                              num_channels=64)).resume()


def test_train_only_moves_the_head_and_nothing_else(corpus, tmp_path):
    """``train_only="dc_head"``: the head added to a trained prior learns, every trunk weight stays the export's."""
    first = tiny_settings(corpus, tmp_path / "a")
    main(first)
    headed = tiny_settings(corpus, tmp_path / "b", init_weights=first.export_path, dc_head=True, train_only="dc_head",
                           steps=6)
    done = main(headed)
    start = load_file(first.export_path)
    trained = load_file(headed.export_path)
    for name, tensor in start.items():
        assert torch.equal(trained[name], tensor), name  # frozen: the fp16 export round-trips exactly
    assert float(trained["dc_head.weight"].abs().max()) > 0
    assert json.loads(headed.export_path.with_suffix(".json").read_text())["train_only"] == "dc_head"
    assert {id(p) for group in done.optimizer.param_groups for p in group["params"]} == \
        {id(done.net.dc_head.weight), id(done.net.dc_head.bias)}
    with pytest.raises(ValueError, match="names no parameter"):
        Trainer(tiny_settings(corpus, tmp_path / "c", train_only="dc_head"))


def test_fit_dc_head_solves_the_channel_mean_part_of_the_loss(corpus, tmp_path):
    """jobs.fit_dc_head: least squares on ε's channel means (the only part of the loss the head can change) gives a
    head that predicts them on fresh noise far better than none, and leaves every trunk weight as it was."""
    from jobs.fit_dc_head import fit_dc_head

    first = tiny_settings(corpus, tmp_path / "a")
    main(first)
    headed = tiny_settings(corpus, tmp_path / "b", init_weights=first.export_path, dc_head=True)
    record = fit_dc_head(headed, samples=1024, batch=128)
    assert record["samples"] == 1024
    start, fitted = load_file(first.export_path), load_file(headed.export_path)
    for name, tensor in start.items():
        assert torch.equal(fitted[name], tensor), name
    meta = json.loads(headed.export_path.with_suffix(".json").read_text())
    assert meta["train_only"] == "dc_head" and meta["dc_head_fit"]["samples"] == 1024

    plain, net = create_model(**first.hparams), create_model(**headed.hparams)
    plain.load_state_dict({k: v.float() for k, v in start.items()})
    net.load_state_dict({k: v.float() for k, v in fitted.items()})
    x0 = CropSampler(list_images(corpus), CropSettings(window=16), seed=7).sample(64)
    g = torch.Generator().manual_seed(7)
    t, eps = torch.randint(500, 1000, (64,), generator=g), torch.randn(x0.shape, generator=g)
    alpha_bar = Trainer(first).alphas_cumprod[t].view(-1, 1, 1, 1)
    x_t = alpha_bar.sqrt() * x0 + (1 - alpha_bar).sqrt() * eps
    with torch.no_grad():
        errors = [float((m(x_t, t) - eps).mean(dim=(2, 3)).pow(2).mean()) for m in (plain, net)]
    assert errors[1] < 0.5 * errors[0], errors  # near t = T the channel means of x_t are ε's: the head must see it
    with pytest.raises(ValueError, match="already holds a checkpoint"):
        fit_dc_head(headed, samples=64)


def test_a_fine_tune_carries_the_inits_task_recommendations_and_colour_companion(corpus, tmp_path):
    """The bundled config recommends per task (``sampling.tasks``) and names its colour companion; an export of a
    run started from it keeps both (they were hand-merged before), also after a resume from the checkpoint."""
    first = tiny_settings(corpus, tmp_path / "a")
    main(first)
    meta_path = first.export_path.with_suffix(".json")
    meta = json.loads(meta_path.read_text())
    assert "colour" not in meta and "tasks" not in meta["sampling"]  # a random init carries nothing
    tasks = {"sr_avgpool": {"samples": 4, "steps": 5, "start_t": 100}}
    meta["sampling"]["tasks"], meta["colour"] = tasks, {"prior": "ddnm-colour-32"}
    meta_path.write_text(json.dumps(meta))
    tuned = tiny_settings(corpus, tmp_path / "b", init_weights=first.export_path, steps=4)
    main(tuned)
    main(dataclasses.replace(tuned, steps=5))  # resumes from its checkpoint
    out = json.loads(tuned.export_path.with_suffix(".json").read_text())
    assert out["trained_steps"] == 5 and out["sampling"]["tasks"] == tasks and out["colour"] == {"prior": "ddnm-colour-32"}
    assert out["sampling"]["steps"] == tuned.sampling_steps

