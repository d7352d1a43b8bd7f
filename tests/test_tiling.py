"""Tiling: window plans, split/merge, mask-shift and joint restoration of images larger than the window."""

from __future__ import annotations

import pytest
import torch

from ddnm.models.testing import GaussianPosteriorModel, ZeroEpsModel
from ddnm.models.wrapper import ModelInfo, NetworkEpsModel
from ddnm.models.testing_spatial import SharedOffsetModel
from ddnm.operators import make
from ddnm.ddim import generators_for
from ddnm.samplers import sample_ddnm
from ddnm.schedules import alphas_cumprod_from_betas, linear_betas
from ddnm.settings import SamplerSettings
from ddnm.tiling import Box, TileSettings, axis_starts, min_overlap, plan_tiles
from ddnm.tiling.blend import merge_tiles, seam_ratio, split_tiles
from ddnm.tiling.operators import EmbedOperator, MaskShiftOperator, OperatorFactory
from ddnm.tiling.restore import restore_tiled

SHAPE = (3, 40, 100)
TASKS = [("colorize", {}), ("sr_avgpool", {"scale": 4})]
FAST = SamplerSettings(steps=6)


def smooth_image(batch: int = 1) -> torch.Tensor:
    """Low-frequency colour pattern in [-0.6, 0.6]: its own gradients are small, so seams stand out."""
    rows, cols = torch.meshgrid(torch.arange(40.0), torch.arange(100.0), indexing="ij")
    x = torch.stack([torch.sin(cols / 15 + c) * torch.cos(rows / 11) for c in range(3)]) * 0.6
    return x.expand(batch, -1, -1, -1).contiguous()


def random_image(batch: int = 1, seed: int = 0) -> torch.Tensor:
    return torch.rand(batch, *SHAPE, generator=torch.Generator().manual_seed(seed)) * 2 - 1


# --- plans --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("height,width,window,overlap,align", [
    (40, 100, 32, 8, 1), (40, 100, 32, 8, 4), (57, 57, 32, 8, 1), (32, 33, 32, 0, 1), (512, 4096, 64, 16, 4),
    (64, 64, 64, 16, 1), (100, 40, 32, 16, 2),
])
def test_plan_covers_every_pixel_with_flush_aligned_windows(height, width, window, overlap, align):
    plan = plan_tiles(height, width, TileSettings(window, overlap), align=align)
    hits = torch.zeros(height, width, dtype=torch.int32)
    for w in plan.windows:
        assert w.box.height == w.box.width == window
        hits[w.box.rows, w.box.cols] += 1
    assert (hits > 0).all()
    for starts, size in ((plan.row_starts, height), (plan.col_starts, width)):
        assert starts[0] == 0 and starts[-1] + window == size  # flush with both borders, no padding
        assert all(s % align == 0 for s in starts)
        assert list(starts) == sorted(set(starts))
    assert len(plan.windows) == 1 or min_overlap(plan) >= overlap


def test_wavefront_order_respects_dependencies():
    plan = plan_tiles(90, 150, TileSettings(32, 12))
    wave_of = {(w.row, w.col): w.wave for w in plan.windows}
    for (r, c), d in wave_of.items():
        for dep in ((r, c - 1), (r - 1, c), (r - 1, c - 1)):
            assert wave_of.get(dep, -1) < d  # left, top, top-left come first
    known = torch.zeros(90, 150, dtype=torch.bool)
    seen = []
    for wave in plan.waves:
        # Pixels a wave restores (its windows minus everything earlier waves restored) never meet.
        owner = torch.zeros(90, 150, dtype=torch.int32)
        for w in wave:
            owner[w.box.rows, w.box.cols] += (~known[w.box.rows, w.box.cols]).int()
        assert owner.max() <= 1
        for w in wave:
            known[w.box.rows, w.box.cols] = True
        seen += [w.index for w in wave]
    assert sorted(seen) == list(range(len(plan.windows))) and known.all()


def test_bad_plans_fail_with_a_hint():
    with pytest.raises(ValueError, match="smaller than the window"):
        axis_starts(20, 32, 8)
    with pytest.raises(ValueError, match="multiple of the alignment"):
        axis_starts(102, 32, 8, align=4)
    with pytest.raises(ValueError, match="cannot be aligned"):
        TileSettings(window=30, overlap=8, align=4)
    with pytest.raises(ValueError, match="unknown tiling strategy"):
        TileSettings(strategy="magic")
    with pytest.raises(ValueError, match="overlap"):
        TileSettings(window=32, overlap=32)


