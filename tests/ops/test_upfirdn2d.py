"""upfirdn2d and its helpers against a direct float64 implementation (explicit loops)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from ganforge.core.errors import OpsError
from ganforge.ops import downsample2d, filter2d, setup_filter, upfirdn2d, upsample2d
from ganforge.ops.upfirdn2d import _upfirdn2d_ref

F64 = torch.float64


def direct_upfirdn2d(x, f, up=(1, 1), down=(1, 1), pad=(0, 0, 0, 0), flip=False, gain=1.0):
    """Zero-insert, pad, convolve (true convolution unless flip), decimate: explicit loops."""
    n, c, h, w = x.shape
    upx, upy = up
    downx, downy = down
    f = np.ones((1, 1)) if f is None else f.double().numpy()
    if f.ndim == 1:
        f = np.outer(f, f)  # separable filters act like their outer product
    f = f * gain
    fh, fw = f.shape
    z = np.zeros((n, c, h * upy, w * upx))
    z[:, :, ::upy, ::upx] = x.double().numpy()
    x0, x1, y0, y1 = pad
    zp = np.zeros((n, c, h * upy + max(y0, 0) + max(y1, 0), w * upx + max(x0, 0) + max(x1, 0)))
    zp[:, :, max(y0, 0):max(y0, 0) + h * upy, max(x0, 0):max(x0, 0) + w * upx] = z
    zp = zp[:, :, max(-y0, 0):zp.shape[2] - max(-y1, 0), max(-x0, 0):zp.shape[3] - max(-x1, 0)]
    kernel = f if flip else f[::-1, ::-1]  # correlation weights
    windows = np.lib.stride_tricks.sliding_window_view(zp, (fh, fw), axis=(2, 3))  # [n, c, oh, ow, fh, fw]
    out = np.einsum("ncabij,ij->ncab", windows, kernel)
    return torch.from_numpy(out[:, :, ::downy, ::downx].copy())


def _filter(kind: str, taps: int) -> torch.Tensor:
    if kind == "1d":
        return torch.randn(taps, dtype=F64)
    return torch.randn(taps, taps + 1, dtype=F64)  # non-square 2-D


PADS = [(0, 0, 0, 0), (2, 1, 1, 3), (-1, 2, 3, -2), (-2, -1, -1, -2)]


@pytest.mark.parametrize("up,down", [(1, 1), (2, 1), (1, 2), (3, 1), (2, 2), (4, 2), (1, 3)])
@pytest.mark.parametrize("kind", ["1d", "2d"])
@pytest.mark.parametrize("taps", [1, 2, 3, 4, 5])
def test_matches_direct_implementation(up, down, kind, taps):
    x = torch.randn(2, 3, 5, 6, dtype=F64)
    f = _filter(kind, taps)
    for pad, flip, gain in itertools.product(PADS, [False, True], [1.0, 2.5]):
        if 6 * up + pad[0] + pad[1] < f.shape[-1] or 5 * up + pad[2] + pad[3] < f.shape[0]:
            continue
        y = upfirdn2d(x, f, up=up, down=down, padding=pad, flip_filter=flip, gain=gain)
        expect = direct_upfirdn2d(x, f, (up, up), (down, down), pad, flip, gain)
        torch.testing.assert_close(y, expect, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("up,down,pad", [([2, 1], [1, 2], [1, 0, 0, 2]), ([1, 3], [2, 1], [0, 1, 2, 2]),
                                         ([3, 2], [2, 3], 1), ([1, 1], [2, 1], [2, 3])])
@pytest.mark.parametrize("kind", ["1d", "2d"])
def test_anisotropic_factors_and_padding_forms(up, down, pad, kind):
    x = torch.randn(1, 2, 7, 6, dtype=F64)
    f = _filter(kind, 4)
    pad4 = (pad,) * 4 if isinstance(pad, int) else (tuple(pad) if len(pad) == 4 else (pad[0], pad[0], pad[1], pad[1]))
    y = upfirdn2d(x, f, up=up, down=down, padding=pad)
    torch.testing.assert_close(y, direct_upfirdn2d(x, f, tuple(up), tuple(down), pad4), rtol=1e-10, atol=1e-10)


def test_none_filter_is_identity_resampling():
    x = torch.randn(2, 3, 4, 5, dtype=F64)
    before = x.clone()
    same = upfirdn2d(x, None)
    torch.testing.assert_close(same, x)
    same.add_(1)  # a new tensor, not an alias of the input
    torch.testing.assert_close(x, before)
    y = upfirdn2d(x, None, up=2, padding=[0, -1, 0, -1])
    assert y.shape == (2, 3, 7, 9)
    torch.testing.assert_close(y[:, :, ::2, ::2], x)
    assert y[:, :, 1::2].abs().max() == 0
    torch.testing.assert_close(upfirdn2d(x, None, down=2), x[:, :, ::2, ::2])


@settings(max_examples=60, deadline=None)
@given(h=st.integers(1, 9), w=st.integers(1, 9), up=st.integers(1, 4), down=st.integers(1, 4),
       taps=st.integers(1, 6), separable=st.booleans(), pads=st.lists(st.integers(-3, 6), min_size=4, max_size=4))
def test_output_size_formula_and_values(h, w, up, down, taps, separable, pads):
    f = torch.rand(taps, dtype=F64) if separable else torch.rand(taps, taps, dtype=F64)
    x = torch.randn(1, 2, h, w, dtype=F64)
    out_w = (w * up + pads[0] + pads[1] - taps) // down + 1
    out_h = (h * up + pads[2] + pads[3] - taps) // down + 1
    if w * up + pads[0] + pads[1] < taps or h * up + pads[2] + pads[3] < taps:
        with pytest.raises(ValueError, match="empty output"):
            upfirdn2d(x, f, up=up, down=down, padding=pads)
        return
    y = upfirdn2d(x, f, up=up, down=down, padding=pads)
    assert y.shape == (1, 2, out_h, out_w)
    torch.testing.assert_close(y, direct_upfirdn2d(x, f, (up, up), (down, down), tuple(pads)), rtol=1e-10, atol=1e-10)


def test_gradients_any_order():
    x = torch.randn(1, 2, 5, 4, dtype=F64, requires_grad=True)
    f1 = torch.randn(4, dtype=F64)
    f2 = torch.randn(3, 2, dtype=F64)
    for fn in (lambda v: upfirdn2d(v, f1, up=2, padding=[1, 2, -1, 2]),
               lambda v: upfirdn2d(v, f2, down=2, padding=[1, 0, 2, 1], flip_filter=True, gain=3),
               lambda v: upfirdn2d(v, f1, up=[1, 2], down=[2, 1], padding=1)):
        assert torch.autograd.gradcheck(fn, (x,))
        assert torch.autograd.gradgradcheck(fn, (x,))


def test_backward_is_upfirdn2d_with_swapped_factors():
    """The gradient formula the compiled path uses, checked against autograd of the reference."""
    x = torch.randn(2, 3, 7, 6, dtype=F64, requires_grad=True)
    f = torch.randn(5, 3, dtype=F64)
    up, down, (px0, px1, py0, py1) = 2, 3, (1, -1, 2, 0)
    y = upfirdn2d(x, f, up=up, down=down, padding=[px0, px1, py0, py1], gain=2)
    dy = torch.randn_like(y)
    (dx,) = torch.autograd.grad(y, x, dy)
    fh, fw = f.shape
    pads = [fw - px0 - 1, 6 * up - y.shape[3] * down + px0 - up + 1, fh - py0 - 1, 7 * up - y.shape[2] * down + py0 - up + 1]
    torch.testing.assert_close(upfirdn2d(dy, f, up=down, down=up, padding=pads, flip_filter=True, gain=2), dx)


@pytest.mark.parametrize("dtype,tol", [(torch.float32, 1e-5), (torch.bfloat16, 3e-2), (torch.float16, 3e-3)])
@pytest.mark.parametrize("channels", [3, 16])
def test_low_precision_and_channels_last(dtype, tol, channels):
    x = torch.randn(2, channels, 9, 10, dtype=F64)
    f = setup_filter([1, 3, 3, 1])
    expect = direct_upfirdn2d(x, f, (2, 2), (1, 1), (2, 1, 2, 1), False, 4.0)
    for xin in (x.to(dtype), x.to(dtype).contiguous(memory_format=torch.channels_last)):
        y = upfirdn2d(xin, f, up=2, padding=[2, 1, 2, 1], gain=4)
        assert y.dtype == dtype
        channels_last = xin.is_contiguous(memory_format=torch.channels_last) and not xin.is_contiguous()
        assert y.is_contiguous(memory_format=torch.channels_last if channels_last else torch.contiguous_format)
        torch.testing.assert_close(y.double(), expect, rtol=tol, atol=tol * 4)


def test_setup_filter_rules():
    f = setup_filter([1, 3, 3, 1])
    assert f.shape == (4, 4) and f.dtype == torch.float32
    torch.testing.assert_close(f, torch.outer(torch.tensor([1., 3, 3, 1]), torch.tensor([1., 3, 3, 1])) / 64)
    assert setup_filter(None).shape == (1, 1) and float(setup_filter(None)) == 1
    assert setup_filter(5.0).shape == (1, 1) and float(setup_filter(5.0)) == 1
    taps8 = np.arange(1, 9, dtype=np.float32)
    f8 = setup_filter(taps8)
    assert f8.shape == (8,) and abs(float(f8.sum()) - 1) < 1e-6  # >= 8 taps stay separable
    assert setup_filter(taps8, separable=False).shape == (8, 8)
    assert setup_filter([1, 2], separable=True).shape == (2,)
    torch.testing.assert_close(setup_filter([1, 2, 3], flip_filter=True, normalize=False),
                               torch.outer(torch.tensor([3., 2, 1]), torch.tensor([3., 2, 1])))
    torch.testing.assert_close(setup_filter([1, 1], gain=4, normalize=True), torch.full((2, 2), 1.0))
    torch.testing.assert_close(setup_filter(taps8, gain=4, normalize=False), torch.from_numpy(taps8) * 2)
    with pytest.raises(ValueError):
        setup_filter(torch.ones(2, 2), separable=True)


@pytest.mark.parametrize("fshape", [(4,), (4, 4), (5, 3), (8,), (1, 1)])
def test_helpers_use_documented_padding(fshape):
    x = torch.randn(1, 2, 8, 9, dtype=F64)
    f = torch.rand(fshape, dtype=F64) + 0.1
    fw = fshape[-1]
    fh = fshape[0]
    torch.testing.assert_close(filter2d(x, f, padding=1),
                               upfirdn2d(x, f, padding=[1 + fw // 2, 1 + (fw - 1) // 2, 1 + fh // 2, 1 + (fh - 1) // 2]))
    torch.testing.assert_close(upsample2d(x, f, up=2),
                               upfirdn2d(x, f, up=2, gain=4, padding=[(fw + 1) // 2, (fw - 2) // 2, (fh + 1) // 2, (fh - 2) // 2]))
    torch.testing.assert_close(downsample2d(x, f, down=2, gain=0.5),
                               upfirdn2d(x, f, down=2, gain=0.5, padding=[(fw - 1) // 2, (fw - 2) // 2, (fh - 1) // 2, (fh - 2) // 2]))
    if fw % 2 == 0 and fh % 2 == 0:
        assert upsample2d(x, f).shape == (1, 2, 16, 18)
        assert downsample2d(x, f).shape == (1, 2, 4, 4)
    if fw % 2 == 1 and fh % 2 == 1:
        assert filter2d(x, f).shape == x.shape


def test_resampling_preserves_constants():
    x = torch.full((1, 1, 12, 12), 3.0, dtype=F64)
    f = setup_filter([1, 3, 3, 1]).double()
    up = upsample2d(x, f)
    torch.testing.assert_close(up[:, :, 3:-3, 3:-3], torch.full_like(up[:, :, 3:-3, 3:-3], 3.0))
    down = downsample2d(x, f)
    torch.testing.assert_close(down[:, :, 1:-1, 1:-1], torch.full_like(down[:, :, 1:-1, 1:-1], 3.0))


def test_reference_signature_matches_public():
    import inspect

    public = inspect.signature(upfirdn2d).parameters
    ref = inspect.signature(_upfirdn2d_ref).parameters
    assert [p for p in public if p != "impl"] == list(ref)
    assert all(public[p].default == ref[p].default for p in ref)


def test_errors():
    x = torch.randn(1, 1, 4, 4)
    with pytest.raises(ValueError, match="empty output"):
        upfirdn2d(x, torch.ones(6), padding=0)
    with pytest.raises(ValueError, match="padding"):
        upfirdn2d(x, None, padding=[1, 2, 3])
    with pytest.raises(ValueError, match=">= 1"):
        upfirdn2d(x, None, up=0)
    with pytest.raises(ValueError, match="4-D"):
        upfirdn2d(x[0], None)
    with pytest.raises(ValueError, match="impl"):
        upfirdn2d(x, None, impl="fast")
    with pytest.raises(OpsError, match="CUDA"):
        upfirdn2d(x, None, impl="cuda")


# -- the compiled code path, run against the Python kernel model ---------------------------------

@pytest.mark.parametrize("up,down,kind,pad", [(2, 1, "1d", (2, 1, 2, 1)), (1, 2, "2d", (1, 2, 0, 1)),
                                              (3, 2, "1d", (-1, 2, 1, -2)), (1, 1, "2d", (0, 0, 1, 1)),
                                              (2, 2, "2d", (1, 1, 2, 2))])
def test_compiled_path_matches_reference(fake_cuda, up, down, kind, pad):
    x = torch.randn(1, 2, 5, 4, dtype=F64, requires_grad=True)
    f = _filter(kind, 3)
    kwargs = dict(up=up, down=down, padding=pad, flip_filter=True, gain=1.5)
    y = upfirdn2d(x, f, **kwargs)
    torch.testing.assert_close(y, _upfirdn2d_ref(x, f, **kwargs))
    fn = lambda v: upfirdn2d(v, f, **kwargs)  # noqa: E731
    assert torch.autograd.gradcheck(fn, (x,), fast_mode=True)
    assert torch.autograd.gradgradcheck(fn, (x,), fast_mode=True)


@pytest.mark.parametrize("up,taps", [(2, 12), (4, 24), (2, 6), (3, 7)])
@pytest.mark.parametrize("extra", [0, 1, 2, 3])
def test_polyphase_end_padding_paths(up, taps, extra):
    """StyleGAN3's paddings (taps - 1 at both ends, plus a little): the zeros past the end come from
    conv_transpose2d's output_padding when fewer than ``up`` are needed, else from an explicit pad."""
    f = torch.rand(taps, dtype=F64)
    x = torch.randn(1, 3, 7, 6, dtype=F64)
    pad = (taps - 1, taps - 1 + extra, taps - 2, taps - 1 + extra)
    y = upfirdn2d(x, f, up=up, padding=pad)
    torch.testing.assert_close(y, direct_upfirdn2d(x, f, (up, up), (1, 1), pad), rtol=1e-10, atol=1e-10)
