"""The shipped colour prior (issue 22): it loads, its config says what was measured, and colour uses it by default."""

from __future__ import annotations

import json

import pytest
import torch

import ddnm
from ddnm.colour import chroma, working_size_for
from ddnm.models import COLOUR_PRIOR, DEFAULT_PRIOR, load, load_colour_companion
from ddnm.models.checkpoint import sha256_of
from ddnm.models.registry import WEIGHTS_DIR
from ddnm.operators import make
from ddnm.settings import RestoreSettings, colour_recommendations


@pytest.fixture(scope="module")
def bundled():
    return load()


def _config(name: str) -> dict:
    return json.loads((WEIGHTS_DIR / f"{name}.json").read_text())


def test_the_colour_prior_loads_and_its_config_records_what_made_it():
    config = _config(COLOUR_PRIOR)
    model = load(COLOUR_PRIOR)
    assert model.info.name == COLOUR_PRIOR and model.info.image_size == 32
    assert model.info.weights_sha256 == config["sha256"] == sha256_of(WEIGHTS_DIR / f"{COLOUR_PRIOR}.safetensors")
    assert config["trained_steps"] > 0 and "held out" in config["data"] and "LICENSES.tsv" in config["license"]
    assert (WEIGHTS_DIR / f"{COLOUR_PRIOR}.safetensors").stat().st_size < 8 * 2**20  # fp16 export, a few MB
    assert set(config["sampling"]) >= {"steps", "eta", "samples"}
    working = working_size_for(colour_recommendations(model), config["colour"]["work_size"], 8)
    assert working.size == model.info.image_size  # it colours at its own window


def test_the_bundled_prior_names_its_colour_companion_loaded_once(bundled):
    assert bundled.info.name == DEFAULT_PRIOR and bundled.info.colour["prior"] == COLOUR_PRIOR
    companion = load_colour_companion(bundled)
    assert companion.info.name == COLOUR_PRIOR
    assert load_colour_companion(bundled) is companion  # cached for the process: a batch job loads it once
    assert load_colour_companion(companion) is companion  # the companion colours with itself


def test_colour_defaults_come_from_the_colour_prior_and_work_size_0_keeps_the_main_prior(bundled):
    op = make("colorize", (3, 90, 120))
    colouring = ddnm.restoring_prior(bundled, op, RestoreSettings())
    resolved = RestoreSettings().for_model(colouring, op)
    config = _config(COLOUR_PRIOR)
    assert colouring.info.name == COLOUR_PRIOR
    assert resolved.work_size == config["colour"]["work_size"] and resolved.samples == config["colour"]["samples"]
    assert resolved.sampler.steps == config["sampling"]["steps"] and resolved.sampler.eta == config["sampling"]["eta"]
    assert ddnm.restoring_prior(bundled, op, RestoreSettings(work_size=0)) is bundled
    assert ddnm.restoring_prior(bundled, make("sr_avgpool", (3, 64, 64), scale=2), RestoreSettings()) is bundled


def test_default_colorize_is_coloured_by_the_colour_prior_with_the_scans_gray_levels(bundled):
    g = torch.Generator().manual_seed(0)
    rows, cols = torch.meshgrid(torch.linspace(-1, 1, 45), torch.linspace(-1, 1, 70), indexing="ij")
    gray = (0.5 * torch.sin(3 * rows + 2 * cols) + 0.05 * torch.randn(45, 70, generator=g)).clamp(-1, 1)
    y = (((gray + 1) * 127.5).round() / 127.5 - 1)[None, None]
    op = make("colorize", (3, 45, 70))
    out = ddnm.restore(y, op, bundled, steps=3, samples=2)
    assert out.prior.name == COLOUR_PRIOR and out.work_size == 32 and out.samples == 2
    written = ((out.x.clamp(-1, 1) + 1) * 127.5).round()  # as an 8-bit PNG holds it
    assert (written.mean(dim=1, keepdim=True) - (y + 1) * 127.5).abs().max() <= 1.5
    assert float(out.residual[0]) < 1e-5


@pytest.mark.parametrize("prior, t, least", [(COLOUR_PRIOR, 999, 0.6), (COLOUR_PRIOR, 800, 0.5),
                                             (DEFAULT_PRIOR, 999, 0.6), (DEFAULT_PRIOR, 800, 0.4)])
def test_the_shipped_priors_predict_the_noises_colour_dc(prior, t, least):
    """Issue 22's finding: x0 = (x_t − √(1−ᾱ) ε̂)/√ᾱ turns whatever of ε's per-channel mean ε̂ misses into the
    sample's global colour (the single-hue washes). The Wiener answer near t = T is ε̂_DC ≈ ε_DC (regression 1).
    The colour prior without a DC head scored 0.005 at t = 999, the shipped one ~1.0 (0.89 at t = 800); the 64-px
    prior 0.006 before its head was fitted (jobs/fit_dc_head.py), 0.94 after (0.66 at t = 800; held-out crops), 1.00
    (0.67) after its GPU fine-tune."""
    from tests.example_crops import example_crops

    model = load(prior)
    size = model.info.image_size
    x0 = example_crops(4, size=size).repeat(4, 1, 1, 1)  # 16 photos' worth; the DC of x_t is ε's near t = T
    g = torch.Generator().manual_seed(0)
    eps = torch.randn(x0.shape, generator=g)
    alpha_bar = float(model.alphas_cumprod[t])
    x_t = alpha_bar**0.5 * x0 + (1 - alpha_bar) ** 0.5 * eps  # q(x_t | x_0), DDPM eq. 4
    with torch.no_grad():
        eps_hat = model.get_eps(x_t, torch.full((len(x_t),), t))
    # the colour part of the DC (its gray part only shifts brightness): chroma is linear, so DC of chroma
    true, predicted = chroma(eps).mean(dim=(2, 3)), chroma(eps_hat).mean(dim=(2, 3))
    regression = float((true * predicted).sum() / (true * true).sum())
    assert least <= regression <= 1.5
