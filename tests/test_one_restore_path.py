"""One restore path (issue 17): ``ddnm-batch restore`` and ``ddnm.restore`` give the same pixels for the same image,
model and seed, for every kind of model (the bundled prior, FFDNet, an ADM checkpoint with its sidecar JSON, a DDPM
``.pt`` named with ``--arch``); a setting the sampler would refuse is refused before any work, with one line."""

from __future__ import annotations

import json
from io import BytesIO

import numpy as np
import pytest
import torch
from PIL import Image
from pipeline_helpers import rgb_photo, write_files, write_manifest
from typer.testing import CliRunner

import ddnm
import ddnm.models
from pipeline import decode, measurement
from pipeline.cli import app
from pipeline.encode import to_uint8

TINY_DDPM = dict(ch=32, out_ch=3, ch_mult=[1, 2], num_res_blocks=1, attn_resolutions=[16], resolution=32)


@pytest.fixture(scope="module")
def ddpm_pt(tmp_path_factory) -> str:
    """A random-weights DDPM saved as a bare .pt; its sidecar JSON has the hyper-parameters but not the arch."""
    from ddnm.models.ddpm import Model

    torch.manual_seed(0)
    net = Model(**TINY_DDPM)
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for value in net.state_dict().values():
            value.add_(0.05 * torch.randn(value.shape, generator=generator))
    path = tmp_path_factory.mktemp("ddpm") / "random-ddpm.pt"
    torch.save(net.state_dict(), path)
    path.with_suffix(".json").write_text(json.dumps({"hparams": TINY_DDPM, "name": "random-ddpm"}))
    return str(path)


def cli_pixels(tmp_path, source: str, model_args: list[str], scale: int) -> np.ndarray:
    out = tmp_path / "out.png"
    args = ["restore", source, str(out), "--op", "sr_avgpool", "--scale", str(scale), "--steps", "2", "--seed", "5",
            "--device", "cpu", *model_args]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    return np.asarray(Image.open(BytesIO(out.read_bytes())))


def library_pixels(source: str, model: str | None, scale: int, **load) -> np.ndarray:
    prior = ddnm.models.load(model, **load)
    pixels = decode.decode_image(open(source, "rb").read(), 10**6).samples
    op, y = measurement.build("sr_avgpool", json.dumps({"scale": scale}), [pixels], None, prior.in_channels)
    x, _ = ddnm.restore(y, op, prior, steps=2, seed=[5])
    return to_uint8(x[0].numpy())


@pytest.mark.parametrize("kind", ["bundled", "ffdnet", "adm", "ddpm"])
def test_the_cli_writes_what_the_library_returns(kind, tmp_path, tiny_model_path, ddpm_pt):
    model, args, load, size = {
        "bundled": (None, [], {}, 32),  # 32 -> 64, the prior's window
        "ffdnet": ("ffdnet", ["--model", "ffdnet"], {}, 16),  # warm start from the bicubic image
        "adm": (tiny_model_path, ["--model", tiny_model_path], {}, 16),  # .safetensors + sidecar JSON
        "ddpm": (ddpm_pt, ["--model", ddpm_pt, "--arch", "ddpm"], {"arch": "ddpm"}, 24),  # 48 px: in windows
    }[kind]
    write_files(tmp_path, {"small.png": rgb_photo(3, size)})
    source = str(tmp_path / "small.png")
    torch.manual_seed(0)
    assert np.array_equal(cli_pixels(tmp_path, source, args, 2), library_pixels(source, model, 2, **load))


def test_a_setting_the_prior_makes_invalid_is_refused_before_ray(tmp_path):
    """--travel-length 30 is fine with --steps 40 but not with the bundled prior's 20 steps; run refuses it in the
    pre-flight (no Ray started, exit 2, one line), by the check the sampler runs."""
    write_files(tmp_path, {"small.png": rgb_photo(3, 16)})
    manifest = write_manifest(tmp_path / "m.csv", [{"id": "a", "uri": str(tmp_path / "small.png"),
                                                   "op": "sr_avgpool", "params": '{"scale": 2}'}])  # fmt: skip
    for extra in (["--travel-length", "30", "--steps", "20"], ["--travel-length", "30"]):
        result = CliRunner().invoke(app, ["run", manifest, "--out", str(tmp_path / "out"), "--device", "cpu", *extra])
        assert result.exit_code == 2, result.output
        text = " ".join(result.output.split())
        assert "travel_length 30 must be smaller than steps 20" in text and "Traceback" not in result.output
        assert not (tmp_path / "out" / "metadata").exists() or not any((tmp_path / "out" / "metadata").glob("*.parquet"))
    # fine with the prior-wide 20 steps, not with the 5 the prior recommends for SR: refused too, naming the task
    result = CliRunner().invoke(app, ["run", manifest, "--out", str(tmp_path / "out"), "--device", "cpu",
                                      "--travel-length", "10"])  # fmt: skip
    text = " ".join(result.output.split())
    assert result.exit_code == 2 and "sr_avgpool" in text and "must be smaller than steps 5" in text, result.output


def test_a_rule_parameter_the_rule_does_not_take_is_one_line(tmp_path):
    result = CliRunner().invoke(app, ["restore", "in.png", str(tmp_path / "o.png"), "--op", "colorize", "--gamma", "3"])
    assert result.exit_code == 2 and "of guidance 'ddnm'" in " ".join(result.output.split())
