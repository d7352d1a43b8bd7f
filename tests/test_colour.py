"""ddnm.colour: colour at a working size, exact at full size (A x̂ = y), edge-aware, safe where samples disagree."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from ddnm.colour import WorkingSize, fit_gamut, guided_upsample, restore_colour, working_shape
from ddnm.colour.lift import chroma, resize, working_measurement
from ddnm.colour.working import spread_gain
from ddnm.operators import make


def _scan(h: int, w: int, seed: int = 0) -> torch.Tensor:
    """A gray scan with structure (smooth ramps and a sharp edge), (1, 1, H, W) in [-1, 1], on the 8-bit grid."""
    g = torch.Generator().manual_seed(seed)
    rows, cols = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing="ij")
    y = 0.6 * torch.sin(3 * rows + 2 * cols) + 0.3 * (cols > 0.1).float() + 0.05 * torch.randn(h, w, generator=g)
    return (((y.clamp(-1, 1) + 1) * 127.5).round() / 127.5 - 1)[None, None]


def _garish_sampler(y_work, op_work, seeds):
    """A stand-in prior: the working gray plus saturated random chroma, one draw per seed (consistent with y)."""
    draws = [torch.randn(3, *y_work.shape[-2:], generator=torch.Generator().manual_seed(s % 2**31)) for s in seeds]
    c = chroma(torch.stack(draws)) * 2.0
    return op_work.A_pinv(y_work) + c


def _agreeing_sampler(y_work, op_work, seeds):
    """Every sample says the same thing: red where the gray is dark, blue where it is bright."""
    gray = op_work.A_pinv(y_work)
    c = torch.stack([0.3 * -y_work[:, 0], torch.zeros_like(y_work[:, 0]), 0.3 * y_work[:, 0]], dim=1)
    return gray + chroma(c)


def test_colour_is_exactly_consistent_at_full_size_and_within_range():
    y = _scan(150, 203)
    op = make("colorize", (3, 150, 203))
    out = restore_colour(y, op, _garish_sampler, [7], WorkingSize(size=32, samples=4))
    assert out.x.shape == (1, 3, 150, 203)
    assert (op.A(out.x) - y).abs().max() < 1e-5  # A x̂ = y to float precision
    assert out.x.min() >= -1 and out.x.max() <= 1
    written = ((out.x + 1) * 127.5).round()  # as an 8-bit PNG holds it
    assert (written.mean(dim=1, keepdim=True) - (y + 1) * 127.5).abs().max() <= 1.5  # gray levels within 1.5/255


def test_the_lift_keeps_the_range_space_and_changes_only_chroma():
    y = _scan(96, 80)
    op = make("colorize", (3, 96, 80))
    out = restore_colour(y, op, _agreeing_sampler, [0], WorkingSize(size=24, samples=2))
    range_part = op.A_pinv(op.A(out.x))  # A⁺A x̂
    assert (range_part - op.A_pinv(y)).abs().max() < 1e-5
    assert chroma(out.x).abs().max() > 0.05  # it did add colour


def test_old_photo_keeps_intact_pixels_and_fills_the_damage():
    y_clean = _scan(120, 90)
    mask = torch.ones(120, 90)
    mask[40:44, :] = 0  # a scratch across the photo
    op = make("old_photo", (3, 120, 90), mask=mask)
    y = op.A(y_clean.expand(-1, 3, -1, -1))
    out = restore_colour(y, op, _agreeing_sampler, [0], WorkingSize(size=32, samples=2))
    assert (op.A(out.x) - y).abs().max() < 1e-5
    filled = out.x.mean(dim=1)[0, 40:44]
    assert (filled - y_clean[0, 0, 40:44]).abs().mean() < 0.15  # harmonic fill of a thin scratch is close


def test_guided_upsampling_does_not_bleed_across_a_sharp_edge():
    h, w, edge = 64, 256, 101  # the edge is not on the working grid (101 / 4 is not whole)
    gray = torch.where(torch.arange(w) < edge, -0.5, 0.5).expand(1, 1, h, w)
    truth = torch.zeros(1, 3, h, w)
    truth[:, 0, :, :edge], truth[:, 2, :, edge:] = 0.4, 0.4  # red on the dark side, blue on the bright side
    truth = chroma(truth)
    low = (16, 64)
    gray_low, c_low = resize(gray, low), resize(truth, low)
    guided = guided_upsample(gray_low, c_low, gray, radius=1, eps=1e-3)
    bilinear = F.interpolate(c_low, size=(h, w), mode="bilinear", align_corners=False)
    near = slice(edge - 6, edge + 6)  # a working pixel is 4 scan pixels wide: bilinear smears ±4 px
    err_guided = (guided - truth)[..., near].abs().mean()
    err_bilinear = (bilinear - truth)[..., near].abs().mean()
    assert err_guided < 0.25 * err_bilinear
    assert (guided - truth)[..., : edge - 8].abs().max() < 0.02  # far from the edge it is simply right


def test_samples_that_disagree_give_less_colour_than_samples_that_agree():
    y = _scan(64, 64)
    op = make("colorize", (3, 64, 64))
    garish = restore_colour(y, op, _garish_sampler, [1], WorkingSize(size=32, samples=8))
    plain_mean = restore_colour(y, op, _garish_sampler, [1], WorkingSize(size=32, samples=8, shrink=0.0))
    single = restore_colour(y, op, _garish_sampler, [1], WorkingSize(size=32, samples=1))
    sure = restore_colour(y, op, _agreeing_sampler, [1], WorkingSize(size=32, samples=8))
    saturation = {k: chroma(v.x).pow(2).mean().sqrt() for k, v in
                  dict(garish=garish, plain=plain_mean, single=single, sure=sure).items()}  # fmt: skip
    assert saturation["garish"] < 0.5 * saturation["plain"] < 0.5 * saturation["single"]
    assert float(sure.gain.min()) > 0.99  # agreeing samples keep their colour
    assert float(garish.uncertainty[0]) > 10 * float(sure.uncertainty[0])


def test_spread_gain_is_one_without_spread_and_falls_with_it():
    base = torch.randn(1, 1, 3, 8, 8)
    _, gain = spread_gain(base.expand(1, 5, 3, 8, 8), shrink=1.0)
    assert torch.allclose(gain, torch.ones_like(gain))
    noisy = base + torch.randn(1, 5, 3, 8, 8, generator=torch.Generator().manual_seed(0)) * 3
    assert float(spread_gain(noisy, shrink=1.0)[1].mean()) < 0.5


def test_fit_gamut_keeps_the_gray_and_the_range():
    gray = torch.tensor([[[[0.95, -0.9, 0.0]]]])
    c = chroma(torch.tensor([[[[0.5, -0.5, 2.0]], [[-0.5, 0.5, -1.0]], [[0.0, 0.0, -1.0]]]]))
    x = fit_gamut(gray, c)
    assert torch.allclose(x.mean(dim=1, keepdim=True), gray, atol=1e-6)
    assert x.min() >= -1 - 1e-6 and x.max() <= 1 + 1e-6


def test_working_shape_keeps_the_aspect_and_never_enlarges():
    assert working_shape(1200, 1600, 64) == (48, 64)
    assert working_shape(40, 30, 64) == (40, 30)


def test_a_stretched_working_image_fills_the_window_and_comes_back_at_the_photo_aspect():
    assert working_shape(1200, 1600, 32, stretch=True) == (32, 32)
    assert working_shape(20, 100, 32, stretch=True) == (20, 32)
    y = _scan(90, 160)
    op = make("colorize", (3, 90, 160))
    seen = []

    def sampler(y_work, op_work, seeds):
        seen.append(tuple(y_work.shape[-2:]))
        return _agreeing_sampler(y_work, op_work, seeds)

    out = restore_colour(y, op, sampler, [0], WorkingSize(size=32, samples=2, stretch=True))
    assert seen == [(32, 32)] and out.x.shape == (1, 3, 90, 160)
    assert (op.A(out.x) - y).abs().max() < 1e-5
    assert chroma(out.x).abs().max() > 0.05


def test_working_gray_of_a_damaged_scan_averages_intact_pixels_only():
    y = torch.full((1, 1, 8, 8), 0.5)
    known = torch.ones(1, 1, 8, 8, dtype=torch.bool)
    known[..., :, :3] = False
    y = torch.where(known, y, torch.zeros_like(y))  # A⁺y of the old photo: 0 on damaged pixels
    y_work, known_work = working_measurement(y, known, (4, 4))
    assert torch.allclose(y_work[known_work], torch.full_like(y_work[known_work], 0.5), atol=1e-5)
    assert not bool(known_work[..., 0].any()) and bool(known_work[..., 2:].all())


def _tinted_sampler(y_work, op_work, seeds):
    """Every sample: the agreeing colour (red dark, blue bright) plus one olive tint over the whole photo."""
    tint = torch.tensor([0.15, 0.1, -0.25])[None, :, None, None]
    return _agreeing_sampler(y_work, op_work, seeds) + chroma(tint.expand(y_work.shape[0], 3, *y_work.shape[-2:]))


def test_cast_takes_out_the_global_tint_and_keeps_the_variation_and_the_gray():
    y = _scan(64, 64)
    op = make("colorize", (3, 64, 64))
    kept = restore_colour(y, op, _tinted_sampler, [1], WorkingSize(size=32, samples=4, shrink=0.0))
    untinted = restore_colour(y, op, _agreeing_sampler, [1], WorkingSize(size=32, samples=4, shrink=0.0))
    none = restore_colour(y, op, _tinted_sampler, [1], WorkingSize(size=32, samples=4, shrink=0.0, cast=0.0))
    half = restore_colour(y, op, _tinted_sampler, [1], WorkingSize(size=32, samples=4, shrink=0.0, cast=0.5))
    tint = {k: chroma(v.x_work).mean(dim=(2, 3)).abs().max() for k, v in dict(kept=kept, none=none, half=half).items()}
    assert float(tint["kept"]) > 0.15 and float(tint["none"]) < 1e-5
    torch.testing.assert_close(tint["half"], tint["kept"] / 2, atol=0.02, rtol=0.05)
    variation = {k: chroma(v.x_work) - chroma(v.x_work).mean(dim=(2, 3), keepdim=True) for k, v in
                 dict(none=none, untinted=untinted).items()}  # fmt: skip
    torch.testing.assert_close(variation["none"], variation["untinted"], atol=1e-5, rtol=0)  # where colours differ
    assert float((op.A(none.x) - y).abs().max()) < 1e-5  # A x̂ = y: the scan's gray levels, exactly
    with pytest.raises(ValueError, match="cast"):
        WorkingSize(cast=1.5)


@pytest.mark.parametrize("low, full", [((32, 24), (517, 389)), ((24, 32), (100, 1000)), ((8, 8), (3, 5))])
def test_the_banded_lift_is_the_whole_image_lift(low, full):
    """lift_and_compose works in bands of rows to bound a large plate's memory; any band height gives the whole-image
    result (the guided upsampling of the chroma at once, then compose) to float rounding, and keeps the gray."""
    from ddnm.colour.lift import compose, lift_and_compose

    generator = torch.Generator().manual_seed(0)
    gray_work = torch.rand(2, 1, *low, generator=generator) * 2 - 1
    c_work = chroma(torch.randn(2, 3, *low, generator=generator) * 0.3)
    gray_full = F.interpolate(gray_work, size=full, mode="bilinear") + 0.05 * torch.randn(2, 1, *full,
                                                                                          generator=generator)
    whole = compose(gray_full, chroma(guided_upsample(gray_work, c_work, gray_full, 2, 1e-3)), 3)
    for band_rows in (1, 7, full[0]):
        banded = lift_and_compose(c_work, gray_work, gray_full, 2, 1e-3, 3, strip_pixels=band_rows * full[1])
        assert (banded - whole).abs().max() < 1e-6
        assert (banded.mean(dim=1, keepdim=True) - gray_full.clamp(-1, 1)).abs().max() < 1e-6
