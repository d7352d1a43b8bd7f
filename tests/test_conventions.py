"""The two sampler conventions (docs/conventions.md), from first principles: the authors' code's grid, step and
time-travel under "reference", and DDNM+ keeping y at every η under "paper"."""

from __future__ import annotations

import pytest
import torch

import ddnm
from ddnm.models.testing import GaussianPosteriorModel
from ddnm.operators import make
from ddnm.operators.base import LinearOperator
from ddnm.samplers import sample_ddnm
from ddnm.settings import SamplerSettings
from ddnm.timesteps import reference_grid

SHAPE = (3, 16, 16)


class Recorder(torch.nn.Module):
    """Wraps a model and keeps every (t, x_t, ε, x0) it is asked for."""

    def __init__(self, model):
        super().__init__()
        self.model, self.calls = model, []
        self.alpha_bar_host, self.info = model.alpha_bar_host, model.info

    @property
    def num_timesteps(self):
        return self.model.num_timesteps

    def forward(self, x_t, t):
        eps, x0 = self.model(x_t, t)
        self.calls.append((int(t[0]), x_t.clone(), eps.clone(), x0.clone()))
        return eps, x0


class Draws:
    """A noise sampler that keeps what it handed out, in order."""

    def __init__(self, seed):
        self.gen, self.given = torch.Generator().manual_seed(seed), []

    def __call__(self, like):
        z = torch.randn(like.shape, generator=self.gen, dtype=like.dtype)
        self.given.append(z)
        return z


def test_reference_grid_is_i_times_t_over_steps():
    assert reference_grid(1000, 50) == list(range(0, 1000, 20))  # 0 … 980, never 999
    assert reference_grid(1000, 30)[-1] == 29 * 33
    assert reference_grid(10, 20) == list(range(10))


def test_reference_settings_validate():
    assert SamplerSettings(convention="reference").clips_x0 is False
    assert SamplerSettings().clips_x0 is True and SamplerSettings(clip_x0=False).clips_x0 is False
    with pytest.raises(ValueError, match="convention"):
        SamplerSettings(convention="authors")
    with pytest.raises(ValueError, match="guidance 'ddnm'"):
        SamplerSettings(convention="reference", guidance="dps")
    with pytest.raises(ValueError, match="warm start"):
        SamplerSettings(convention="reference", start_t=500)


@pytest.mark.parametrize("eta", [0.0, 0.85])
def test_reference_step_coefficients(eta):
    """x_{t-1} = sqrt(ᾱ′)·x̂0 + sqrt(1 − ᾱ′)·(η·z + sqrt(1 − η²)·ε_θ), with the network's raw ε and no clamp."""
    op = make("sr_avgpool", SHAPE, scale=2)
    y = op.A(torch.rand(2, *SHAPE, generator=torch.Generator().manual_seed(0)) * 2 - 1)
    model, draws, seen = Recorder(GaussianPosteriorModel(std=3.0)), Draws(1), []
    settings = SamplerSettings(steps=5, eta=eta, convention="reference")
    sample_ddnm(model, op, y, settings, noise_sampler=draws, callback=seen.append)
    assert [c[0] for c in model.calls] == [800, 600, 400, 200, 0]
    assert seen[0]["x0"].abs().max() > 1  # not clamped
    for k, step in enumerate(seen[:-1]):
        t, x_t, eps, x0 = model.calls[k]
        assert torch.equal(x_t, draws.given[0] if k == 0 else seen[k - 1]["x_t"])
        a = model.alpha_bar_host[step["t_next"]]
        x0_hat = x0 - op.A_pinv(op.A(x0) - y)
        expected = a**0.5 * x0_hat + (1 - a) ** 0.5 * (eta * draws.given[k + 1] + (1 - eta**2) ** 0.5 * eps)
        assert torch.allclose(step["x_t"], expected, atol=1e-5)


@pytest.mark.parametrize("convention", ["reference", "paper"])
def test_time_travel_source(convention):
    """reference: the jump re-noises the last uncorrected x0|t to the higher level, x = sqrt(ᾱ)·x0|t + sqrt(1−ᾱ)·z;
    paper: it forward-noises x_t, x = sqrt(ᾱ_up/ᾱ_t)·x_t + sqrt(1 − ᾱ_up/ᾱ_t)·z."""
    op = make("colorize", SHAPE)
    y = op.A(torch.rand(1, *SHAPE, generator=torch.Generator().manual_seed(2)) * 2 - 1)
    model, draws, seen = Recorder(GaussianPosteriorModel(std=0.5)), Draws(3), []
    settings = SamplerSettings(steps=6, travel_length=2, travel_repeat=2, convention=convention)
    sample_ddnm(model, op, y, settings, noise_sampler=draws, callback=seen.append)
    ts = [c[0] for c in model.calls]
    k = next(i for i in range(1, len(ts)) if ts[i] > ts[i - 1])  # the first call after a jump up by 2 grid steps
    t_low, t_up = ts[k - 1], ts[k]
    abar = model.alpha_bar_host
    z = draws.given[k + 1:k + 3]  # x_T, one per step so far (k of them), then the two jump draws
    if convention == "reference":
        expected = abar[t_up] ** 0.5 * model.calls[k - 1][3] + (1 - abar[t_up]) ** 0.5 * z[1]
    else:
        t_mid = ts[k - 1]  # the jump climbs one grid step at a time: t_low → t_mid → t_up
        x = seen[k - 1]["x_t"]
        for lo, hi, zi in ((seen[k - 1]["t_next"], t_mid, z[0]), (t_mid, t_up, z[1])):
            x = (abar[hi] / abar[lo]) ** 0.5 * x + (1 - abar[hi] / abar[lo]) ** 0.5 * zi
        expected = x
    assert t_up > t_low
    assert torch.allclose(model.calls[k][1], expected, atol=1e-5)


