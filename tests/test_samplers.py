"""DDNM / DDNM+ sampler: schedules, the DDIM posterior, consistency, determinism."""

from __future__ import annotations

import pytest
import torch

import ddnm
from ddnm.models.testing import GaussianPosteriorModel, ZeroEpsModel
from ddnm.operators import make
from ddnm.samplers import ddim_coefficients, ddnm_plus_lambda_gamma, sample_ddnm
from ddnm.settings import SamplerSettings
from ddnm.timesteps import time_travel_pairs, time_travel_path, timestep_grid

SHAPE = (3, 16, 16)


def test_timestep_grid_ends_and_size():
    grid = timestep_grid(1000, 100)
    assert grid[0] == 0 and grid[-1] == 999 and len(grid) == 100
    assert grid == sorted(set(grid))
    assert timestep_grid(1000, 10, start_t=300)[-1] == 300
    with pytest.raises(ValueError, match="outside"):
        timestep_grid(1000, 10, start_t=1000)


def test_time_travel_path_revisits_each_segment():
    plain = time_travel_path(6)
    assert plain == [5, 4, 3, 2, 1, 0, -1]
    path = time_travel_path(10, travel_length=2, travel_repeat=3)
    assert path[0] == 9 and path[-1] == -1
    downs = sum(1 for a, b in zip(path, path[1:]) if b < a)
    ups = sum(1 for a, b in zip(path, path[1:]) if b > a)
    jump_points = len(range(0, 10 - 2, 2))
    assert ups == jump_points * 2 * 2  # (r - 1) jumps of L steps each, per jump point
    assert downs == 10 + ups
    assert all(abs(b - a) == 1 for a, b in zip(path, path[1:]))


def test_ddnm_plus_keeps_total_noise_on_schedule():
    s = torch.tensor([1e-3, 0.05, 0.3, 1.0, 0.0])
    sigma_t, a_t, sigma_y = 0.2, 0.7, 0.1
    lam, gamma = ddnm_plus_lambda_gamma(s, sigma_t, a_t, sigma_y)
    y_noise = torch.where(s > 0, a_t * lam * sigma_y / s.clamp_min(1e-12), torch.zeros_like(s))
    assert torch.allclose(y_noise**2 + gamma**2, torch.full_like(s, sigma_t**2), atol=1e-7)
    assert lam[3] == 1 and lam[4] == 0 and 0 < lam[0] < 1


@pytest.mark.parametrize("eta", [0.0, 0.5, 1.0])
def test_posterior_step_keeps_marginal_variance(eta):
    """With an oracle that draws x0 ~ p(x0 | x_t), the DDIM posterior keeps Var(x_t) on the schedule."""
    std = 0.4
    gen = torch.Generator().manual_seed(1)
    model = GaussianPosteriorModel(std=std, sample=True, generator=gen)
    nothing_known = make("inpaint", SHAPE, mask=torch.zeros(1, *SHAPE[1:]))
    y = torch.zeros(256, *SHAPE)
    seen: list[tuple[int, float]] = []
    settings = SamplerSettings(steps=12, eta=eta, clip_x0=False)
    sample_ddnm(model, nothing_known, y, settings, generator=gen,
                callback=lambda s: seen.append((s["t_next"], s["x_t"].var().item())))
    for t_next, var in seen[:-1]:
        a = float(model.alphas_cumprod[t_next])
        expected = a * std**2 + 1 - a
        assert abs(var / expected - 1) < 0.03, (t_next, var, expected)


def test_ddim_coefficients_end_on_x0_hat():
    sigma_t, a_t, c_t = ddim_coefficients(0.9, 1.0, eta=0.85)
    assert sigma_t == 0 and a_t == pytest.approx(1.0) and c_t == 0


