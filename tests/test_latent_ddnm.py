"""Latent DDNM on a tiny randomly initialised SD3 transformer + VAE built from config (no weights to download).

What can be checked without real SD3 weights: shapes, that λ = 0 reproduces the decoded range-space image D(E(A⁺y)),
that the final projection makes the output consistent, determinism per image, loading a saved diffusers folder with
no network, and the refusals.
"""

from __future__ import annotations

import json

import pytest
import torch

diffusers = pytest.importorskip("diffusers")

import ddnm  # noqa: E402
from ddnm.latent_ddnm import LatentDDNMSettings, sample_latent_ddnm  # noqa: E402
from ddnm.models import load  # noqa: E402
from ddnm.models.sd3 import LatentFlowModel, folder_sha256  # noqa: E402
from ddnm.models.wrapper import ModelInfo  # noqa: E402
from ddnm.operators import make  # noqa: E402
from ddnm.ddim import generators_for  # noqa: E402

SIZE = 16  # pixels; the tiny VAE halves it, the transformer's patches are 2: sides must divide by 4


def tiny_parts(seed: int = 0):
    torch.manual_seed(seed)
    transformer = diffusers.SD3Transformer2DModel(
        sample_size=SIZE // 2, patch_size=2, in_channels=4, out_channels=4, num_layers=1, attention_head_dim=8,
        num_attention_heads=2, joint_attention_dim=32, caption_projection_dim=16, pooled_projection_dim=32,
        pos_embed_max_size=16)  # fmt: skip
    vae = diffusers.AutoencoderKL(
        in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 2,
        up_block_types=("UpDecoderBlock2D",) * 2, block_out_channels=(8, 16), latent_channels=4, norm_num_groups=4,
        layers_per_block=1, sample_size=SIZE, scaling_factor=1.5, shift_factor=0.1)  # fmt: skip
    with torch.no_grad():  # SD3 zero-initialises its output layers; give every weight some signal
        for p in transformer.parameters():
            p.add_(0.02 * torch.randn_like(p))
    scheduler = diffusers.FlowMatchEulerDiscreteScheduler(shift=3.0)
    return transformer.eval(), vae.eval(), scheduler


@pytest.fixture(scope="module")
def model() -> LatentFlowModel:
    transformer, vae, scheduler = tiny_parts()
    return LatentFlowModel(transformer, vae, scheduler, ModelInfo("tiny-sd3", "sd3", None))


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """The same tiny parts saved as a diffusers pipeline folder (model_index.json + subfolders)."""
    path = tmp_path_factory.mktemp("tiny-sd3")
    transformer, vae, scheduler = tiny_parts()
    transformer.save_pretrained(path / "transformer")
    vae.save_pretrained(path / "vae")
    scheduler.save_pretrained(path / "scheduler")
    index = {"_class_name": "StableDiffusion3Pipeline", "transformer": ["diffusers", "SD3Transformer2DModel"],
             "vae": ["diffusers", "AutoencoderKL"], "scheduler": ["diffusers", "FlowMatchEulerDiscreteScheduler"]}
    (path / "model_index.json").write_text(json.dumps(index))
    return path


def measured(op_name: str, batch: int = 2, **params):
    op = make(op_name, (3, SIZE, SIZE), **params)
    x = torch.rand(batch, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(1)) * 2 - 1
    return op, op.A(x)


