"""Guidance rules (DDNM, DDPG, IDPG, MCG, DPS) in the one sampling loop: operator support, the DDPG ↔ DDNM
limit, determinism, gradients through a real network, consistency, and noise robustness."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import ddnm
from ddnm.guidance import GUIDANCE
from ddnm.guidance.ddnm import range_space_correction
from ddnm.guidance.ddpg import ddpg_filter, preconditioned_correction
from ddnm.models.testing import GaussianPosteriorModel
from ddnm.models.wrapper import ModelInfo, NetworkEpsModel
from ddnm.operators import OPERATORS, make
from ddnm.operators.base import LinearOperator, SVDOperator
from ddnm.ddim import generators_for
from ddnm.samplers import sample_ddnm
from ddnm.schedules import alphas_cumprod_from_betas, linear_betas
from ddnm.settings import DDPGParams, GradientParams, SamplerSettings

SHAPE = (3, 16, 16)
RULES = sorted(GUIDANCE)


def _mask(seed: int, keep: float) -> torch.Tensor:
    return (torch.rand(1, *SHAPE[1:], generator=torch.Generator().manual_seed(seed)) < keep).float()


OPERATOR_PARAMS = {
    "colorize": {},
    "sr_avgpool": {"scale": 4},
    "sr_bicubic": {"scale": 2},
    "inpaint": {"mask": _mask(0, 0.7)},
    "deblur_gaussian": {"sigma": 1.5},
    "deblur_kernel": {"kernel": torch.tensor([[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]]) / 16},
    "deblur_motion": {"length": 5, "angle": 30.0},
    "denoise": {},
    "cs": {"ratio": 0.25, "block": 8, "seed": 0},
    "old_photo": {"mask": _mask(1, 0.8)},
}


class DenseOperator(LinearOperator):
    """A dense matrix with only A: what an operator without SVD or pseudo-inverse looks like."""

    def __init__(self, x_shape, seed: int = 0, rows: int = 200):
        super().__init__(x_shape)
        m = torch.randn(rows, self.n, generator=torch.Generator().manual_seed(seed))
        self.register_buffer("M", m / m.norm())  # Frobenius ≥ spectral norm, so every singular value ≤ 1

    def A(self, x):  # noqa: N802
        return x.flatten(1) @ self.M.T


class DensePinvOperator(DenseOperator):
    """The same matrix with A⁺ (no factored SVD)."""

    def __init__(self, x_shape, seed: int = 0, rows: int = 200):
        super().__init__(x_shape, seed, rows)
        # Full row rank: A⁺ = Mᵀ(MMᵀ)⁻¹
        self.register_buffer("M_pinv", torch.linalg.solve(self.M @ self.M.T, self.M).T)

    def A_pinv(self, y):  # noqa: N802
        return (y @ self.M_pinv.T).view(y.shape[0], *self.x_shape)


class TinyEpsNet(nn.Module):
    """Two conv layers, randomly initialised: a real network to differentiate through (t is ignored)."""

    def __init__(self, channels: int = 3, hidden: int = 8):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, hidden, 3, padding=1)
        self.conv2 = nn.Conv2d(hidden, channels, 3, padding=1)

    def forward(self, x, t):
        return self.conv2(torch.nn.functional.silu(self.conv1(x)))


def tiny_network_model() -> NetworkEpsModel:
    torch.manual_seed(0)
    model = NetworkEpsModel(TinyEpsNet(), alphas_cumprod_from_betas(linear_betas(1000)),
                            ModelInfo("tiny-conv", "conv", None)).eval()
    return model.requires_grad_(False)


def truth(batch: int = 2, seed: int = 3) -> torch.Tensor:
    return torch.rand(batch, *SHAPE, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_every_registered_operator_has_a_case():
    assert set(OPERATORS) <= set(OPERATOR_PARAMS), set(OPERATORS) - set(OPERATOR_PARAMS)


def test_unknown_guidance_and_wrong_params_fail_at_construction():
    with pytest.raises(ValueError, match="unknown guidance 'ddrm'.*'ddpg'"):
        SamplerSettings(guidance="ddrm")
    with pytest.raises(ValueError, match="takes no parameters"):
        SamplerSettings(guidance="ddnm", guidance_params=DDPGParams())
    with pytest.raises(ValueError, match="takes GradientParams"):
        SamplerSettings(guidance="dps", guidance_params=DDPGParams())
    with pytest.raises(ValueError, match="zeta"):
        DDPGParams(zeta=1.5)
    with pytest.raises(ValueError, match="step_size_mode"):
        DDPGParams(step_size_mode="cosine")
    with pytest.raises(ValueError, match="grad_step"):
        GradientParams(grad_step=-1)


def test_the_settings_table_of_rule_parameters_is_the_rules_own():
    from ddnm.guidance_params import RULE_PARAMS

    assert RULE_PARAMS == {name: rule.params_type for name, rule in GUIDANCE.items()}


def test_restore_routes_rule_parameters():
    op = make("sr_avgpool", SHAPE, scale=2)
    y = op.A(truth())
    model = GaussianPosteriorModel(std=0.5)
    by_kwargs, _ = ddnm.restore(y, op, model, steps=5, sigma_y=0.1, guidance="ddpg", gamma=3.0, zeta=0.2, seed=7)
    settings = SamplerSettings(steps=5, sigma_y=0.1, guidance="ddpg", guidance_params=DDPGParams(gamma=3.0, zeta=0.2))
    direct = sample_ddnm(model, op, y, settings, generator=generators_for([7, 8], y.device))
    default, _ = ddnm.restore(y, op, model, steps=5, sigma_y=0.1, guidance="ddpg", seed=7)
    assert torch.equal(by_kwargs, direct) and not torch.allclose(by_kwargs, default)
    with pytest.raises(TypeError, match="gamma"):
        ddnm.restore(y, op, model, steps=2, guidance="ddnm", gamma=3.0)
    with pytest.raises(TypeError, match="grad_step"):
        ddnm.restore(y, op, model, steps=2, guidance="ddpg", grad_step=1.0)


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("name", sorted(OPERATOR_PARAMS))
def test_every_rule_runs_on_every_operator(rule, name):
    """Noiseless y: every rule gives finite images; the projecting rules give consistent ones (MCG included)."""
    op = make(name, SHAPE, **OPERATOR_PARAMS[name])
    y = op.A(truth())
    extra = {"eta_min": 0.0} if rule in ("ddpg", "idpg") else {}
    x_hat, residual = ddnm.restore(y, op, GaussianPosteriorModel(std=0.5), steps=6, guidance=rule, **extra)
    assert x_hat.shape == (2, *SHAPE) and torch.isfinite(x_hat).all()
    if rule != "dps":
        assert (residual <= 1e-4).all(), residual


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("op_type", [DenseOperator, DensePinvOperator])
def test_rules_refuse_operators_they_cannot_handle(rule, op_type):
    op = op_type(SHAPE)
    y = op.A(truth())
    supported = {DenseOperator: {"dps"}, DensePinvOperator: {"dps", "mcg", "ddnm"}}[op_type]
    if rule in supported:
        x_hat, _ = ddnm.restore(y, op, GaussianPosteriorModel(std=0.5), steps=4, guidance=rule)
        assert torch.isfinite(x_hat).all()
        return
    with pytest.raises(ValueError, match=f"guidance '{rule}' needs .*got {op_type.__name__}.*Use guidance"):
        ddnm.restore(y, op, GaussianPosteriorModel(std=0.5), steps=4, guidance=rule)


@pytest.mark.parametrize("name", sorted(OPERATOR_PARAMS))
def test_ddpg_filter_at_eta_zero_is_the_pseudo_inverse(name):
    """With η → 0 and δ_t = 0, Aᵀ W_t = A⁺: per singular value s/(s² + 0) = 1/s, and 0 where s = 0."""
    op = make(name, SHAPE, **OPERATOR_PARAMS[name])
    assert isinstance(op, SVDOperator)
    like = torch.zeros(1, op.n)
    s = op.singulars_batch(1, like)
    assert torch.allclose(ddpg_filter(s, 0.0, 1.0, 0.0), op.inv_singulars(1, like), rtol=1e-6, atol=0)
    # float64: A⁺ divides by singular values down to SINGULAR_EPS, which would amplify float32 rounding.
    x0, y = truth(seed=4).double(), op.A(truth(seed=5).double())
    ddpg = preconditioned_correction(op, x0, y, eta=0.0, w_bp=1.0, w_ls=0.0)
    assert torch.allclose(ddpg, range_space_correction(op, x0, y), atol=1e-8)


def test_ddpg_without_injected_noise_or_regulariser_is_ddim_ddnm():
    """ζ = 0, η = 0, μ = 1 and σ_y = 0: DDPG's step is DDNM's on deterministic DDIM (η_DDIM = 0), step for step."""
    op = make("sr_avgpool", SHAPE, scale=2)
    y = op.A(truth())
    model = GaussianPosteriorModel(std=0.5)
    gen = lambda: torch.Generator().manual_seed(11)  # noqa: E731
    ddnm_x = sample_ddnm(model, op, y, SamplerSettings(steps=10, eta=0.0), generator=gen())
    params = DDPGParams(zeta=0.0, eta_min=0.0, step_size_mode="fixed")
    ddpg_x = sample_ddnm(model, op, y, SamplerSettings(steps=10, guidance="ddpg", guidance_params=params),
                         generator=gen())
    assert torch.allclose(ddpg_x, ddnm_x, atol=1e-5)


def test_idpg_is_deterministic_and_draws_only_the_start():
    op = make("deblur_gaussian", SHAPE, sigma=1.5)
    y = op.A(truth())
    model = GaussianPosteriorModel(std=0.5)
    runs = []
    for eta in (0.0, 0.85):
        gen = torch.Generator().manual_seed(5)
        runs.append(sample_ddnm(model, op, y, SamplerSettings(steps=8, eta=eta, guidance="idpg"), generator=gen))
        after = torch.randn(4, generator=gen)
        reference = torch.Generator().manual_seed(5)
        torch.randn((2, *SHAPE), generator=reference)  # the initial x_T and nothing else
        assert torch.equal(after, torch.randn(4, generator=reference))
    assert torch.equal(runs[0], runs[1])


@pytest.mark.parametrize("rule", ["dps", "mcg"])
def test_gradient_rules_differentiate_through_the_network(rule):
    """The measurement gradient flows through a real conv net: it changes x̂ and lowers ‖A x̂ − y‖."""
    op = make("sr_avgpool", SHAPE, scale=2)
    y = op.A(truth())
    model = tiny_network_model()
    off, res_off = ddnm.restore(y, op, model, steps=10, guidance=rule, grad_step=0.0, seed=1)
    # Larger than the default ζ' = 0.5: 10 steps instead of DPS's 1000 leave little room to walk towards y.
    on, res_on = ddnm.restore(y, op, model, steps=10, guidance=rule, grad_step=2.0, seed=1)
    assert not torch.allclose(on, off, atol=1e-3)
    if rule == "dps":
        assert (res_on < 0.8 * res_off).all(), (res_on, res_off)  # ≈ 0.65 here
    else:  # MCG's projection already makes both consistent
        assert (res_on <= 1e-4).all() and (res_off <= 1e-4).all()


def test_gradient_rules_work_inside_a_callers_inference_mode():
    """Ray stages run under inference_mode; DPS must still get its gradient (operator built there too)."""
    model = tiny_network_model()
    with torch.inference_mode():
        op = make("sr_avgpool", SHAPE, scale=2)
        y = op.A(truth())
        inside, _ = ddnm.restore(y, op, model, steps=4, guidance="dps", seed=2)
    outside, _ = ddnm.restore(y.clone(), make("sr_avgpool", SHAPE, scale=2), model, steps=4, guidance="dps", seed=2)
    assert torch.allclose(inside, outside, atol=1e-6)


def test_ddpg_beats_hard_projection_on_noisy_y():
    """σ_y = 0.1: hard projection (DDNM with σ_y = 0) copies y's noise; DDPG's BP → LS guidance does not."""
    gen = torch.Generator().manual_seed(5)
    std = 0.3
    op = make("sr_avgpool", SHAPE, scale=2)
    x = torch.randn(16, *SHAPE, generator=gen) * std
    sigma_y = 0.1
    y = op.A(x) + sigma_y * torch.randn(16, *op.y_shape(), generator=gen)
    model = GaussianPosteriorModel(std=std)
    hard, _ = ddnm.restore(y, op, model, steps=20, eta=0.85, sigma_y=0.0, clip_x0=False)
    ddpg, _ = ddnm.restore(y, op, model, steps=20, sigma_y=sigma_y, clip_x0=False, guidance="ddpg")
    mse = lambda a: (a - x).pow(2).mean().item()  # noqa: E731
    assert mse(ddpg) < 0.95 * mse(hard), (mse(ddpg), mse(hard))  # ≈ 0.92 over seeds 0-4
