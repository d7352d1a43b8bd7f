"""A prior's config recommends sampler settings per task: the "tasks" entries of its sampling block win over the
prior-wide ones for that operator, and anything the user sets wins over both."""

from __future__ import annotations

from dataclasses import replace

import torch

import ddnm
from ddnm.models.testing import GaussianPosteriorModel
from ddnm.operators import make
from ddnm.settings import RestoreSettings, recommendations

SAMPLING = {"steps": 6, "eta": 1.0, "samples": 1, "tasks": {"sr_avgpool": {"samples": 3, "steps": 4}}}


def prior() -> GaussianPosteriorModel:
    model = GaussianPosteriorModel()
    model.info = replace(model.info, sampling=SAMPLING)
    return model


def test_task_entries_override_the_prior_wide_ones():
    assert recommendations(prior(), "sr_avgpool") == {"steps": 4, "eta": 1.0, "samples": 3}
    assert recommendations(prior(), "inpaint") == recommendations(prior()) == {"steps": 6, "eta": 1.0, "samples": 1}


def test_resolved_settings_follow_the_operator():
    sr = RestoreSettings().for_model(prior(), make("sr_avgpool", (3, 16, 16), scale=2))
    box = RestoreSettings().for_model(prior(), make("deblur_gaussian", (3, 16, 16), sigma=1.0))
    assert (sr.samples, sr.sampler.steps) == (3, 4)
    assert (box.samples, box.sampler.steps) == (1, 6)
    mine = RestoreSettings(samples=2).for_model(prior(), make("sr_avgpool", (3, 16, 16), scale=2))
    assert mine.samples == 2 and mine.sampler.steps == 4


def test_restore_uses_the_task_recommendation():
    """ddnm.restore with nothing set is the same restoration as the task's recommendation spelled out."""
    op = make("sr_avgpool", (3, 16, 16), scale=2)
    y = op.A(torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(0)) * 2 - 1)
    default = ddnm.restore(y, op, prior(), seed=5)
    spelled = ddnm.restore(y, op, prior(), seed=5, samples=3, steps=4)
    single = ddnm.restore(y, op, prior(), seed=5, samples=1, steps=4)
    assert default.samples == 3 and default.settings.sampler.steps == 4
    torch.testing.assert_close(default.x, spelled.x, rtol=0, atol=0)
    assert not torch.equal(default.x, single.x)


def test_the_bundled_prior_averages_samples_for_super_resolution_only():
    """Its config recommends the posterior mean for SR (the measured winner over bicubic, docs/model_card.md) and one
    sample elsewhere, so a CLI or library call that sets nothing gets each."""
    import ddnm.models

    bundled = ddnm.models.load()
    sr = RestoreSettings().for_model(bundled, make("sr_bicubic", (3, 64, 64), scale=4))
    deblur = RestoreSettings().for_model(bundled, make("deblur_gaussian", (3, 64, 64), sigma=2.0))
    assert sr.samples > 1 == deblur.samples
    assert deblur.sampler.steps == recommendations(bundled)["steps"]
    # half the steps pays for the samples: K = 4 at 10 steps costs 2x one sample at 20, and still beats bicubic
    assert sr.samples * sr.sampler.steps <= 2 * deblur.sampler.steps
