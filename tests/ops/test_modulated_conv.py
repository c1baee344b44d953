"""modulated_conv2d: StyleGAN2 semantics, fused == non-fused, against a per-sample loop."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from ganforge.nn.modulated_conv import modulated_conv2d
from ganforge.ops import conv2d_resample, setup_filter

F64 = torch.float64


def per_sample(x, weight, styles, noise, up, down, padding, f, demodulate, flip_weight):
    """Modulate, demodulate and convolve each sample on its own."""
    outs = []
    for i in range(x.shape[0]):
        w = weight * styles[i].view(1, -1, 1, 1)
        if demodulate:
            w = w / torch.sqrt(w.square().sum(dim=[1, 2, 3], keepdim=True) + 1e-8)
        outs.append(conv2d_resample(x[i:i + 1], w, f, up=up, down=down, padding=padding, flip_weight=flip_weight))
    y = torch.cat(outs)
    return y + noise if noise is not None else y


@pytest.mark.parametrize("up,down,k,padding", [(1, 1, 3, 1), (2, 1, 3, 1), (1, 2, 3, 1), (1, 1, 1, 0)])
@pytest.mark.parametrize("demodulate", [True, False])
@pytest.mark.parametrize("with_noise", [True, False])
def test_fused_and_non_fused_match_per_sample(up, down, k, padding, demodulate, with_noise):
    f = setup_filter([1, 3, 3, 1]).double() if up > 1 or down > 1 else None
    x = torch.randn(3, 4, 8, 8, dtype=F64)
    weight = torch.randn(5, 4, k, k, dtype=F64)
    styles = torch.randn(3, 4, dtype=F64)
    size = 8 * up // down
    noise = torch.randn(3, 1, size, size, dtype=F64) if with_noise else None
    flip_weight = up == 1
    expect = per_sample(x, weight, styles, noise, up, down, padding, f, demodulate, flip_weight)
    for fused in (True, False):
        y = modulated_conv2d(x, weight, styles, noise=noise, up=up, down=down, padding=padding, resample_filter=f,
                             demodulate=demodulate, flip_weight=flip_weight, fused_modconv=fused)
        torch.testing.assert_close(y, expect)


def test_demodulated_output_has_unit_weight_norm():
    x = torch.zeros(2, 6, 5, 5, dtype=F64)
    x[:, :, 2, 2] = torch.randn(2, 6, dtype=F64)  # a delta per channel: output = weights * x
    weight = torch.randn(3, 6, 1, 1, dtype=F64)
    styles = torch.rand(2, 6, dtype=F64) + 0.5
    y = modulated_conv2d(x, weight, styles)
    w = weight[None, :, :, 0, 0] * styles[:, None, :]
    w = w / w.norm(dim=2, keepdim=True)
    torch.testing.assert_close(y[:, :, 2, 2], torch.einsum("noi,ni->no", w, x[:, :, 2, 2]))


def test_fp16_pre_normalisation_avoids_overflow():
    x = torch.randn(2, 8, 6, 6)
    weight = torch.randn(4, 8, 3, 3) * 300
    styles = torch.randn(2, 8) * 300  # weight * style ~ 1e5 > fp16 max
    expect = modulated_conv2d(x, weight, styles, padding=1)
    y = modulated_conv2d(x.half(), weight, styles, padding=1)
    assert y.dtype == torch.float16 and torch.isfinite(y).all()
    torch.testing.assert_close(y.float(), expect, rtol=2e-2, atol=2e-2)


def test_gradients():
    x = torch.randn(2, 3, 5, 5, dtype=F64, requires_grad=True)
    weight = torch.randn(2, 3, 3, 3, dtype=F64, requires_grad=True)
    styles = torch.randn(2, 3, dtype=F64, requires_grad=True)
    for fused in (True, False):
        fn = lambda x, w, s: modulated_conv2d(x, w, s, padding=1, fused_modconv=fused)  # noqa: E731
        assert torch.autograd.gradcheck(fn, (x, weight, styles), fast_mode=True)
        assert torch.autograd.gradgradcheck(fn, (x, weight, styles), fast_mode=True)


def test_shape_errors():
    with pytest.raises(ValueError, match="styles"):
        modulated_conv2d(torch.randn(2, 3, 4, 4), torch.randn(2, 3, 3, 3), torch.randn(3, 3))
    with pytest.raises(ValueError, match="x must be"):
        modulated_conv2d(torch.randn(2, 4, 4, 4), torch.randn(2, 3, 3, 3), torch.randn(2, 3))


def test_matches_plain_conv_without_modulation():
    x = torch.randn(2, 4, 6, 6, dtype=F64)
    weight = torch.randn(3, 4, 3, 3, dtype=F64)
    y = modulated_conv2d(x, weight, torch.ones(2, 4, dtype=F64), padding=1, demodulate=False)
    torch.testing.assert_close(y, F.conv2d(x, weight, padding=1))