def half_mask() -> torch.Tensor:
    mask = torch.ones(1, SIZE, SIZE)
    mask[:, :, SIZE // 2:] = 0
    return mask


OPS = [("colorize", {}), ("sr_avgpool", {"scale": 2}), ("inpaint", {"mask": half_mask()})]


@pytest.mark.parametrize(("op_name", "params"), OPS)
def test_output_is_an_image_consistent_with_y(model, op_name, params):
    op, y = measured(op_name, **params)
    x = sample_latent_ddnm(model, op, y, LatentDDNMSettings(steps=3), generators_for([0, 1], y.device))
    assert x.shape == (2, 3, SIZE, SIZE) and torch.isfinite(x).all()
    assert float(ddnm.metrics.consistency(op, x, y).max()) < 1e-4


@pytest.mark.parametrize(("op_name", "params"), OPS)
def test_lambda_zero_is_the_decoded_range_space_image(model, op_name, params):
    op, y = measured(op_name, **params)
    settings = LatentDDNMSettings(steps=3, lam=0.0, project_output=False)
    x = sample_latent_ddnm(model, op, y, settings, generators_for([0, 1], y.device))
    with torch.inference_mode():
        expected = model.decode(model.encode(op.A_pinv(y)))
    torch.testing.assert_close(x, expected, rtol=0, atol=1e-5)
    full = sample_latent_ddnm(model, op, y, LatentDDNMSettings(steps=3, lam=0.8, project_output=False),
                              generators_for([0, 1], y.device))  # fmt: skip
    assert (full - expected).abs().max() > 1e-3  # λ > 0 lets the model in


def test_determinism_per_image_and_batch_independence(model):
    op, y = measured("colorize")
    settings = LatentDDNMSettings(steps=3)
    both = sample_latent_ddnm(model, op, y, settings, generators_for([5, 6], y.device))
    again = sample_latent_ddnm(model, op, y, settings, generators_for([5, 6], y.device))
    alone = sample_latent_ddnm(model, op, y[1:], settings, generators_for([6], y.device))
    other = sample_latent_ddnm(model, op, y, settings, generators_for([7, 8], y.device))
    assert torch.equal(both, again)
    torch.testing.assert_close(both[1:], alone, rtol=0, atol=1e-5)
    assert (both - other).abs().max() > 1e-4


def test_saved_folder_loads_offline_and_restores_like_the_model_in_memory(model, folder, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    loaded = load(folder, arch="sd3")
    detected = load(str(folder))  # a folder with model_index.json is recognised without arch=
    assert loaded.info.arch == detected.info.arch == "sd3"
    assert loaded.info.weights_sha256 == detected.info.weights_sha256 == folder_sha256(folder)
    assert "zeros" in loaded.info.extra["conditioning"]
    op, y = measured("sr_avgpool", scale=2)
    mine, _ = ddnm.restore(y, op, model, steps=3, seed=[0, 1], latent_lambda=0.7)
    theirs, residual = ddnm.restore(y, op, loaded, steps=3, seed=[0, 1], latent_lambda=0.7)
    torch.testing.assert_close(mine, theirs, rtol=0, atol=1e-5)
    assert float(residual.max()) < 1e-4


def test_pipeline_restore_command_on_the_folder(folder, tmp_path):
    from PIL import Image
    from typer.testing import CliRunner

    from pipeline.cli import app

    Image.new("L", (SIZE, SIZE), 90).save(tmp_path / "scan.png")
    args = ["restore", str(tmp_path / "scan.png"), str(tmp_path / "out.png"), "--op", "colorize", "--model",
            str(folder), "--steps", "2", "--latent-lambda", "0.9", "--device", "cpu"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    with Image.open(tmp_path / "out.png") as out:
        assert out.size == (SIZE, SIZE) and out.mode == "RGB"
        assert '"latent_lambda": 0.9' in out.text["XML:com.adobe.xmp"].replace("&quot;", '"')


def test_clear_refusals(model, folder, tmp_path):
    op, y = measured("colorize")
    with pytest.raises(ValueError, match="lambda must be in"):
        LatentDDNMSettings(lam=1.5)
    odd = make("colorize", (3, 18, 18))
    with pytest.raises(ValueError, match="divisible by 4"):
        sample_latent_ddnm(model, odd, odd.A(torch.zeros(1, 3, 18, 18)))
    with pytest.raises(ValueError, match="need a pixel prior"):
        ddnm.restore(y, op, model, steps=2, guidance="ddpg")
    with pytest.raises(ValueError, match="sigma_y"):
        ddnm.restore(y, op, model, steps=2, sigma_y=0.1)
    with pytest.raises(ValueError, match="sigma_y"):  # an estimated noise level is a sigma_y too
        ddnm.restore(y, op, model, steps=2, estimate_sigma_y=True)
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "model_index.json").write_text("{}")
    with pytest.raises(FileNotFoundError, match="lacks"):
        load(tmp_path / "broken")


def test_restore_stage_runs_a_latent_model(folder, tmp_path):
    from pipeline_helpers import TEST_MAX_PIXELS, good_files, good_rows, write_files
    from test_pipeline_restore_stage import by_id, decoded

    from pipeline.restore_stage import RestoreStage
    from pipeline.settings import JobSettings

    write_files(tmp_path, good_files())
    settings = JobSettings.of(str(tmp_path / "m.csv"), str(tmp_path / "out"), op="colorize", model=str(folder),
                           steps=2, batch_size=2, device="cpu", max_pixels=TEST_MAX_PIXELS, latent_lambda=0.8)
    rows = by_id(RestoreStage(settings)(decoded(settings, good_rows()[:2])))
    assert {r["status"] for r in rows.values()} == {"ok"}, [r["error_message"] for r in rows.values()]
    assert all(r["model_name"] == f"sd3:{folder.name}" and r["consistency_residual"] < 1e-4 for r in rows.values())
