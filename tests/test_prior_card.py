"""The model card's training figures (benchmarks/prior_card.py): log reading across resumes, the curve, the grid."""

from __future__ import annotations

import math

import torch
from PIL import Image

from benchmarks.lineplot import line_plot
from benchmarks.prior_card import loss_panels, merge_logs, read_log, sample_grid, unconditional_samples


def test_resumed_log_keeps_the_last_row_of_each_step_and_plots_log_loss(tmp_path):
    log = tmp_path / "train.csv"
    rows = ["step,loss,lr,seconds_per_step,elapsed_s,val_loss"]
    rows += [f"{s},{1.0 / s},1e-4,1.0,{s},{'' if s % 50 else 0.5}" for s in range(10, 210, 10)]
    rows += ["200,0.25,1e-4,1.0,5,0.125"]  # a resumed process logs step 200 again
    log.write_text("\n".join(rows) + "\n")
    read = read_log(log)
    assert [int(r["step"]) for r in read] == list(range(10, 210, 10))
    assert float(read[-1]["loss"]) == 0.25
    panels = loss_panels(read, window=10)
    (series,) = panels.values()
    train, val = series["train (mean of 10 logs)"], series["validation, EMA weights"]
    assert [s for s, _ in train] == [100, 200]
    assert math.isclose(train[0][1], math.log10(sum(1.0 / s for s in range(10, 110, 10)) / 10))
    assert val[-1] == (200, math.log10(0.125)) and len(val) == 4
    line_plot(panels, tmp_path / "loss.png", xlabel="step", ylabel="log10 loss")
    assert Image.open(tmp_path / "loss.png").size[0] > 0


def test_sample_grid_has_one_column_per_group(tmp_path):
    x = torch.rand(8, 3, 16, 16) * 2 - 1
    sample_grid(x, tmp_path / "grid.png", per_column=4)
    with Image.open(tmp_path / "grid.png") as grid:
        assert grid.width > 2 * 32 and grid.width < 3 * 32 + 10 and grid.height > 4 * 32


def test_a_sessions_log_extends_the_kept_history_instead_of_replacing_it(tmp_path):
    header = "step,loss,lr,seconds_per_step,elapsed_s,val_loss"
    kept, new = tmp_path / "kept.csv", tmp_path / "run.csv"
    kept.write_text("\n".join([header] + [f"{s},0.5,1e-4,1.0,{s}," for s in (10, 20, 30)]) + "\n")
    new.write_text("\n".join([header, "30,0.25,1e-4,1.0,1,0.125", "40,0.2,1e-4,1.0,2,"]) + "\n")  # resumed at 30
    merged = merge_logs(kept, new)
    assert [int(r["step"]) for r in merged] == [10, 20, 30, 40]
    assert float(merged[2]["loss"]) == 0.25 and merged[2]["val_loss"] == "0.125"
    assert read_log(kept) == merged  # written back, so a fresh clone redraws the whole curve


def test_a_run_from_an_earlier_step_replaces_the_kept_branch_past_it(tmp_path):
    """The kept log ran on past step 30 in a run that was not shipped; a new run from 30 must not interleave."""
    header = "step,loss,lr,seconds_per_step,elapsed_s,val_loss"
    kept, new = tmp_path / "kept.csv", tmp_path / "run.csv"
    kept.write_text("\n".join([header] + [f"{s},0.5,1e-4,1.0,{s}," for s in (10, 20, 30, 35, 50)]) + "\n")
    new.write_text("\n".join([header, "30,nan,0,0,0,0.3", "40,0.2,1e-4,1.0,2,"]) + "\n")
    merged = merge_logs(kept, new)
    assert [int(r["step"]) for r in merged] == [10, 20, 30, 40]
    assert merged[2]["val_loss"] == "0.3"


def test_unconditional_samples_are_samples_even_for_a_prior_that_recommends_a_mean():
    """The colour prior's config asks for the posterior mean of 16; the card must show single draws (a mean of 16
    unconditional samples is a grayish blur that hides what the prior generates)."""
    import ddnm
    from ddnm.operators import make

    x, info = unconditional_samples(2, 2, 0, "ddnm-colour-32")
    assert info["samples"] == 1 and x.shape == (2, 3, 32, 32)
    model = ddnm.models.load("ddnm-colour-32")
    nothing = make("inpaint", (3, 32, 32), mask=torch.zeros(1, 32, 32))
    y = nothing.A(torch.zeros(2, 3, 32, 32))
    single, _ = ddnm.restore(y, nothing, model, steps=2, eta=1.0, seed=0, samples=1, start_t=999)
    assert model.info.sampling["samples"] > 1  # what ddnm.restore would average without samples=1
    torch.testing.assert_close(x, single)


def test_unconditional_samples_start_from_noise_though_the_prior_recommends_a_warm_start():
    """The bundled prior warm starts inpainting (its config's ``tasks``); with nothing known that start is a flat grey
    fill, and the card's grid came out as 24 grey squares. Drawn from noise, samples differ from each other."""
    import ddnm

    model = ddnm.models.load()
    assert model.info.sampling["tasks"]["inpaint"].get("start_t") is not None  # why this test exists
    x, info = unconditional_samples(2, 3, 0)
    assert info["start_t"] == 999 and x.shape == (2, 3, 64, 64)
    assert float((x[0] - x[1]).abs().mean()) > 0.05  # a warm start from grey gave ~0.01: two near-identical greys
