"""ADM and DDPM networks, presets and ``ddnm.models.load``: shapes, key layout, round trips, safety, errors."""

from __future__ import annotations

import hashlib
import json
import math
import os

import pytest
import torch
from safetensors.torch import save_file

import ddnm.models as models
from ddnm.models.adm import create_model
from ddnm.models.adm_blocks import AttentionBlock
from ddnm.models.checkpoint import check_fits
from ddnm.models.ddpm import Model as DDPMModel
from ddnm.models.registry import WEIGHTS_DIR

TINY_ADM = dict(image_size=32, num_channels=32, num_res_blocks=1, channel_mult="1,2", attention_resolutions="16",
                num_heads=2, learn_sigma=True, use_scale_shift_norm=True, resblock_updown=True)
TINY_DDPM = dict(ch=32, out_ch=3, ch_mult=(1, 2), num_res_blocks=1, attn_resolutions=(16,), resolution=32)


def randomize(net: torch.nn.Module, seed: int = 0, std: float = 0.05) -> torch.nn.Module:
    """Seeded weights everywhere, zero-initialised output layers included (else the output is 0)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for value in net.state_dict().values():
            value.copy_(torch.randn(value.shape, generator=generator) * std)
    return net.eval()


def inputs(batch: int = 2, size: int = 32, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, 3, size, size, generator=generator)
    t = torch.randint(0, 1000, (batch,), generator=generator)
    return x, t


@pytest.mark.parametrize("flags", [
    dict(learn_sigma=True, resblock_updown=True, use_scale_shift_norm=True),
    dict(class_cond=True, use_new_attention_order=True, num_head_channels=16),
    dict(resblock_updown=False, use_scale_shift_norm=False, channel_mult="1,1,2", num_heads_upsample=1),
])
def test_adm_forward_shape_and_channels_last(flags):
    hparams = {**TINY_ADM, **flags}
    net = randomize(create_model(**hparams))
    x, t = inputs()
    y = torch.tensor([3, 999]) if hparams.get("class_cond") else None
    with torch.no_grad():
        out = net(x, t, y)
        out_cl = net(x.contiguous(memory_format=torch.channels_last), t, y)
    assert out.shape == (2, 6 if hparams.get("learn_sigma") else 3, 32, 32)
    torch.testing.assert_close(out_cl, out, rtol=1e-4, atol=1e-5)
    assert out.abs().mean() > 1e-3  # random weights must give a non-trivial output


def test_ddpm_forward_shape():
    net = randomize(DDPMModel(**TINY_DDPM))
    x, t = inputs(batch=3)
    with torch.no_grad():
        assert net(x, t).shape == (3, 3, 32, 32)


@pytest.mark.parametrize("new_order", [False, True])
def test_attention_matches_reference_math(new_order):
    """SDPA path against softmax(q kᵀ/√d) v written out per head, in the qkv channel order upstream uses."""
    block = randomize(AttentionBlock(64, num_heads=4, use_new_attention_order=new_order), seed=3, std=0.2)
    x = torch.randn(2, 64, 4, 5, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        qkv = torch.nn.functional.conv1d(block.norm(x).flatten(2), block.qkv.weight, block.qkv.bias)  # (B, 192, T)
        heads, d = 4, 16
        if new_order:  # channels (q/k/v, head, d)
            q, k, v = (part.reshape(2, heads, d, -1) for part in qkv.chunk(3, dim=1))
        else:  # channels (head, q/k/v, d)
            q, k, v = qkv.reshape(2, heads, 3 * d, -1).split(d, dim=2)
        weights = torch.softmax(torch.einsum("bhct,bhcs->bhts", q, k) / math.sqrt(d), dim=-1)
        attended = torch.einsum("bhts,bhcs->bhct", weights, v).reshape(2, 64, -1)
        expected = x + torch.nn.functional.conv1d(attended, block.proj_out.weight, block.proj_out.bias).view_as(x)
        torch.testing.assert_close(block(x), expected, rtol=1e-5, atol=1e-5)


# Recorded once; guided-diffusion's UNetModel and ermongroup/ddim's Model give the same sums (to 1e-7) on these
# weights and inputs (checked when recorded). Guards against accidental changes to the function.
CHECKSUMS = {"adm": (-49.112483, 459.184465), "ddpm": (-124.966467, 135.065800)}


@pytest.mark.parametrize("arch", ["adm", "ddpm"])
def test_fixed_seed_checksum(arch):
    net = randomize(create_model(**TINY_ADM) if arch == "adm" else DDPMModel(**TINY_DDPM))
    x, t = inputs()
    with torch.no_grad():
        out = net(x, t).double()
    total, magnitude = CHECKSUMS[arch]
    assert out.sum().item() == pytest.approx(total, rel=1e-4, abs=1e-2)
    assert out.abs().sum().item() == pytest.approx(magnitude, rel=1e-4)


# A hand-picked sample of guided-diffusion's keys and shapes for 256x256_diffusion_uncond.pt.
UPSTREAM_ADM256 = {
    "time_embed.0.weight": (1024, 256), "time_embed.2.bias": (1024,), "input_blocks.0.0.weight": (256, 3, 3, 3),
    "input_blocks.1.0.in_layers.0.weight": (256,), "input_blocks.1.0.in_layers.2.weight": (256, 256, 3, 3),
    "input_blocks.3.0.emb_layers.1.weight": (512, 1024), "input_blocks.7.0.skip_connection.weight": (512, 256, 1, 1),
    "input_blocks.10.1.qkv.weight": (1536, 512, 1), "input_blocks.10.1.proj_out.bias": (512,),
    "input_blocks.13.1.norm.weight": (1024,), "middle_block.1.qkv.weight": (3072, 1024, 1),
    "middle_block.2.out_layers.3.bias": (1024,), "output_blocks.0.0.skip_connection.weight": (1024, 2048, 1, 1),
    "output_blocks.2.2.in_layers.2.weight": (1024, 1024, 3, 3), "output_blocks.6.1.proj_out.weight": (512, 512, 1),
    "output_blocks.17.0.out_layers.3.weight": (256, 256, 3, 3), "output_blocks.17.0.skip_connection.weight":
    (256, 512, 1, 1), "out.0.weight": (256,), "out.2.weight": (6, 256, 3, 3), "out.2.bias": (6,),
}
UPSTREAM_CELEBA = {
    "temb.dense.0.weight": (512, 128), "conv_in.weight": (128, 3, 3, 3), "down.0.block.0.norm1.weight": (128,),
    "down.2.block.0.nin_shortcut.weight": (256, 128, 1, 1), "down.0.downsample.conv.weight": (128, 128, 3, 3),
    "down.4.attn.1.q.weight": (512, 512, 1, 1), "mid.block_1.temb_proj.weight": (512, 512),
    "mid.attn_1.proj_out.bias": (512,), "up.5.block.2.conv2.weight": (512, 512, 3, 3),
    "up.4.attn.2.k.weight": (512, 512, 1, 1), "up.1.upsample.conv.weight": (128, 128, 3, 3),
    "up.0.block.2.nin_shortcut.weight": (128, 256, 1, 1), "norm_out.bias": (128,), "conv_out.weight": (3, 128, 3, 3),
}


@pytest.mark.parametrize("arch, preset, sample, count, n_keys", [
    ("adm", "imagenet256_uncond", UPSTREAM_ADM256, 552_814_086, 566),
    ("ddpm", "celeba_hq", UPSTREAM_CELEBA, 113_673_219, 450),
])
def test_preset_layout_matches_upstream(arch, preset, sample, count, n_keys):
    with torch.device("meta"):  # no memory, no init
        net = models.ARCHS[arch](**models.registry.PRESETS[arch][preset])
    shapes = {key: tuple(value.shape) for key, value in net.state_dict().items()}
    assert {key: shapes.get(key) for key in sample} == sample
    assert len(shapes) == n_keys
    assert sum(p.numel() for p in net.parameters()) == count


def save_with_config(net: torch.nn.Module, path, arch: str, hparams: dict) -> None:
    """``path`` (.safetensors) plus the sibling JSON config that ``load`` reads."""
    save_file(net.state_dict(), str(path))
    config = {"arch": arch, "hparams": hparams, "schedule": {"kind": "linear", "T": 1000}, "name": "tiny",
              "license": "CC0-1.0"}
    path.with_suffix(".json").write_text(json.dumps(config))


@pytest.mark.parametrize("arch, hparams", [("adm", TINY_ADM), ("ddpm", TINY_DDPM)])
def test_round_trip_safetensors_and_pt(tmp_path, arch, hparams):
    net = randomize(models.ARCHS[arch](**hparams))
    safetensors_path = tmp_path / "tiny.safetensors"
    save_with_config(net, safetensors_path, arch, hparams)
    pt_path = tmp_path / "bare.pt"  # no sibling JSON: configuration from the arguments
    torch.save(net.state_dict(), pt_path)
    # the contiguous layout, for bit equality with the net (the default's channels_last rounds a little otherwise)
    from_safetensors = models.load(safetensors_path, channels_last=False)
    from_pt = models.load(pt_path, arch=arch, channels_last=False, **hparams)
    x, t = inputs()
    with torch.no_grad():
        eps_net = net(x, t)[:, :3]  # learned σ: ε is the first 3 of 6 channels
        eps_a, x0_a = from_safetensors(x, t)
        eps_b, _ = from_pt(x, t)
    assert eps_a.shape == (2, 3, 32, 32)
    assert torch.equal(eps_a, eps_net) and torch.equal(eps_b, eps_net)
    assert x0_a.shape == x.shape
    info = from_safetensors.info
    assert (info.name, info.arch, info.image_size, info.license) == ("tiny", arch, 32, "CC0-1.0")
    assert info.weights_sha256 == hashlib.sha256(safetensors_path.read_bytes()).hexdigest()
    assert from_pt.info.weights_sha256 == hashlib.sha256(pt_path.read_bytes()).hexdigest()
    for model in (from_safetensors, from_pt):
        assert not model.training and not any(p.requires_grad for p in model.parameters())
        assert model.alphas_cumprod.dtype == torch.float64 and model.num_timesteps == 1000


def test_dtype_argument_keeps_schedule_float64(tmp_path):
    net = randomize(create_model(**TINY_ADM))
    path = tmp_path / "w.pt"
    torch.save(net.state_dict(), path)
    model = models.load(path, arch="adm", dtype=torch.bfloat16, **TINY_ADM)
    assert next(model.net.parameters()).dtype == torch.bfloat16
    assert model.alphas_cumprod.dtype == torch.float64
    x, t = inputs()
    eps, _ = model(x, t)
    assert eps.dtype == torch.float32 and torch.isfinite(eps).all()


class RunsCode:
    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def test_refuses_pickle_that_runs_code(tmp_path):
    marker = tmp_path / "code-ran"
    path = tmp_path / "evil.pt"
    torch.save({"time_embed.0.weight": torch.zeros(1), "payload": RunsCode(str(marker))}, path)
    with pytest.raises(ValueError, match="refused to load .*only weights are read"):
        models.load(path, arch="adm", **TINY_ADM)
    assert not marker.exists()


def test_missing_and_unexpected_keys_are_named(tmp_path):
    state_dict = randomize(create_model(**TINY_ADM)).state_dict()
    del state_dict["out.2.bias"]
    state_dict["extra.weight"] = torch.zeros(1)
    path = tmp_path / "w.pt"
    torch.save(state_dict, path)
    with pytest.raises(ValueError, match=r"1 missing keys \(out\.2\.bias\).*1 unexpected keys \(extra\.weight\)"):
        models.load(path, arch="adm", **TINY_ADM)


def test_wrong_arch_or_sizes_are_explained(tmp_path):
    path = tmp_path / "w.pt"
    torch.save(randomize(create_model(**TINY_ADM)).state_dict(), path)
    with pytest.raises(ValueError, match=r"missing keys \(temb\.dense.*laid out as arch 'adm'"):
        models.load(path, arch="ddpm", **TINY_DDPM)
    with pytest.raises(ValueError, match=r"shape mismatches \(time_embed\.0\.weight: file \(128, 32\) vs network"):
        models.load(path, arch="adm", **{**TINY_ADM, "num_channels": 64})
    with pytest.raises(ValueError, match=r"unknown arch 'unet'.*\['adm', 'ddpm'\]"):
        models.load(path, arch="unet")
    with pytest.raises(ValueError, match="cannot tell the architecture"):
        models.load(path)
    with pytest.raises(ValueError, match=r"unknown adm hyper-parameters \['channels'\]"):
        models.load(path, arch="adm", channels=3, **TINY_ADM)


def test_mismatch_names_the_preset_that_fits():
    with torch.device("meta"):
        adm256 = create_model(**models.ADM_PRESETS["imagenet256_uncond"]).state_dict()
        ddpm = DDPMModel(**models.DDPM_PRESETS["celeba_hq"])
    with pytest.raises(ValueError, match="fit arch='adm', preset='imagenet256_uncond'"):
        check_fits(ddpm, adm256, "256x256_diffusion_uncond.pt", "arch 'ddpm'")


def test_missing_files_are_reported(tmp_path):
    with pytest.raises(FileNotFoundError, match="no weight file at .*nowhere.pt.*ffdnet"):
        models.load(tmp_path / "nowhere.pt", arch="adm")
    bundled = WEIGHTS_DIR / f"{models.DEFAULT_PRIOR}.safetensors"
    if bundled.is_file():
        assert models.load().info.arch == "adm"
    else:
        with pytest.raises(FileNotFoundError, match=f"bundled prior .*{bundled.name}"):
            models.load()


def test_a_priors_recommended_eta_is_the_default(tiny_model_path, tmp_path):
    """A config's "sampling": {"eta": ...} is what ddnm.restore uses when no eta is given; an explicit eta wins."""
    import shutil
    from pathlib import Path

    import ddnm
    from ddnm.operators import make

    load = models.load
    source = Path(tiny_model_path)
    weights = tmp_path / "recommends.safetensors"
    shutil.copyfile(source, weights)
    config = json.loads(source.with_suffix(".json").read_text())
    weights.with_suffix(".json").write_text(json.dumps({**config, "sampling": {"eta": 0.3}}))
    plain, recommends = load(str(source)), load(str(weights))
    assert plain.info.sampling == {} and recommends.info.sampling == {"eta": 0.3}
    op = make("colorize", (3, 32, 32))
    y = op.A(torch.rand(1, 3, 32, 32) * 2 - 1)
    default, _ = ddnm.restore(y, op, recommends, steps=3, seed=1)
    assert torch.equal(default, ddnm.restore(y, op, plain, steps=3, seed=1, eta=0.3)[0])
    assert not torch.equal(default, ddnm.restore(y, op, plain, steps=3, seed=1)[0])  # 0.85 without a recommendation
    assert not torch.equal(default, ddnm.restore(y, op, recommends, steps=3, seed=1, eta=0.85)[0])