@pytest.mark.parametrize("name,params", [
    ("colorize", {}),
    ("sr_avgpool", {"scale": 4}),
    ("sr_bicubic", {"scale": 2}),
    ("inpaint", {"mask": (torch.rand(1, 16, 16, generator=torch.Generator().manual_seed(0)) > 0.3).float()}),
    ("deblur_gaussian", {"sigma": 1.5}),
    ("denoise", {}),
    ("old_photo", {"mask": (torch.rand(1, 16, 16, generator=torch.Generator().manual_seed(0)) > 0.2).float()}),
])
def test_noiseless_result_is_consistent(name, params):
    op = make(name, SHAPE, **params)
    x = torch.rand(2, *SHAPE, generator=torch.Generator().manual_seed(3)) * 2 - 1
    y = op.A(x)
    x_hat, residual = ddnm.restore(y, op, GaussianPosteriorModel(std=0.5), steps=8)
    assert x_hat.shape == x.shape
    assert (residual <= 1e-4).all(), residual


def test_restore_is_deterministic_per_image_seed():
    op = make("sr_avgpool", SHAPE, scale=2)
    x = torch.rand(3, *SHAPE, generator=torch.Generator().manual_seed(0)) * 2 - 1
    y = op.A(x)
    model = ZeroEpsModel()
    a, _ = ddnm.restore(y, op, model, steps=6, seed=[10, 11, 12])
    b, _ = ddnm.restore(y, op, model, steps=6, seed=[10, 11, 12])
    alone, _ = ddnm.restore(y[1:2], op, model, steps=6, seed=[11])
    assert torch.equal(a, b)
    assert torch.allclose(a[1:2], alone, atol=1e-6)
    c, _ = ddnm.restore(y, op, model, steps=6, seed=[99, 11, 12])
    assert not torch.allclose(a[0], c[0])


def test_ddnm_plus_beats_hard_projection_on_noisy_y():
    """With noisy y a hard projection copies the noise; DDNM+ (Eq. 17, 19) trades it against the prior."""
    gen = torch.Generator().manual_seed(5)
    std = 0.3
    op = make("sr_avgpool", SHAPE, scale=2)
    x = torch.randn(16, *SHAPE, generator=gen) * std
    sigma_y = 0.2
    y = op.A(x) + sigma_y * torch.randn(16, *op.y_shape(), generator=gen)
    model = GaussianPosteriorModel(std=std)
    plain, _ = ddnm.restore(y, op, model, steps=20, eta=0.85, sigma_y=0.0, clip_x0=False)
    plus, _ = ddnm.restore(y, op, model, steps=20, eta=0.85, sigma_y=sigma_y, clip_x0=False)
    mse = lambda a: (a - x).pow(2).mean().item()  # noqa: E731
    assert mse(plus) < 0.9 * mse(plain)


def test_time_travel_and_warm_start_stay_consistent():
    op = make("colorize", SHAPE)
    x = torch.rand(1, *SHAPE, generator=torch.Generator().manual_seed(2)) * 2 - 1
    y = op.A(x)
    model = GaussianPosteriorModel(std=0.5)
    calls = []
    _, residual = ddnm.restore(y, op, model, steps=10, travel_length=3, travel_repeat=2,
                               callback=lambda s: calls.append(s["t"]))
    downs = [t for t, t_next in time_travel_pairs(timestep_grid(1000, 10), 3, 2) if t_next < t]
    assert residual.item() <= 1e-4 and calls == downs and len(downs) > 10
    _, residual = ddnm.restore(y, op, model, steps=5, start_t=400)
    assert residual.item() <= 1e-4


def test_bad_settings_fail_before_sampling():
    with pytest.raises(ValueError, match="eta"):
        SamplerSettings(eta=1.5)
    with pytest.raises(ValueError, match="travel_length"):
        SamplerSettings(steps=5, travel_length=5)
    op = make("colorize", SHAPE)
    with pytest.raises(ValueError, match="shape"):
        ddnm.restore(torch.zeros(1, 3, 16, 16), op, ZeroEpsModel(), steps=2)
    with pytest.raises(TypeError, match="unknown sampler settings"):
        ddnm.restore(torch.zeros(1, 1, 16, 16), op, ZeroEpsModel(), steps=2, stpes=3)
