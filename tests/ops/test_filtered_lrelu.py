"""filtered_lrelu against the upstream formulation written naively (zero insertion, full-size
convolutions), at StyleGAN3-like shapes and on small random cases; gradients of any order."""

from __future__ import annotations

import itertools
import math

import pytest
import scipy.signal
import torch
import torch.nn.functional as F

from ganforge.ops import filtered_lrelu
from ganforge.ops.filtered_lrelu import _filtered_lrelu_ref

F64 = torch.float64


def naive_upfirdn2d(x, f, up=1, down=1, pad=(0, 0, 0, 0), gain=1.0):
    """Zero insertion, F.pad / slicing, full-size depthwise convolutions, slicing."""
    n, c, h, w = x.shape
    if up > 1:
        x = x.reshape(n, c, h, 1, w, 1)
        x = F.pad(x, [0, up - 1, 0, 0, 0, up - 1]).reshape(n, c, h * up, w * up)
    x = F.pad(x, [max(pad[0], 0), max(pad[1], 0), max(pad[2], 0), max(pad[3], 0)])
    x = x[:, :, max(-pad[2], 0):x.shape[2] - max(-pad[3], 0), max(-pad[0], 0):x.shape[3] - max(-pad[1], 0)]
    if f is None:
        f = torch.ones(1, 1, dtype=x.dtype)
    f = f.to(x.dtype) * gain ** (f.ndim / 2)
    if f.ndim == 1:
        x = F.conv2d(x, f.flip(0).view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
        x = F.conv2d(x, f.flip(0).view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)
    else:
        x = F.conv2d(x, f.flip([0, 1])[None, None].repeat(c, 1, 1, 1), groups=c)
    return x[:, :, ::down, ::down]


def naive_filtered_lrelu(x, fu, fd, b, up, down, pad, gain, slope, clamp, flip=False):
    if flip:
        fu = fu.flip(list(range(fu.ndim))) if fu is not None else None
        fd = fd.flip(list(range(fd.ndim))) if fd is not None else None
    if b is not None:
        x = x + b.view(1, -1, 1, 1)
    x = naive_upfirdn2d(x, fu, up=up, pad=pad, gain=up ** 2)
    x = F.leaky_relu(x, slope) * gain
    if clamp is not None:
        x = x.clamp(-clamp, clamp)
    return naive_upfirdn2d(x, fd, down=down)


def sg3_filter(taps, cutoff, half_width, fs):
    return torch.tensor(scipy.signal.firwin(taps, cutoff, width=2 * half_width, fs=fs), dtype=torch.float32)


# (channels, in_size, up, down, up taps, down taps, padding) as in StyleGAN3-T layers
SG3_LAYERS = [
    (16, 38, 2, 2, 12, 12, (9, 8)),      # L0-L2: 36 -> 36, tmp rate 32
    (16, 38, 4, 2, 24, 12, (-6, -9)),    # L3: 36 -> 52
    (8, 54, 2, 2, 12, 12, (9, 8)),       # L4
    (8, 38, 2, 1, 12, 1, (0, 0)),        # an up-only variant
    (8, 40, 1, 2, 1, 12, (0, 0)),        # a down-only variant
    (8, 30, 2, 2, 12, 12, (-11, -12)),   # L13-like: crops to the final resolution
]


@pytest.mark.parametrize("channels,size,up,down,tu,td,pad", SG3_LAYERS)
def test_matches_upstream_formulation_at_sg3_shapes(channels, size, up, down, tu, td, pad):
    fs = 32.0 * max(up, down)
    fu = sg3_filter(tu, 2.0, 6.0, fs) if tu > 1 else None
    fd = sg3_filter(td, 2.8, 5.2, fs) if td > 1 else None
    x = torch.randn(2, channels, size, size) * 20
    b = torch.randn(channels)
    padding = [pad[0], pad[1], pad[0], pad[1]]
    y = filtered_lrelu(x, fu, fd, b, up=up, down=down, padding=padding, gain=math.sqrt(2), slope=0.2, clamp=256)
    expect = naive_filtered_lrelu(x.double(), fu, fd, b.double(), up, down, padding, math.sqrt(2), 0.2, 256)
    assert y.shape == expect.shape
    torch.testing.assert_close(y.double(), expect, rtol=1e-4, atol=1e-3)
    with torch.no_grad():  # the in-place inference path gives the same numbers
        torch.testing.assert_close(filtered_lrelu(x, fu, fd, b, up=up, down=down, padding=padding, clamp=256), y)


CASES = list(itertools.product([1, 2, 4], [1, 2], ["1d", "2d", "none"], [(0, 0, 0, 0), (3, 2, 1, 4), (-2, 1, 2, -1)]))


@pytest.mark.parametrize("up,down,kind,pad", CASES)
def test_matches_upstream_formulation_small(up, down, kind, pad):
    x = torch.randn(2, 3, 6, 5, dtype=F64)
    b = torch.randn(3, dtype=F64)
    if kind == "none":
        fu = fd = None
    elif kind == "1d":
        fu, fd = torch.randn(2 * up + 2, dtype=F64), torch.randn(5, dtype=F64)
    else:
        fu, fd = torch.randn(3, 4, dtype=F64), torch.randn(2, 3, dtype=F64)
    for gain, slope, clamp, flip in [(math.sqrt(2), 0.2, None, False), (0.7, 0.0, 0.8, True), (-1.5, 0.3, 1.0, False)]:
        try:
            y = filtered_lrelu(x, fu, fd, b, up=up, down=down, padding=pad, gain=gain, slope=slope, clamp=clamp,
                               flip_filter=flip)
        except ValueError:  # empty output for this padding; the naive version would fail too
            continue
        expect = naive_filtered_lrelu(x, fu, fd, b, up, down, pad, gain, slope, clamp, flip)
        torch.testing.assert_close(y, expect, rtol=1e-10, atol=1e-10)


def test_output_size_formula():
    for (h, w), up, down, tu, td, pad in itertools.product([(7, 9)], [1, 2, 4], [1, 2, 3], [1, 4, 12], [1, 3, 12],
                                                           [(0, 0, 1, 2), (5, 6, 7, 8)]):
        x = torch.randn(1, 1, h, w)
        fu, fd = torch.ones(tu), torch.ones(td)
        out_w = (w * up + pad[0] + pad[1] - (tu - 1) - (td - 1) + (down - 1)) // down
        out_h = (h * up + pad[2] + pad[3] - (tu - 1) - (td - 1) + (down - 1)) // down
        if out_w < 1 or out_h < 1:
            with pytest.raises(ValueError):
                filtered_lrelu(x, fu, fd, up=up, down=down, padding=pad)
            continue
        assert filtered_lrelu(x, fu, fd, up=up, down=down, padding=pad).shape == (1, 1, out_h, out_w)


def test_gradients_any_order():
    x = torch.randn(1, 2, 5, 4, dtype=F64, requires_grad=True)
    b = torch.randn(2, dtype=F64, requires_grad=True)
    fu, fd = torch.randn(6, dtype=F64), torch.randn(3, 2, dtype=F64)
    fn = lambda x, b: filtered_lrelu(x, fu, fd, b, up=2, down=2, padding=[2, 1, 3, 0], clamp=1.5)  # noqa: E731
    assert torch.autograd.gradcheck(fn, (x, b))
    assert torch.autograd.gradgradcheck(fn, (x, b))


def test_inference_never_modifies_the_input():
    x = torch.randn(1, 16, 6, 6)
    before = x.clone()
    with torch.no_grad():
        for pad in (0, -1):
            filtered_lrelu(x, None, None, None, padding=pad, clamp=0.5)
            filtered_lrelu(x.contiguous(memory_format=torch.channels_last), None, None, None, padding=pad)
    torch.testing.assert_close(x, before)


def test_layout_follows_the_input():
    x = torch.randn(1, 16, 10, 10)
    fu, fd = torch.ones(4) / 4, torch.ones(4) / 4
    y = filtered_lrelu(x, fu, fd, up=2, down=2, padding=3)
    assert y.is_contiguous()
    y_cl = filtered_lrelu(x.contiguous(memory_format=torch.channels_last), fu, fd, up=2, down=2, padding=3)
    assert y_cl.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(y, y_cl)


def test_reference_signature_matches_public():
    import inspect

    public = inspect.signature(filtered_lrelu).parameters
    ref = inspect.signature(_filtered_lrelu_ref).parameters
    assert [p for p in public if p != "impl"] == list(ref)
    assert all(public[p].default == ref[p].default for p in ref)


def test_errors():
    x = torch.randn(1, 2, 4, 4)
    with pytest.raises(ValueError, match="b must be"):
        filtered_lrelu(x, b=torch.randn(3))
    with pytest.raises(ValueError, match="up"):
        filtered_lrelu(x, up=0)
    with pytest.raises(ValueError, match="clamp"):
        filtered_lrelu(x, clamp=-2)


# -- the compiled code path, run against the Python kernel model ---------------------------------

@pytest.mark.parametrize("up,down,kind,pad", [(2, 2, "1d", (3, 2, 1, 4)), (4, 1, "2d", (-2, 1, 2, -1)),
                                              (1, 2, "none", (1, 1, 1, 1)), (2, 1, "2d", (0, 0, 0, 0))])
def test_compiled_path(fake_cuda, up, down, kind, pad):
    x = torch.randn(1, 2, 5, 4, dtype=F64, requires_grad=True)
    b = torch.randn(2, dtype=F64, requires_grad=True)
    if kind == "none":
        fu = fd = None
    elif kind == "1d":
        fu, fd = torch.randn(4, dtype=F64), torch.randn(3, dtype=F64)
    else:
        fu, fd = torch.randn(3, 4, dtype=F64), torch.randn(2, 3, dtype=F64)
    kwargs = dict(up=up, down=down, padding=pad, gain=1.3, slope=0.25, clamp=1.2, flip_filter=True)
    torch.testing.assert_close(filtered_lrelu(x, fu, fd, b, **kwargs), _filtered_lrelu_ref(x, fu, fd, b, **kwargs))
    fn = lambda x, b: filtered_lrelu(x, fu, fd, b, **kwargs)  # noqa: E731
    assert torch.autograd.gradcheck(fn, (x, b), fast_mode=True)
    assert torch.autograd.gradgradcheck(fn, (x, b), fast_mode=True)
    y = fn(x, b)
    dy = torch.randn_like(y)
    got = torch.autograd.grad(y, (x, b), dy)
    expect = torch.autograd.grad(_filtered_lrelu_ref(x, fu, fd, b, **kwargs), (x, b), dy)
    for g, e in zip(got, expect):
        torch.testing.assert_close(g, e)

