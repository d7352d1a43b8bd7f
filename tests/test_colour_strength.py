"""``colour_strength``: a colour task's chroma scaled around each pixel's gray, which A keeps. On the bundled priors and a
real scan: 0 gives the gray, 0.5 about half the colourfulness, every strength is exactly as consistent; the full-size
path scales the same samples; other operators ignore it; a run records it in the ledger, the output's provenance and
the resume key."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from pipeline_helpers import TEST_MAX_PIXELS, write_manifest

import ddnm
from ddnm.colour import chroma, with_strength
from ddnm.operators import make
from pipeline import metadata
from pipeline.report.entries import make_entry
from pipeline.report.settings import ReportSettings
from pipeline.run import run_job
from pipeline.settings import JobSettings

SCAN = Path(__file__).resolve().parents[1] / "examples" / "scans" / "coffee.png"


def gray_scan(width: int = 96) -> torch.Tensor:
    """The example scan (a gray photograph), (1, 1, h, w) in [-1, 1]."""
    with Image.open(SCAN) as image:
        small = image.convert("L").resize((width, round(width * image.height / image.width)), Image.LANCZOS)
    return torch.from_numpy(np.asarray(small, dtype=np.float32) / 127.5 - 1)[None, None]


def colourfulness(x: torch.Tensor) -> float:
    return float(chroma(x).abs().mean())


def test_with_strength_keeps_the_gray_and_the_gamut():
    x = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(0)) * 2 - 1
    for strength in (0.0, 0.5, 2.0):
        out = with_strength(x, strength)
        torch.testing.assert_close(out.mean(dim=1), x.mean(dim=1), rtol=0, atol=1e-6)
        assert out.min() >= -1 - 1e-6 and out.max() <= 1 + 1e-6
    torch.testing.assert_close(chroma(with_strength(x, 0.5)), 0.5 * chroma(x), rtol=0, atol=1e-6)
    assert colourfulness(with_strength(x, 0.0)) < 1e-7
    assert with_strength(x, 1.0) is x


def test_the_working_size_colour_scales_and_stays_consistent():
    y = gray_scan()
    op = make("colorize", (3, *y.shape[-2:]))
    model = ddnm.models.load()
    out = {s: ddnm.restore(y, op, model, seed=3, colour_strength=s) for s in (0.0, 0.5, 1.0)}
    for s, restored in out.items():
        assert float(restored.residual.max()) <= 1e-4, (s, restored.residual)
    full = colourfulness(out[1.0].x)
    assert full > 0.01  # the prior does colour this scan
    assert colourfulness(out[0.0].x) < 1e-3 * full
    assert 0.4 * full < colourfulness(out[0.5].x) < 0.6 * full


def test_colour_at_full_size_scales_the_same_samples():
    y = gray_scan(48)[..., :32, :32]  # within the 64-px prior's window: one sample of the main prior
    op = make("colorize", (3, 32, 32))
    model = ddnm.models.load()
    one = ddnm.restore(y, op, model, seed=5, work_size=0, steps=3)
    half = ddnm.restore(y, op, model, seed=5, work_size=0, steps=3, colour_strength=0.5)
    torch.testing.assert_close(half.x, with_strength(one.x, 0.5), rtol=0, atol=1e-6)
    assert float(half.residual.max()) <= 1e-4


def test_other_operators_ignore_it():
    x = gray_scan(48)[..., :32, :32].expand(1, 3, 32, 32)
    op = make("sr_avgpool", (3, 32, 32), scale=2)
    model = ddnm.models.load()
    one = ddnm.restore(op.A(x), op, model, seed=1, steps=2, samples=1)
    half = ddnm.restore(op.A(x), op, model, seed=1, steps=2, samples=1, colour_strength=0.5)
    assert torch.equal(one.x, half.x)


def test_refused_outside_zero_to_two():
    with pytest.raises(ValueError, match="colour_strength must be in"):
        ddnm.restore(gray_scan(32), make("colorize", (3, 21, 32)), ddnm.models.load(), colour_strength=3.0)


def test_a_run_records_the_strength_and_a_new_strength_restores_again(ray_local, tmp_path):
    Image.open(SCAN).convert("L").resize((48, 32)).save(tmp_path / "gray.png")
    Image.open(SCAN).convert("RGB").resize((24, 16)).save(tmp_path / "small.png")
    rows = [{"id": "gray", "uri": "gray.png", "op": "colorize"},
            {"id": "small", "uri": "small.png", "op": "sr_avgpool", "params": '{"scale": 2}'}]  # fmt: skip
    manifest, out = write_manifest(tmp_path / "m.csv", rows), str(tmp_path / "out")
    common = dict(manifest_uri=manifest, out_uri=out, steps=2, samples=1, batch_size=1, device="cpu",
                  max_pixels=TEST_MAX_PIXELS)  # fmt: skip
    assert run_job(JobSettings.of(**common, colour_strength=0.5)).ok == 2
    latest = {r["id"]: r for r in metadata.latest_rows(metadata.read_all(out)).to_pylist()}
    assert latest["gray"]["colour_strength"] == 0.5
    assert latest["small"]["colour_strength"] is None or np.isnan(latest["small"]["colour_strength"])
    with Image.open(latest["gray"]["output_uri"]) as image:
        assert 'ddnm:colourStrength="0.5"' in image.text["XML:com.adobe.xmp"]
    with Image.open(latest["small"]["output_uri"]) as image:
        assert "colourStrength" not in image.text["XML:com.adobe.xmp"]
    report = ReportSettings(out, workers=1)  # the review page's detail view shows it
    assert make_entry(0, latest["gray"], report)["colour_strength"] == 0.5
    assert make_entry(1, latest["small"], report)["colour_strength"] is None
    again = run_job(JobSettings.of(**common))  # the prior's own colour: other settings, restored again
    assert (again.ok, again.skipped) == (2, 0)
    latest = {r["id"]: r for r in metadata.latest_rows(metadata.read_all(out)).to_pylist()}
    assert latest["gray"]["colour_strength"] == 1.0