def test_split_merge_round_trip():
    plan = plan_tiles(40, 100, TileSettings(32, 8))
    x = random_image(2)
    tiles = split_tiles(x, plan)
    assert tiles.shape == (2 * len(plan.windows), 3, 32, 32)
    assert torch.allclose(merge_tiles(tiles, plan, batch=2), x, atol=1e-6)
    assert torch.allclose(merge_tiles(tiles, plan, batch=2, weight=torch.ones(32, 32)), x, atol=1e-6)
    with pytest.raises(ValueError, match="plan covers"):
        split_tiles(x[..., :99], plan)


def test_seam_ratio_flags_a_seamy_image():
    plan = plan_tiles(40, 100, TileSettings(32, 8))
    x = smooth_image()
    assert 0.8 < seam_ratio(x, plan).item() < 1.2
    seamy = x.clone()
    for w in plan.windows:  # paste each window with its own colour cast, as independent restorations do
        seamy[..., w.box.rows, w.box.cols] = x[..., w.box.rows, w.box.cols] + 0.2 * (w.index % 3 - 1)
    assert seam_ratio(seamy, plan).item() > 3


@pytest.mark.parametrize("shape", [(1, 100), (100, 1), (1, 1)])
def test_seam_ratio_of_an_image_with_a_one_pixel_side(shape):
    """A 1-pixel side has no steps along it; the other axis is still measured (a seamy strip is flagged)."""
    plan = plan_tiles(max(shape[0], 16), max(shape[1], 16), TileSettings(window=16, overlap=4))
    x = torch.rand(2, 3, *shape, generator=torch.Generator().manual_seed(0))
    smooth = seam_ratio(x, plan)
    assert smooth.shape == (2,) and torch.isfinite(smooth).all()
    if max(shape) > 1:
        seamy = x.clone()
        for p in plan.edges(0 if shape[0] > 1 else 1):
            if p < max(shape):
                (seamy[..., p:, :] if shape[0] > 1 else seamy[..., p:]).add_(2.0)
        assert (seam_ratio(seamy, plan) > 3 * smooth).all()


# --- operators ----------------------------------------------------------------------------------------------


def test_embed_operator_is_an_exact_svd():
    inner = make("sr_avgpool", (3, 20, 24), scale=4).double()
    op = EmbedOperator(inner, (32, 32), Box(0, 4, 20, 24)).double()
    x = torch.randn(2, 3, 32, 32, dtype=torch.float64)
    assert torch.allclose(op.V(op.V_t(x)), x)
    factored = op.U(op.singulars_batch(2, x) * op.V_t(x)[:, : inner.singulars.shape[-1]])
    assert torch.allclose(factored, op.A(x))
    y = op.A(x)
    assert torch.allclose(op.A(op.A_pinv(y)), y)
    assert (op.A_pinv(y)[..., :, :4] == 0).all()  # the margin is unmeasured


def test_mask_shift_correction_is_the_projection_onto_both_constraints():
    """For colorize (A⁺A commutes with the mask) one correction meets A x̂ = y and K x̂ = k exactly."""
    task = make("colorize", (3, 32, 32)).double()
    known = torch.zeros(2, 1, 32, 32, dtype=torch.bool)
    known[0, :, :, :8] = True
    known[1, :, :8, :] = True
    op = MaskShiftOperator([task, task], known).double()
    x_true, x0 = torch.randn(2, 3, 32, 32, dtype=torch.float64), torch.randn(2, 3, 32, 32, dtype=torch.float64)
    y = op.measure(task.A(x_true), x_true)
    x0_hat = x0 - op.A_pinv(op.A(x0) - y)
    assert torch.allclose(op.A(x0_hat), y)
    assert torch.allclose(torch.where(known, x0_hat, 0.0), torch.where(known, x_true, 0.0))
    again = x0_hat - op.A_pinv(op.A(x0_hat) - y)
    assert torch.allclose(again, x0_hat)  # a projection: applying it twice changes nothing
    v = torch.randn(2, *op.y_shape(), dtype=torch.float64)
    assert torch.allclose((op.A(x0) * v).sum(), (x0 * op.A_adjoint(v)).sum())  # ⟨A'x, v⟩ = ⟨x, A'ᵀv⟩


