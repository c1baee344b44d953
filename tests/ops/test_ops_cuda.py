"""Compiled CUDA kernels against the reference implementations (needs a GPU; marked ``gpu``).

Tolerances (max abs error relative to values of order 1-10):
float64 1e-10, float32 1e-4 (accumulation order differs), float16/bfloat16 inputs are compared
with the float32 reference at 1e-2 relative (storage rounding of the result).
"""

from __future__ import annotations

import math

import pytest
import torch

from ganforge.ops import _build, bias_act, filtered_lrelu, setup_filter, upfirdn2d
from ganforge.ops.bias_act import ACTIVATIONS, _bias_act_ref
from ganforge.ops.filtered_lrelu import _filtered_lrelu_ref
from ganforge.ops.upfirdn2d import _upfirdn2d_ref

pytestmark = pytest.mark.gpu
TOL = {torch.float64: dict(rtol=1e-10, atol=1e-10), torch.float32: dict(rtol=1e-4, atol=1e-4),
       torch.float16: dict(rtol=1e-2, atol=2e-2), torch.bfloat16: dict(rtol=2e-2, atol=5e-2)}


@pytest.fixture(scope="module", autouse=True)
def built():
    for name in _build.OPS:
        _build.build(name)  # fails loudly: on a GPU machine the kernels must build


def _close(got, expect, dtype):
    torch.testing.assert_close(got.float(), expect.float(), **TOL[dtype])


UPFIRDN_CASES = [
    (setup_filter([1, 3, 3, 1]), 2, 1, [2, 1, 2, 1], 4.0),   # StyleGAN2 upsample2d
    (setup_filter([1, 3, 3, 1]), 1, 2, [1, 1, 1, 1], 1.0),   # downsample2d
    (torch.randn(12), 2, 1, [6, 5, 6, 5], 4.0),              # separable 12-tap
    (torch.randn(5, 3), 1, 1, [-1, 2, 1, -2], 1.0),          # 2-D, cropping
    (torch.randn(4), 3, 2, [1, 0, 2, 1], 1.0),
]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("case", range(len(UPFIRDN_CASES)))
def test_upfirdn2d(dtype, case):
    f, up, down, pad, gain = UPFIRDN_CASES[case]
    x = torch.randn(4, 32, 37, 29, device="cuda")
    expect = _upfirdn2d_ref(x, f.cuda(), up=up, down=down, padding=pad, gain=gain)
    for xin in (x.to(dtype), x.to(dtype).contiguous(memory_format=torch.channels_last)):
        y = upfirdn2d(xin, f.cuda(), up=up, down=down, padding=pad, gain=gain, impl="cuda")
        assert y.dtype == dtype and y.shape == expect.shape
        _close(y, expect, dtype)
    assert _build.status("upfirdn2d")["state"] == "loaded"
    xr = x.detach().requires_grad_()
    y = upfirdn2d(xr, f.cuda(), up=up, down=down, padding=pad, gain=gain, impl="cuda")
    dy = torch.randn_like(y)
    (g,) = torch.autograd.grad(y, xr, dy)
    (e,) = torch.autograd.grad(_upfirdn2d_ref(xr, f.cuda(), up=up, down=down, padding=pad, gain=gain), xr, dy)
    _close(g, e, torch.float32)


def test_upfirdn2d_second_order():
    x = torch.randn(1, 2, 6, 5, device="cuda", dtype=torch.float64, requires_grad=True)
    f = torch.randn(3, 4, device="cuda", dtype=torch.float64)
    fn = lambda v: upfirdn2d(v, f, up=2, down=3, padding=[1, 2, 0, -1], impl="cuda")  # noqa: E731
    assert torch.autograd.gradcheck(fn, (x,)) and torch.autograd.gradgradcheck(fn, (x,))


@pytest.mark.parametrize("act", list(ACTIVATIONS))
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_bias_act(act, dtype):
    x = torch.randn(8, 64, 16, 16, device="cuda") * 3
    b = torch.randn(64, device="cuda")
    for clamp in (None, 2.0):
        kwargs = dict(act=act, alpha=0.3, gain=1.2, clamp=clamp)
        _close(bias_act(x.to(dtype), b.to(dtype), impl="cuda", **kwargs), _bias_act_ref(x, b, **kwargs), dtype)
    xd = torch.randn(2, 3, 4, device="cuda", dtype=torch.float64, requires_grad=True)
    bd = torch.randn(3, device="cuda", dtype=torch.float64, requires_grad=True)
    fn = lambda x, b: bias_act(x, b, act=act, alpha=0.3, gain=1.2, clamp=2.5, impl="cuda")  # noqa: E731
    assert torch.autograd.gradcheck(fn, (xd, bd)) and torch.autograd.gradgradcheck(fn, (xd, bd))


SG3 = [(64, 38, 2, 2, 12, 12, (9, 8)), (64, 38, 4, 2, 24, 12, (-6, -9)), (32, 278, 2, 2, 12, 12, (-11, -12))]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
@pytest.mark.parametrize("channels,size,up,down,tu,td,pad", SG3)
def test_filtered_lrelu(dtype, channels, size, up, down, tu, td, pad):
    import scipy.signal

    fs = 32.0 * max(up, down)
    fu = torch.tensor(scipy.signal.firwin(tu, 2.0, width=12.0, fs=fs), dtype=torch.float32, device="cuda")
    fd = torch.tensor(scipy.signal.firwin(td, 2.8, width=10.4, fs=fs), dtype=torch.float32, device="cuda")
    x = torch.randn(4, channels, size, size, device="cuda") * 10
    b = torch.randn(channels, device="cuda")
    kwargs = dict(up=up, down=down, padding=[pad[0], pad[1], pad[0], pad[1]], gain=math.sqrt(2), clamp=256)
    expect = _filtered_lrelu_ref(x, fu, fd, b, **kwargs)
    _close(filtered_lrelu(x.to(dtype), fu, fd, b.to(dtype), impl="cuda", **kwargs), expect, dtype)
    xr, br = x.detach().requires_grad_(), b.detach().requires_grad_()
    y = filtered_lrelu(xr, fu, fd, br, impl="cuda", **kwargs)
    dy = torch.randn_like(y)
    got = torch.autograd.grad(y, (xr, br), dy)
    ref = torch.autograd.grad(_filtered_lrelu_ref(xr, fu, fd, br, **kwargs), (xr, br), dy)
    _close(got[0], ref[0], torch.float32)
    torch.testing.assert_close(got[1], ref[1], rtol=1e-3, atol=1e-1)  # a sum over N*H*W samples


def test_filtered_lrelu_second_order():
    x = torch.randn(1, 2, 5, 4, device="cuda", dtype=torch.float64, requires_grad=True)
    b = torch.randn(2, device="cuda", dtype=torch.float64, requires_grad=True)
    fu = torch.randn(8, device="cuda", dtype=torch.float64)
    fd = torch.randn(3, 2, device="cuda", dtype=torch.float64)
    fn = lambda x, b: filtered_lrelu(x, fu, fd, b, up=2, down=2, padding=[3, 2, 1, 4], clamp=1.1,  # noqa: E731
                                     impl="cuda")
    assert torch.autograd.gradcheck(fn, (x, b)) and torch.autograd.gradgradcheck(fn, (x, b))