def test_reference_keeps_marginal_variance():
    """With an oracle drawing x0 ~ p(x0 | x_t), the raw ε_θ it implies is N(0, I) and independent of x0, so
    the authors' step keeps Var(x_t) = ᾱ·std² + 1 − ᾱ at every η."""
    std = 0.4
    gen = torch.Generator().manual_seed(1)
    model = GaussianPosteriorModel(std=std, sample=True, generator=gen)
    nothing_known = make("inpaint", SHAPE, mask=torch.zeros(1, *SHAPE[1:]))
    y = torch.zeros(256, *SHAPE)
    for eta in (0.0, 0.85):
        seen = []
        sample_ddnm(model, nothing_known, y, SamplerSettings(steps=10, eta=eta, convention="reference"),
                    generator=gen, callback=lambda s: seen.append((s["t_next"], s["x_t"].var().item())))
        for t_next, var in seen[:-1]:
            a = float(model.alphas_cumprod[t_next])
            assert abs(var / (a * std**2 + 1 - a) - 1) < 0.03, (eta, t_next, var)


@pytest.mark.parametrize("eta", [0.0, 0.5, 1.0])
def test_ddnm_plus_keeps_y_at_every_eta(eta):
    """DDNM+ under "paper": the result agrees with noisy y to the noise level at every η (the correction once
    vanished at η = 0, where σ_t(η) = 0 was its noise budget), and Var(x_t) stays on the schedule."""
    std, sigma_y, n = 0.5, 0.1, 64
    gen = torch.Generator().manual_seed(4)
    op = make("sr_avgpool", SHAPE, scale=2)
    x = torch.randn(n, *SHAPE, generator=gen) * std
    y = op.A(x) + sigma_y * torch.randn(n, *op.y_shape(), generator=gen)
    model = GaussianPosteriorModel(std=std, sample=True, generator=gen)
    seen = []
    settings = SamplerSettings(steps=20, eta=eta, sigma_y=sigma_y, clip_x0=False)
    x_hat = sample_ddnm(model, op, y, settings, generator=gen,
                        callback=lambda s: seen.append((s["t_next"], s["x_t"].var().item())))
    rms = (op.A(x_hat) - y).pow(2).mean().sqrt().item()
    prior_only = (op.A(torch.randn(n, *SHAPE, generator=gen) * std) - y).pow(2).mean().sqrt().item()
    assert rms < 1.1 * sigma_y < prior_only / 2, (rms, prior_only)  # was 3.7 σ_y at η = 0, 1.25 σ_y at 0.5
    for t_next, var in seen[:-1]:
        a = float(model.alphas_cumprod[t_next])
        assert abs(var / (a * std**2 + 1 - a) - 1) < 0.05, (t_next, var)


def test_reference_ddnm_plus_corrects_only_where_y_is():
    """Their DDNM+ (λ per singular value): pixels an inpainting mask hides keep the model's x0|t untouched, the
    seen ones move towards y (λ = 1 while the noise fits, here at the first step)."""
    mask = torch.ones(1, 16, 16)
    mask[:, 4:10, 3:9] = 0
    op = make("inpaint", SHAPE, mask=mask)
    y = op.A(torch.rand(1, *SHAPE, generator=torch.Generator().manual_seed(6)) * 2 - 1)
    seen = []
    sample_ddnm(GaussianPosteriorModel(std=0.5), op, y, SamplerSettings(steps=4, sigma_y=0.05, convention="reference"),
                generator=torch.Generator().manual_seed(0), callback=seen.append)
    first = seen[0]
    hidden = mask.expand(SHAPE) == 0
    assert torch.equal(first["x0_hat"][:, hidden], first["x0"][:, hidden])
    assert torch.allclose(op.A(first["x0_hat"]), y, atol=1e-6)


def test_restore_takes_the_convention():
    op = make("sr_avgpool", SHAPE, scale=2)
    y = op.A(torch.rand(1, *SHAPE, generator=torch.Generator().manual_seed(5)) * 2 - 1)
    model = GaussianPosteriorModel(std=0.5)
    ref, res = ddnm.restore(y, op, model, steps=6, eta=0.85, convention="reference", seed=[1])
    paper, _ = ddnm.restore(y, op, model, steps=6, eta=0.85, seed=[1])
    assert res.item() < 1e-4 and not torch.allclose(ref, paper)


class WithoutSVD(LinearOperator):
    """An operator seen only through A and A⁺ (as a user's own operator is), to reach DDNM+'s scalar path."""

    def __init__(self, inner):
        super().__init__(inner.x_shape)
        self.inner = inner

    def y_shape(self):
        return self.inner.y_shape()

    def A(self, x):  # noqa: N802
        return self.inner.A(x)

    def A_pinv(self, y):  # noqa: N802
        return self.inner.A_pinv(y)


@pytest.mark.parametrize("convention,eta", [("paper", 0.5), ("paper", 0.0), ("reference", 0.5)])
def test_ddnm_plus_without_svd_matches_the_spectral_path_where_all_singular_values_are_one(convention, eta):
    """Denoising has every s_i = 1, so the scalar λ (operators without an SVD) must give the spectral answer."""
    op = make("denoise", SHAPE)
    y = torch.rand(2, *SHAPE, generator=torch.Generator().manual_seed(7)) * 2 - 1
    settings = SamplerSettings(steps=6, eta=eta, sigma_y=0.1, convention=convention)
    runs = [sample_ddnm(GaussianPosteriorModel(std=0.5), o, y, settings, generator=torch.Generator().manual_seed(8))
            for o in (op, WithoutSVD(op))]
    assert torch.allclose(runs[0], runs[1], atol=1e-5)
