"""Shared layers in ganforge.nn: equalized lr, pixel norm, minibatch stddev, resampling."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ganforge.nn.equalized import PADDING_MODES, EqualizedConv2d, EqualizedLinear
from ganforge.nn.minibatch_std import MinibatchStd
from ganforge.nn.normalization import PixelNorm, pixel_norm
from ganforge.nn.resample import (
    DOWNSAMPLE_MODES,
    UPSAMPLE_MODES,
    Downsample,
    Upsample,
    create_downsample,
    create_upsample,
)


@pytest.fixture(autouse=True)
def _seed_and_one_thread():
    # The tensors here are tiny: one thread is as fast, and immune to a busy machine's thread contention.
    torch.manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# ---------------------------------------------------------------------------------------------
# Equalized learning rate
# ---------------------------------------------------------------------------------------------


def test_equalized_linear_init_and_runtime_scale():
    layer = EqualizedLinear(400, 300, gain=2.0, lr_multiplier=0.5, bias_init=0.3)
    # stored weight ~ N(0, 1/lr_mul^2); runtime scale gain/sqrt(fan_in)*lr_mul
    assert layer.weight.std().item() == pytest.approx(2.0, rel=0.02)
    assert layer.weight_gain == pytest.approx(2.0 / math.sqrt(400) * 0.5)
    assert torch.all(layer.bias == 0.3)
    x = torch.randn(5, 400)
    expected = x @ (layer.weight * (2.0 / 20.0 * 0.5)).T + layer.bias * 0.5
    torch.testing.assert_close(layer(x), expected)
    # effective weight has the He std
    assert layer.effective_weight().std().item() == pytest.approx(2.0 / 20.0, rel=0.02)


def test_equalized_linear_without_wscale_is_plain_he_init():
    layer = EqualizedLinear(400, 300, gain=math.sqrt(2), use_wscale=False)
    assert layer.weight_gain == 1.0
    assert layer.weight.std().item() == pytest.approx(math.sqrt(2) / 20.0, rel=0.02)
    x = torch.randn(5, 400)
    torch.testing.assert_close(layer(x), F.linear(x, layer.weight, layer.bias))


def test_equalized_linear_no_bias_and_repr():
    layer = EqualizedLinear(8, 4, bias=False, gain=0.5)
    assert layer.bias is None and layer.effective_bias() is None
    assert "in_features=8" in repr(layer) and "gain=0.5" in repr(layer) and "bias=False" in repr(layer)


def test_equalized_conv_init_and_runtime_scale():
    conv = EqualizedConv2d(64, 32, 3, gain=math.sqrt(2))
    fan_in = 64 * 9
    assert conv.weight.std().item() == pytest.approx(1.0, rel=0.03)
    assert conv.weight_gain == pytest.approx(math.sqrt(2) / math.sqrt(fan_in))
    x = torch.randn(2, 64, 6, 6)
    expected = F.conv2d(x, conv.weight * math.sqrt(2 / fan_in), conv.bias, padding=1)
    torch.testing.assert_close(conv(x), expected)
    # both settings give the same output statistics at init: unit-variance input -> std ~ gain
    y = conv(torch.randn(8, 64, 16, 16))
    assert y.std().item() == pytest.approx(math.sqrt(2), rel=0.1)
    plain = EqualizedConv2d(64, 32, 3, gain=math.sqrt(2), use_wscale=False)
    assert plain(torch.randn(8, 64, 16, 16)).std().item() == pytest.approx(math.sqrt(2), rel=0.1)


def test_equalized_conv_lr_multiplier_scales_weight_and_bias():
    conv = EqualizedConv2d(3, 4, 1, lr_multiplier=0.1, bias_init=1.0)
    assert conv.weight.std().item() == pytest.approx(10.0, rel=0.5)
    torch.testing.assert_close(conv.effective_bias(), torch.full([4], 0.1))


@pytest.mark.parametrize("mode", PADDING_MODES)
def test_equalized_conv_padding_modes_match_torch_conv(mode):
    conv = EqualizedConv2d(3, 5, 3, padding_mode=mode)
    ref = torch.nn.Conv2d(3, 5, 3, padding=1, padding_mode=mode)
    with torch.no_grad():
        ref.weight.copy_(conv.effective_weight())
        ref.bias.copy_(torch.randn(5))
        conv.bias.copy_(ref.bias)
    x = torch.randn(2, 3, 7, 7)
    torch.testing.assert_close(conv(x), ref(x))
    if mode != "zeros":
        assert f"padding_mode={mode}" in repr(conv)


def test_equalized_conv_rejects_unknown_padding_mode():
    with pytest.raises(ValueError, match="padding_mode"):
        EqualizedConv2d(3, 3, 3, padding_mode="mirror")


# ---------------------------------------------------------------------------------------------
# PixelNorm
# ---------------------------------------------------------------------------------------------


def test_pixel_norm_matches_formula():
    x = torch.randn(3, 5, 4, 2, dtype=torch.float64)
    out = PixelNorm()(x)
    expected = torch.empty_like(x)
    for n in range(3):
        for i in range(4):
            for j in range(2):
                v = x[n, :, i, j]
                expected[n, :, i, j] = v / math.sqrt(float((v ** 2).mean()) + 1e-8)
    torch.testing.assert_close(out, expected)
    z = torch.randn(6, 10) * 7
    assert torch.allclose(pixel_norm(z).square().mean(1), torch.ones(6), atol=1e-5)
    assert "eps=1e-08" in repr(PixelNorm())


# ---------------------------------------------------------------------------------------------
# Minibatch standard deviation
# ---------------------------------------------------------------------------------------------


def _mbstd_loops(x: np.ndarray, group: int, num_channels: int) -> np.ndarray:
    N, C, H, W = x.shape
    G = min(group, N)
    M = N // G
    c = C // num_channels
    out = np.zeros((N, num_channels, H, W))
    for m in range(M):
        members = [g * M + m for g in range(G)]  # sample n sits in group n % M
        for f in range(num_channels):
            block = x[members][:, f * c:(f + 1) * c]  # [G, c, H, W]
            std = np.sqrt(((block - block.mean(0)) ** 2).mean(0) + 1e-8)
            for n in members:
                out[n, f] = std.mean()
    return np.concatenate([x, out], axis=1)


@pytest.mark.parametrize(("N", "group", "F_"), [(8, 4, 1), (8, 4, 2), (6, 16, 1), (4, 1, 1)])
def test_minibatch_std_matches_loops(N, group, F_):
    x = torch.randn(N, 4, 3, 3, dtype=torch.float64)
    out = MinibatchStd(group, num_channels=F_)(x)
    assert out.shape == (N, 4 + F_, 3, 3)
    np.testing.assert_allclose(out.numpy(), _mbstd_loops(x.numpy(), group, F_), rtol=1e-10, atol=1e-12)


def test_minibatch_std_errors():
    with pytest.raises(ValueError, match="batch size 6 is not divisible by the group size 4"):
        MinibatchStd(4)(torch.randn(6, 2, 2, 2))
    with pytest.raises(ValueError, match="num_channels=2"):
        MinibatchStd(2, num_channels=2)(torch.randn(4, 3, 2, 2))
    with pytest.raises(ValueError):
        MinibatchStd(0)
    assert "group_size=4, num_channels=1" in repr(MinibatchStd(4))


# ---------------------------------------------------------------------------------------------
# Resampling
# ---------------------------------------------------------------------------------------------

X2 = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).reshape(1, 1, 2, 2)


def test_upsample_nearest():
    expected = torch.tensor([[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4.0]])
    torch.testing.assert_close(Upsample("nearest")(X2)[0, 0], expected)


def test_upsample_bilinear_half_pixel_centres():
    # 1-D: output i samples source (i + 0.5) / 2 - 0.5, clamped at the borders
    row = [1.0, 1.25, 1.75, 2.0]
    expected = torch.tensor([row, [1.5, 1.75, 2.25, 2.5], [2.5, 2.75, 3.25, 3.5], [3.0, 3.25, 3.75, 4.0]])
    torch.testing.assert_close(Upsample("bilinear")(X2)[0, 0], expected)


def test_upsample_zeros_inserts_exact_zeros():
    x = torch.randn(2, 3, 4, 5)
    y = Upsample("zeros")(x)
    assert y.shape == (2, 3, 8, 10)
    torch.testing.assert_close(y[:, :, ::2, ::2], x, rtol=0, atol=0)
    mask = torch.ones(8, 10, dtype=torch.bool)
    mask[::2, ::2] = False
    assert torch.all(y[:, :, mask] == 0)
    y3 = Upsample("zeros", factor=3)(X2)[0, 0]
    expected = torch.zeros(6, 6)
    expected[0, 0], expected[0, 3], expected[3, 0], expected[3, 3] = 1, 2, 3, 4
    torch.testing.assert_close(y3, expected)


def test_upsample_shuffle_layout_and_channel_factor():
    x = torch.arange(8.0).reshape(1, 8, 1, 1)  # 2 output channels of 2x2
    y = Upsample("shuffle")(x)
    assert y.shape == (1, 2, 2, 2)
    # out[c, di, dj] = in[4c + 2di + dj]
    torch.testing.assert_close(y[0], torch.tensor([[[0.0, 1], [2, 3]], [[4, 5], [6, 7]]]))
    assert Upsample("shuffle").channel_factor == 4
    assert all(Upsample(m).channel_factor == 1 for m in ("nearest", "bilinear", "zeros"))


def test_downsample_avg_and_stride():
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    torch.testing.assert_close(Downsample("avg")(x)[0, 0], torch.tensor([[2.5, 4.5], [10.5, 12.5]]))
    torch.testing.assert_close(Downsample("stride")(x)[0, 0], torch.tensor([[0.0, 2.0], [8.0, 10.0]]))


def test_downsample_blurpool_hand_computed():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 6, 6))
    k = np.array([[1, 3, 1], [3, 9, 3], [1, 3, 1]]) / 25.0
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)), mode="reflect")
    blurred = np.zeros_like(x)
    for i in range(6):
        for j in range(6):
            blurred[:, :, i, j] = (padded[:, :, i:i + 3, j:j + 3] * k).sum(axis=(2, 3))
    expected = blurred.reshape(2, 3, 3, 2, 3, 2).mean(axis=(3, 5))
    out = Downsample("blurpool")(torch.from_numpy(x))
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12, atol=1e-12)
    const = Downsample("blurpool")(torch.full((1, 2, 8, 8), 3.0))
    torch.testing.assert_close(const, torch.full((1, 2, 4, 4), 3.0))
    assert Downsample("blurpool").state_dict() == {}  # the kernel is a non-persistent buffer


def test_factories_and_errors():
    assert isinstance(create_upsample("zeros"), Upsample) and create_upsample("zeros").mode == "zeros"
    assert isinstance(create_downsample("stride"), Downsample) and create_downsample("stride").factor == 2
    assert set(UPSAMPLE_MODES) == {"nearest", "bilinear", "zeros", "shuffle"}
    assert set(DOWNSAMPLE_MODES) == {"avg", "stride", "blurpool"}
    with pytest.raises(ValueError, match="nearest, bilinear, zeros, shuffle"):
        create_upsample("cubic")
    with pytest.raises(ValueError, match="avg, stride, blurpool"):
        create_downsample("max")
    assert "mode=blurpool, factor=2" in repr(create_downsample("blurpool"))


@pytest.mark.parametrize("mode", DOWNSAMPLE_MODES)
def test_downsample_double_backward(mode):
    x = torch.randn(1, 2, 6, 6, dtype=torch.float64, requires_grad=True)
    layer = Downsample(mode)
    assert torch.autograd.gradgradcheck(lambda t: layer(t).square(), (x,))
