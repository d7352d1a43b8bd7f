"""Posterior mean of K DDNM samples (ddnm/posterior.py): consistency, spread only in the null space, K = 1 is DDNM.

With a Gaussian prior x0 ~ N(0, s² I) and inpainting, the missing pixels are independent of the known ones, so
their posterior is the prior itself: the K samples' per-pixel spread must be ≈ s there and 0 on the known pixels,
and their mean must approach the posterior mean 0 like s / sqrt(K).
"""

from __future__ import annotations

import pytest
import torch

import ddnm
from ddnm.models.testing import GaussianPosteriorModel
from ddnm.operators import make
from ddnm.posterior import posterior_mean, sample_seed, uncertainty
from ddnm.ddim import generators_for
from ddnm.samplers import sample_ddnm
from ddnm.settings import SamplerSettings

SHAPE = (3, 16, 16)
PRIOR_STD = 0.3  # small enough that clipping x0 to [-1, 1] never matters


def half_known() -> torch.Tensor:
    mask = torch.zeros(1, 16, 16)
    mask[:, :, :8] = 1
    return mask


def test_one_sample_is_plain_ddnm_bit_for_bit():
    op = make("sr_avgpool", SHAPE, scale=2)
    y = op.A(torch.rand(2, *SHAPE) * 2 - 1)
    model = GaussianPosteriorModel(std=PRIOR_STD)
    x, _ = ddnm.restore(y, op, model, steps=6, seed=[3, 4])
    direct = sample_ddnm(model, op, y, SamplerSettings(steps=6), generator=generators_for([3, 4], y.device))
    assert torch.equal(x, direct)
    assert torch.equal(ddnm.restore(y, op, model, steps=6, seed=[3, 4], samples=1)[0], x)


def test_sample_seeds_are_distinct_and_stable():
    seeds = [sample_seed(7, k) for k in range(50)]
    assert seeds[0] == 7 and len(set(seeds)) == 50 and all(0 <= s < 2**63 for s in seeds)
    assert seeds == [sample_seed(7, k) for k in range(50)]


def test_spread_lives_in_the_null_space_and_the_mean_stays_consistent():
    op = make("inpaint", SHAPE, mask=half_known())
    truth = torch.rand(2, *SHAPE) * 2 - 1
    y = op.A(truth)
    # Posterior draws of x0 keep every marginal exact at any step count (the sampler tests check it);
    # the posterior-mean oracle with 20 steps would under-spread the samples.
    model = GaussianPosteriorModel(std=PRIOR_STD, sample=True, generator=torch.Generator().manual_seed(0))
    settings = SamplerSettings(steps=20, eta=1.0)

    def run(seeds):
        return sample_ddnm(model, op, y, settings, generator=generators_for(seeds, y.device))

    samples = 16
    mean, std = posterior_mean(run, [0, 1], samples)
    known, hole = half_known().bool().expand(2, *SHAPE), ~half_known().bool().expand(2, *SHAPE)
    assert std[known].abs().max() < 1e-5  # the range space is A⁺y in every sample
    assert abs(float(std[hole].mean()) - PRIOR_STD) < 0.1 * PRIOR_STD
    # The mean of K draws of N(0, s²) is N(0, s²/K): its RMS in the holes is s/sqrt(K), a single draw's is s.
    single = run([0, 1])
    rms_mean, rms_single = mean[hole].pow(2).mean().sqrt(), single[hole].pow(2).mean().sqrt()
    assert rms_mean < 0.5 * rms_single and abs(float(rms_mean) - PRIOR_STD / samples**0.5) < 0.05
    assert float(ddnm.metrics.consistency(op, mean, y).max()) < 1e-5
    score = uncertainty(std)
    assert score.shape == (2,) and torch.allclose(score, std.flatten(1).mean(1) / 2)


def test_restore_samples_matches_the_average_of_its_seeds():
    op = make("colorize", SHAPE)
    y = op.A(torch.rand(1, *SHAPE) * 2 - 1)
    model = GaussianPosteriorModel(std=PRIOR_STD)
    mean, residual = ddnm.restore(y, op, model, steps=5, seed=[11], samples=3)
    by_hand = torch.stack([ddnm.restore(y, op, model, steps=5, seed=[sample_seed(11, k)])[0] for k in range(3)])
    torch.testing.assert_close(mean, by_hand.double().mean(0).float(), rtol=0, atol=1e-6)
    assert float(residual[0]) < 1e-5


def test_zero_samples_is_refused():
    with pytest.raises(ValueError, match="samples must be >= 1"):
        posterior_mean(lambda seeds: torch.zeros(1), [0], 0)
