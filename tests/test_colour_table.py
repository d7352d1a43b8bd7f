"""The no-network colour baseline (benchmarks/colour_table.py): a per-gray-level chroma table from photos."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from benchmarks.colour_table import table_chroma, table_colour, tint_table


def _photos(folder, count=3):
    """Photos whose colour is a function of their gray level: dark pixels red-brown, bright ones blue."""
    rng = np.random.default_rng(0)
    paths = []
    for i in range(count):
        gray = rng.uniform(0.15, 0.85, size=(40, 56)).astype(np.float32)  # [0, 1]
        warm = np.clip(0.5 - gray, 0, None)  # chroma that depends on the gray level only
        cool = np.clip(gray - 0.5, 0, None)
        rgb = np.stack([gray + warm - cool / 2, gray - warm / 2 - cool / 2, gray - warm / 2 + cool], axis=-1)
        path = folder / f"photo{i}.png"
        Image.fromarray((np.clip(rgb, 0, 1) * 255).round().astype(np.uint8)).save(path)
        paths.append(path)
    return paths


def test_the_table_learns_colour_by_gray_level_and_keeps_the_scans_gray(tmp_path):
    paths = _photos(tmp_path)
    table = tint_table(paths, bins=16, side=128)
    assert table.shape == (16, 3)
    assert torch.allclose(table.sum(dim=1), torch.zeros(16), atol=1e-6)  # chroma: the channels sum to zero
    dark, bright = table_chroma(torch.tensor([-0.6]).view(1, 1, 1, 1), table), \
        table_chroma(torch.tensor([0.6]).view(1, 1, 1, 1), table)  # fmt: skip
    assert dark[0, 0] > 0.05 > dark[0, 2]  # shadows red
    assert bright[0, 2] > 0.05 > bright[0, 0]  # highlights blue

    image = torch.from_numpy(np.asarray(Image.open(paths[0]), dtype=np.float32) / 127.5 - 1).permute(2, 0, 1)[None]
    y = image.mean(dim=1, keepdim=True)
    x_hat = table_colour(y, table)
    assert torch.allclose(x_hat.mean(dim=1, keepdim=True), y, atol=1e-5)  # A x̂ = y: the gray levels are the scan's
    assert x_hat.abs().max() <= 1 + 1e-6
    err_table, err_gray = (x_hat - image).pow(2).mean(), (y.expand_as(image) - image).pow(2).mean()
    assert err_table < 0.5 * err_gray


def test_the_corpus_table_skips_the_hold_out_and_is_none_without_a_corpus(tmp_path):
    from benchmarks.colour_table import corpus_table

    assert corpus_table(tmp_path / "no-corpus") is None  # CI keeps no ../shared: the benchmark leaves the row out
    paths = _photos(tmp_path, count=4)
    from jobs.photos import split_holdout

    train, held = split_holdout(paths)  # another folder than the project corpus: 10 % by name hash, at least 1
    assert len(held) == 1
    assert torch.allclose(corpus_table(tmp_path), tint_table(train))  # trained-on photos only
    assert not torch.allclose(corpus_table(tmp_path), tint_table(paths))