# --- restoration --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("strategy", ["mask_shift", "joint"])
@pytest.mark.parametrize("name,params", TASKS)
def test_tiled_restoration_is_consistent(strategy, name, params):
    factory = OperatorFactory(name, SHAPE, params)
    y = factory.full().A(random_image(2))
    x, residual, seams, _ = restore_tiled(y, factory, GaussianPosteriorModel(), TileSettings(32, 8, strategy), FAST)
    assert x.shape == (2, *SHAPE) and residual.shape == seams.shape == (2,)
    assert (residual <= 1e-4).all(), residual
    assert x.abs().max() <= 1.5


def test_mask_shift_keeps_the_earlier_windows_pixels():
    factory = OperatorFactory("sr_avgpool", SHAPE, {"scale": 4})
    y = factory.full().A(random_image(2))
    seen = []
    x, _, _, _ = restore_tiled(y, factory, GaussianPosteriorModel(), TileSettings(32, 8, "mask_shift", max_batch=3),
                            FAST, callback=seen.append)
    plan = plan_tiles(40, 100, TileSettings(32, 8), align=4)
    checked = 0
    for chunk in seen:
        for (b, k), x_w, known in zip(chunk["items"], chunk["x_windows"], chunk["known"]):
            box = plan.windows[k].box
            if chunk["wave"] > 0:
                assert known.any()
            # The sampler's own output on the known overlap is the earlier window's pixels.
            assert torch.allclose(torch.where(known, x_w, 0.0), torch.where(known, box.crop(x[b]), 0.0), atol=1e-6)
            checked += int(known.any())
    assert checked == 2 * (len(plan.windows) - 1)


@pytest.mark.parametrize("strategy", ["mask_shift", "joint"])
def test_tiled_restoration_is_deterministic_by_seed(strategy):
    factory = OperatorFactory("colorize", SHAPE)
    y = factory.full().A(random_image(2))
    model = ZeroEpsModel()

    def run(seed, max_batch=16):
        return restore_tiled(y, factory, model, TileSettings(32, 8, strategy, max_batch), FAST, seed=seed).x

    a = run([3, 4])
    assert torch.equal(a, run([3, 4]))
    assert torch.allclose(a, run([3, 4], max_batch=2), atol=1e-6)  # chunking does not change the result
    assert torch.allclose(a[1:], restore_tiled(y[1:], factory, model, TileSettings(32, 8, strategy), FAST,
                                               seed=[4]).x, atol=1e-6)  # nor does the rest of the batch
    assert not torch.allclose(a[0], run([5, 4])[0])


@pytest.mark.parametrize("strategy", ["mask_shift", "independent", "joint"])
def test_windows_of_images_with_their_own_masks(strategy):
    """An inpainting mask per image: each window measures image b with b's own mask (``op.rows``), so a row comes
    out as restored alone with its mask, and keeps its own known pixels."""
    masks = (torch.rand(2, 1, *SHAPE[1:], generator=torch.Generator().manual_seed(5)) > 0.5).float()
    masks[1, :, :, 50:] = 0  # image 1 also misses its right half
    x = random_image(2)
    factory = OperatorFactory("inpaint", SHAPE, {"mask": masks})
    y = factory.full().A(x)
    settings, model = TileSettings(32, 8, strategy, max_batch=3), GaussianPosteriorModel()
    together = restore_tiled(y, factory, model, settings, FAST, seed=[3, 4])
    assert (together.residual <= 1e-4).all(), together.residual
    for b in range(2):
        own = OperatorFactory("inpaint", SHAPE, {"mask": masks[b, 0]})
        alone = restore_tiled(y[b : b + 1], own, model, settings, FAST, seed=[3 + b]).x
        torch.testing.assert_close(together.x[b : b + 1], alone, rtol=0, atol=1e-5)
        known = masks[b].bool().expand(3, -1, -1)
        torch.testing.assert_close(together.x[b][known], x[b][known], rtol=0, atol=1e-4)


