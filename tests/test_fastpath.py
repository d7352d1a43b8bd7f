"""The fast path (``ddnm.models.runtime``): bf16 autocast, channels_last and torch.compile give the fp32 results on
the same seeds, with the real bundled prior on real images; a compile failure falls back to eager once."""

from __future__ import annotations

import shutil
import time
import warnings

import pytest
import torch

import ddnm
from example_crops import example_crops
from ddnm.metrics import psnr
from ddnm.operators import make

SIZE = 32  # the bundled prior is fully convolutional; 32 px keeps bf16 (emulated on most CPUs) to seconds


def crops(count: int) -> torch.Tensor:
    return example_crops(count, SIZE)


def run(model, steps: int = 3):
    x = crops(4)
    op = make("sr_avgpool", (3, SIZE, SIZE), scale=2)
    restored, residual = ddnm.restore(op.A(x), op, model, steps=steps, seed=[11, 12, 13, 14])
    return restored, residual, psnr(restored, x)


@pytest.fixture(scope="module")
def fp32_result():
    torch.manual_seed(0)
    return run(ddnm.models.load())


def test_bf16_autocast_keeps_consistency_and_psnr(fp32_result):
    model = ddnm.models.load(dtype="bf16", channels_last=True)  # channels_last: oneDNN's fast bf16 layout on CPU
    assert next(model.net.parameters()).dtype == torch.bfloat16
    x, residual, quality = run(model)
    assert x.dtype == torch.float32
    assert (residual <= 1e-4).all(), residual  # the projection runs in fp32 whatever the network's precision
    assert abs(quality.mean() - fp32_result[2].mean()) <= 0.1, (quality, fp32_result[2])  # mean PSNR, dB
    assert not torch.equal(x, fp32_result[0])  # the network really ran in bf16


def test_channels_last_is_the_default_and_matches_the_contiguous_layout(fp32_result):
    default, contiguous = ddnm.models.load(), ddnm.models.load(channels_last=False)
    assert default.channels_last and not contiguous.channels_last
    conv = next(p for p in default.net.parameters() if p.dim() == 4)
    assert conv.is_contiguous(memory_format=torch.channels_last)
    x, residual, _ = run(contiguous)
    torch.testing.assert_close(x, fp32_result[0], rtol=0, atol=1e-4)
    assert (residual <= 1e-4).all()


def test_channels_last_applies_only_where_it_can():
    ffdnet = ddnm.models.load("ffdnet")  # not an ε-network: the default leaves it alone, asking for it is refused
    assert not getattr(ffdnet, "channels_last", False)
    with pytest.raises(ValueError, match="apply to ε-networks"):
        ddnm.models.load("ffdnet", channels_last=True)


def test_compile_failure_falls_back_to_eager_with_one_warning(fp32_result, monkeypatch):
    def broken(*args, **kwargs):
        def compiled(*a, **k):
            raise RuntimeError("backend exploded\nsecond line")
        return compiled

    monkeypatch.setattr(torch, "compile", broken)
    model = ddnm.models.load(compile=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first = run(model)
        second = run(model)
    messages = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
    assert len(messages) == 1 and "torch.compile failed (RuntimeError: backend exploded)" in messages[0], messages
    assert torch.equal(first[0], fp32_result[0]) and torch.equal(second[0], fp32_result[0])


def test_compile_that_cannot_even_start_falls_back(monkeypatch):
    def refuse(*args, **kwargs):
        raise RuntimeError("no compiler on this platform")

    monkeypatch.setattr(torch, "compile", refuse)
    with pytest.warns(RuntimeWarning, match="no compiler"):
        model = ddnm.models.load(compile=True)
    assert model.compiled.failed and set(model.state_dict()) == set(ddnm.models.load().state_dict())


@pytest.mark.slow  # ~30 s on a 2-core CPU: dynamo's start-up, whatever the network's size
def test_compile_traces_the_network(tiny_model_path, monkeypatch):
    """Dynamo captures the network call inside the sampler (backend "eager": graph capture without code generation;
    the tiny ADM keeps the capture to seconds, the inductor test below compiles the bundled prior)."""
    real = torch.compile
    monkeypatch.setattr(torch, "compile", lambda net, **kw: real(net, backend="eager", dynamic=False))
    eager = run(ddnm.models.load(tiny_model_path))
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # a fallback would hide a capture failure
        x, residual, quality = run(ddnm.models.load(tiny_model_path, compile=True))
    torch.testing.assert_close(x, eager[0], rtol=0, atol=1e-4)
    assert (residual <= 1e-4).all() and abs(quality.mean() - eager[2].mean()) <= 0.1


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("g++") is None and shutil.which("c++") is None, reason="inductor needs a C++ compiler")
def test_inductor_compile_matches_eager(fp32_result, tmp_path, monkeypatch):
    # A private code cache: a shared /tmp/torchinductor_<user> written by concurrent runs once gave a truncated .so.
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "inductor"))
    started = time.time()
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        x, residual, quality = run(ddnm.models.load(compile=True))
    torch.testing.assert_close(x, fp32_result[0], rtol=0, atol=1e-4)
    assert (residual <= 1e-4).all() and abs(quality.mean() - fp32_result[2].mean()) <= 0.1
    print(f"inductor compile + 3 steps: {time.time() - started:.1f} s")


def test_options_are_checked():
    with pytest.raises(ValueError, match="unknown dtype"):
        ddnm.models.load(dtype="float8")
    with pytest.raises(ValueError, match="mode"):
        ddnm.models.load(compile="fastest")


def test_eta_zero_draws_only_the_initial_noise():
    """At η = 0 the step's noise is multiplied by σ_t = 0; none is drawn, so each stream has moved by x_T alone."""
    from ddnm.models.testing import ZeroEpsModel
    from ddnm.ddim import generators_for
    from ddnm.samplers import sample_ddnm
    from ddnm.settings import SamplerSettings

    op = make("colorize", (3, 8, 8))
    used, fresh = generators_for([5, 6], torch.device("cpu")), generators_for([5, 6], torch.device("cpu"))
    sample_ddnm(ZeroEpsModel(), op, op.A(torch.zeros(2, 3, 8, 8)), SamplerSettings(steps=4, eta=0.0), generator=used)
    for g in fresh:
        torch.randn((3, 8, 8), generator=g)  # x_T
    assert all(torch.equal(a.get_state(), b.get_state()) for a, b in zip(used, fresh))


def test_batched_noise_rows_are_each_images_own_stream():
    from ddnm.ddim import randn_like
    from ddnm.ddim import generators_for

    batch = randn_like(torch.empty(3, 3, 5, 7), generators_for([1, 2, 3], torch.device("cpu")))
    alone = randn_like(torch.empty(1, 3, 5, 7), generators_for([2], torch.device("cpu")))
    assert torch.equal(batch[1:2], alone)
