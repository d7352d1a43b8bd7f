"""``estimate_sigma_y``: DDNM+ at each scan's own noise level, estimated from y (``ddnm.noise``). The estimate reads
pure noise true, ignores texture and clipped areas, sees a gray scan's three equal channels as one; the façade
restores each image at its estimate exactly as if that σ_y had been given, and recovers the oracle's PSNR on noisy
photos; the pipeline records each row's σ_y in the ledger and the output's provenance."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from pipeline_helpers import TEST_MAX_PIXELS, write_manifest
from typer.testing import CliRunner

import ddnm
from ddnm.metrics import psnr
from ddnm.noise import MAD_TO_STD, NOISELESS, estimate_sigma_y, haar_hh
from ddnm.operators import make
from pipeline import metadata
from pipeline.cli import app
from pipeline.report.entries import make_entry
from pipeline.report.settings import ReportSettings
from pipeline.run import run_job
from pipeline.settings import JobSettings

HOPPER = Path(__file__).resolve().parents[1] / "examples" / "scans" / "hopper.png"


def photo(size: int = 256) -> torch.Tensor:
    """A real photograph (1, 3, size, size) in [-1, 1]: 8-bit, so its own noise is below a level."""
    with Image.open(HOPPER) as image:
        rgb = np.asarray(image.convert("RGB").resize((size, size), Image.Resampling.LANCZOS), dtype=np.float32)
    return torch.from_numpy(rgb / 127.5 - 1).permute(2, 0, 1)[None]


def noise(shape, sigma: float, seed: int = 0) -> torch.Tensor:
    return sigma * torch.randn(shape, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("sigma", [0.01, 0.05, 0.2])
def test_pure_noise_reads_true(sigma):
    estimate = estimate_sigma_y(noise((3, 3, 256, 256), sigma))
    assert torch.allclose(estimate, torch.full((3,), sigma), rtol=0.03)


def test_a_photo_reads_its_noise_not_its_texture():
    x = photo()
    own = float(estimate_sigma_y(x)[0])  # the print's grain, resampled: small, and below the whole band's median
    assert own < 0.03 and own < float(haar_hh(x).abs().median()) / MAD_TO_STD
    for sigma in (0.03, 0.1):  # independent noises add in variance
        assert float(estimate_sigma_y(x + noise(x.shape, sigma))[0]) == pytest.approx(np.hypot(sigma, own), rel=0.05)


def test_gray_lifted_to_three_channels_reads_as_one_and_clipped_areas_are_left_out():
    gray = photo()[:, :1] + noise((1, 1, 256, 256), 0.05)
    assert torch.allclose(estimate_sigma_y(gray.expand(-1, 3, -1, -1)), estimate_sigma_y(gray))
    clipped = gray.clone()
    clipped[..., :128, :] = 1.0  # a blown-out sky: no noise can show there
    assert float(estimate_sigma_y(clipped)[0]) == pytest.approx(0.05, rel=0.15)


def test_noiseless_is_zero_and_shapes_are_checked():
    assert float(estimate_sigma_y(torch.zeros(1, 1, 64, 64))[0]) == 0.0
    assert float(estimate_sigma_y(noise((1, 1, 64, 64), NOISELESS / 2))[0]) == 0.0
    with pytest.raises(ValueError, match="must be"):
        estimate_sigma_y(torch.zeros(3, 64, 64))


def test_the_facade_restores_each_image_at_its_estimate():
    x = photo(64).expand(2, -1, -1, -1)
    op = make("denoise", (3, 64, 64))
    y = (op.A(x) + torch.cat([noise((1, 3, 64, 64), 0.1, 1), noise((1, 3, 64, 64), 0.02, 2)])).clamp(-1, 1)
    out = ddnm.restore(y, op, estimate_sigma_y=True, seed=[3, 4])
    assert out.sigma_y.shape == (2,) and float(out.sigma_y[0]) > 3 * float(out.sigma_y[1]) > 0
    assert out.settings.estimate_sigma_y and out.settings.sampler.sigma_y == 0.0
    for i in range(2):  # the same bytes as that σ_y given by hand
        alone = ddnm.restore(y[i:i + 1], op, sigma_y=float(out.sigma_y[i]), seed=[3 + i])
        assert torch.equal(alone.x[0], out.x[i])
    plain = ddnm.restore(y, op, seed=[3, 4])  # σ_y 0: DDNM keeps y's noise in the range space (all of it, for A = I)
    assert float(psnr(out.x[:1], x[:1])) > float(psnr(plain.x[:1], x[:1])) + 3.0
    with pytest.raises(ValueError, match="give one of them"):
        ddnm.restore(y, op, estimate_sigma_y=True, sigma_y=0.1)


def test_restore_command_says_the_estimate(tmp_path):
    noisy = ((photo(64) + noise((1, 3, 64, 64), 0.08)).clamp(-1, 1) + 1) * 127.5
    Image.fromarray(noisy[0].permute(1, 2, 0).round().byte().numpy()).save(tmp_path / "grainy.png")
    result = CliRunner().invoke(app, ["restore", str(tmp_path / "grainy.png"), str(tmp_path / "out.png"), "--op",
                                      "denoise", "--estimate-sigma-y", "--device", "cpu"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "noise σ_y estimated 0.0" in " ".join(result.output.split())
    with Image.open(tmp_path / "out.png") as image:
        xmp = image.text["XML:com.adobe.xmp"]
    assert 'ddnm:sigmaYEstimated="true"' in xmp and 'ddnm:sigmaY="0.0' in xmp


def test_a_run_records_each_rows_own_noise(tiny_model_path, ray_local, tmp_path):
    clean = photo(32)
    grainy = (clean + noise(clean.shape, 0.1)).clamp(-1, 1)
    for name, image in (("clean", clean), ("grainy", grainy)):
        Image.fromarray(((image[0].permute(1, 2, 0) + 1) * 127.5).round().byte().numpy()).save(tmp_path / f"{name}.png")
    rows = [{"id": "clean", "uri": "clean.png"}, {"id": "grainy", "uri": "grainy.png"}]
    manifest, out = write_manifest(tmp_path / "m.csv", rows), str(tmp_path / "out")
    common = dict(manifest_uri=manifest, out_uri=out, op="denoise", model=tiny_model_path, steps=2, batch_size=2,
                  device="cpu", max_pixels=TEST_MAX_PIXELS)  # fmt: skip
    assert run_job(JobSettings.of(**common, estimate_sigma_y=True)).ok == 2
    latest = {r["id"]: r for r in metadata.latest_rows(metadata.read_all(out)).to_pylist()}
    with Image.open(tmp_path / "grainy.png") as image:  # the scan as decode reads it: y
        y = torch.from_numpy(np.asarray(image, dtype=np.float32) / 127.5 - 1).permute(2, 0, 1)[None]
    assert latest["grainy"]["sigma_y"] == pytest.approx(float(estimate_sigma_y(y)[0]), rel=1e-5)
    assert latest["clean"]["sigma_y"] < latest["grainy"]["sigma_y"] / 2
    with Image.open(latest["grainy"]["output_uri"]) as image:
        assert 'ddnm:sigmaYEstimated="true"' in image.text["XML:com.adobe.xmp"]
    entry = make_entry(0, latest["grainy"], ReportSettings(out, workers=1))  # the review page shows it
    assert entry["sigma_y"] == latest["grainy"]["sigma_y"]
    again = run_job(JobSettings.of(**common))  # without the estimate: other settings, both restored again
    assert (again.ok, again.skipped) == (2, 0)
    latest = {r["id"]: r for r in metadata.latest_rows(metadata.read_all(out)).to_pylist()}
    assert latest["grainy"]["sigma_y"] == 0.0


def test_restore_says_when_a_scan_looks_noisy(tmp_path):
    grainy = ((photo(64) + noise((1, 3, 64, 64), 0.08)).clamp(-1, 1) + 1) * 127.5
    Image.fromarray(grainy[0].permute(1, 2, 0).round().byte().numpy()).save(tmp_path / "grainy.png")
    said = {}
    for name, source in (("grainy", tmp_path / "grainy.png"), ("clean", HOPPER)):
        result = CliRunner().invoke(app, ["restore", str(source), str(tmp_path / f"{name}_out.png"), "--op", "denoise",
                                          "--device", "cpu", "--steps", "2"])  # fmt: skip
        assert result.exit_code == 0, result.output
        said[name] = "looks noisy" in result.output
    assert said == {"grainy": True, "clean": False}
