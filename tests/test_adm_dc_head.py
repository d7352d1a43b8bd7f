"""The ADM UNet's ε channel-mean head (``dc_head``): why it exists, that it is wired as its equation says, that it is
absent from upstream-shaped networks, and that the shipped colour prior uses it to explain the noise's DC."""

from __future__ import annotations

import pytest
import torch

from ddnm.models.adm import create_model

TINY = dict(image_size=16, num_channels=32, num_res_blocks=1, channel_mult="1,2", attention_resolutions="8",
            num_head_channels=32, use_scale_shift_norm=True, resblock_updown=True)


def channel_means(x: torch.Tensor) -> torch.Tensor:
    return x.mean(dim=(2, 3))


def test_upstream_networks_have_no_head():
    """guided-diffusion checkpoints load with strict=True: no extra keys unless asked for."""
    assert not any(k.startswith("dc_head") for k in create_model(**TINY).state_dict())
    assert {"dc_head.weight", "dc_head.bias"} <= set(create_model(**TINY, dc_head=True).state_dict())
    with pytest.raises(ValueError, match="out_channels"):
        create_model(**TINY, dc_head=True, learn_sigma=True)


def test_head_adds_gain_times_input_mean_plus_offset():
    """ε̂ = out(h) + a · mean_hw(x_t) + b: with the head's weights at zero, a and b are its biases."""
    torch.manual_seed(0)
    plain, headed = create_model(**TINY), create_model(**TINY, dc_head=True)
    for p in plain.out.parameters():
        torch.nn.init.normal_(p, std=0.1)  # a non-zero output layer, so the head adds to something
    headed.load_state_dict(plain.state_dict(), strict=False)
    x, t = torch.randn(3, 3, 16, 16) + torch.tensor([0.3, -0.2, 0.1])[:, None, None], torch.tensor([999, 500, 10])
    with torch.no_grad():
        assert torch.equal(headed(x, t), plain(x, t))  # zero-initialised: the same function
        gain, offset = torch.tensor([1.0, 0.5, -2.0]), torch.tensor([0.01, 0.0, -0.3])
        headed.dc_head.bias.copy_(torch.cat([gain, offset]))
        added = headed(x, t) - plain(x, t)
    expected = gain * channel_means(x) + offset
    torch.testing.assert_close(added, expected[:, :, None, None].expand_as(added), atol=1e-6, rtol=1e-5)


def test_narrow_unet_without_head_cannot_follow_the_input_mean():
    """Why the head exists: one channel per GroupNorm group removes each channel's mean, so shifting x_t's channel
    means barely moves ε̂'s (a trained network could only guess it from texture); with the head it moves exactly."""
    torch.manual_seed(1)
    plain = create_model(**TINY)
    for p in plain.out.parameters():
        torch.nn.init.normal_(p, std=0.1)
    x, t = torch.randn(4, 3, 16, 16), torch.full((4,), 999)
    shift = torch.tensor([0.5, -0.5, 0.25])[:, None, None]
    with torch.no_grad():
        moved = channel_means(plain(x + shift, t) - plain(x, t))
    # GroupNorm sees the same normalised input, so only the conv borders (zero padding) see the shift at all
    assert float(moved.abs().max()) < 0.05 * float(shift.abs().max())
