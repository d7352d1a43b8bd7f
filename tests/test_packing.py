"""Packing (``ddnm.packing``): posterior samples run together up to ``max_batch`` images per network call, and every
row comes out as it would alone (beyond float rounding), per-image inpainting masks included."""

from __future__ import annotations


import pytest
import torch

import ddnm
from example_crops import example_crops
from ddnm.operators import make
from ddnm.packing import repeat_batch, samples_per_call

SIZE = 32


def crops(count: int) -> torch.Tensor:
    return example_crops(count, SIZE)


@pytest.fixture(scope="module")
def model():
    return ddnm.models.load()


def test_samples_per_call():
    assert samples_per_call(2, 4, None) == 1
    assert samples_per_call(2, 4, 6) == 3 and samples_per_call(2, 4, 64) == 4 and samples_per_call(8, 4, 4) == 1
    with pytest.raises(ValueError, match="max_batch"):
        samples_per_call(2, 4, 0)


@pytest.mark.parametrize("op_name", ["sr_avgpool", "inpaint"])
def test_packed_samples_give_the_same_mean(model, op_name):
    x = crops(2)
    generator = torch.Generator().manual_seed(1)
    params = {"scale": 2} if op_name == "sr_avgpool" else {
        "mask": (torch.rand(2, 1, SIZE, SIZE, generator=generator) > 0.4).float()}  # one mask per image
    op = make(op_name, (3, SIZE, SIZE), **params)
    y = op.A(x)
    alone, res_alone = ddnm.restore(y, op, model, steps=2, seed=[3, 4], samples=3)
    packed, res_packed = ddnm.restore(y, op, model, steps=2, seed=[3, 4], samples=3, max_batch=6)  # 3 samples a call
    torch.testing.assert_close(packed, alone, rtol=0, atol=1e-4)
    assert (res_packed <= 1e-4).all() and (res_alone <= 1e-4).all()


def test_a_row_does_not_depend_on_its_batch_mates(model):
    x = crops(3)
    op = make("colorize", (3, SIZE, SIZE))
    three, _ = ddnm.restore(op.A(x), op, model, steps=2, seed=[7, 8, 9])
    one, _ = ddnm.restore(op.A(x[1:2]), op, model, steps=2, seed=[8])
    torch.testing.assert_close(three[1:2], one, rtol=0, atol=1e-4)


def test_repeat_batch_repeats_per_image_masks_only():
    masks = torch.ones(2, 1, 4, 4)
    masks[1, :, :2] = 0
    op = make("old_photo", (3, 4, 4), mask=masks)
    twice = repeat_batch(op, 2, 2)
    x = torch.rand(2, 3, 4, 4)
    torch.testing.assert_close(twice.A(torch.cat([x, x])), torch.cat([op.A(x), op.A(x)]))
    shared = make("sr_avgpool", (3, 4, 4), scale=2)
    assert repeat_batch(shared, 1, 3) is shared


def test_cached_factors_follow_the_buffers_and_stay_out_of_autograd():
    """Operators cast their factors once per restore (``LinearOperator.cached``); a replaced buffer is picked up,
    and a cast made under inference_mode never reaches an autograd graph (DPS differentiates through A)."""
    op = make("sr_bicubic", (3, 16, 16), scale=4)
    x = torch.rand(1, 3, 16, 16)
    with torch.inference_mode():
        first = op.A(x)
    op.A_h = op.A_h * 2  # a new buffer object: the cached float32 copy must be rebuilt
    torch.testing.assert_close(op.A(x), 2 * first)
    leaf = x.clone().requires_grad_(True)
    op.A_pinv(op.A(leaf)).square().sum().backward()
    assert leaf.grad is not None and torch.isfinite(leaf.grad).all()