def test_joint_equals_untiled_for_a_pixelwise_prior():
    """GaussianPosteriorModel treats pixels independently, so windowing its x0 must change nothing."""
    op = make("sr_avgpool", SHAPE, scale=4)
    y = op.A(random_image(2))
    model = GaussianPosteriorModel()
    tiled = restore_tiled(y, op, model, TileSettings(32, 8, "joint", max_batch=5), FAST, seed=0).x
    untiled = sample_ddnm(model, op, y, FAST, generator=generators_for([0, 1], y.device))
    assert torch.allclose(tiled, untiled, atol=1e-5)


def test_small_image_is_embedded_and_cropped():
    factory = OperatorFactory("colorize", (3, 20, 50))
    y = factory.full().A(random_image()[..., :20, :50])
    for strategy in ("joint", "mask_shift"):
        x, residual, _, _ = restore_tiled(y, factory, GaussianPosteriorModel(), TileSettings(32, 8, strategy), FAST)
        assert x.shape == (1, 3, 20, 50) and residual.item() <= 1e-4


def test_seams_with_a_correlated_prior():
    """SharedOffsetModel gives each image one colour cast; colorize leaves it to the prior. The untiled result
    scores 0.94–0.98 on this image (8 seeds). Joint blending agrees on one cast and stays within 0.15 of 1;
    independent windows each draw their own cast, which shows as steps at window edges."""
    factory = OperatorFactory("colorize", SHAPE)
    y = factory.full().A(smooth_image(4))
    model = SharedOffsetModel(std=0.05)
    tiles = dict(window=32, overlap=8)
    joint = restore_tiled(y, factory, model, TileSettings(**tiles, strategy="joint"), SamplerSettings(steps=10))
    alone = restore_tiled(y, factory, model, TileSettings(**tiles, strategy="independent"), SamplerSettings(steps=10))
    assert (joint.seam_ratio <= 1.15).all(), joint.seam_ratio
    assert (alone.seam_ratio >= 3).all(), alone.seam_ratio


def test_window_defaults_to_the_models_native_size():
    net = torch.nn.Conv2d(3, 3, 3, padding=1)
    schedule = alphas_cumprod_from_betas(linear_betas(1000))
    model = NetworkEpsModel(time_ignoring(net), schedule, ModelInfo("conv", "conv", 32))
    factory = OperatorFactory("colorize", SHAPE)
    y = factory.full().A(random_image())
    for strategy in ("joint", "mask_shift"):
        _, residual, _, _ = restore_tiled(y, factory, model, TileSettings(overlap=8, strategy=strategy), FAST)
        assert residual.item() <= 1e-4
    with pytest.raises(ValueError, match="model's window is 32"):
        restore_tiled(y, factory, model, TileSettings(window=64), FAST)
    with pytest.raises(ValueError, match="no native window"):
        restore_tiled(y, factory, ZeroEpsModel(), TileSettings(), FAST)


def time_ignoring(net: torch.nn.Module) -> torch.nn.Module:
    """A conv net called as net(x, t), the ε-network signature (t unused)."""

    class TimeIgnoring(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = net

        def forward(self, x, t):
            return 0.1 * self.net(x)

    return TimeIgnoring()


def test_wrong_inputs_fail_before_sampling():
    op = make("colorize", SHAPE)
    y = op.A(random_image())
    with pytest.raises(ValueError, match="OperatorFactory"):
        restore_tiled(y, op, ZeroEpsModel(), TileSettings(32, 8, "mask_shift"), FAST)
    with pytest.raises(ValueError, match="measures"):
        restore_tiled(y[..., :50], op, ZeroEpsModel(), TileSettings(32, 8), FAST)
    with pytest.raises(ValueError, match="unknown operator"):
        OperatorFactory("colourise", SHAPE)


@pytest.mark.parametrize("name,params", TASKS)
def test_restoration_reports_the_windows_it_planned(name, params):
    """The tile count in provenance is the restoring plan's own (with SR's alignment), not a second plan's."""
    op = make(name, SHAPE, **params)
    result = restore_tiled(op.A(random_image()), op, GaussianPosteriorModel(), TileSettings(32, 16), FAST)
    align = params.get("scale", 1)
    assert result.tiles == len(plan_tiles(40, 100, TileSettings(32, 16), align=align).windows) > 1
