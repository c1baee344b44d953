"""conv2d_gradfix: same values and gradients as PyTorch, any order, and no_weight_gradients."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from ganforge.ops import conv2d_gradfix, no_weight_gradients

F64 = torch.float64


def _inputs(transpose=False):
    x = torch.randn(2, 4, 6, 5, dtype=F64, requires_grad=True)
    w = torch.randn(4 if transpose else 6, 3 if transpose else 2, 3, 3, dtype=F64, requires_grad=True)
    b = torch.randn(6, dtype=F64, requires_grad=True)
    return x, w, b


CONV = dict(stride=2, padding=1, dilation=1, groups=2)
CONVT = dict(stride=2, padding=1, output_padding=1, groups=2, dilation=1)


def test_matches_native_values_and_gradients():
    for transpose in (False, True):
        x, w, b = _inputs(transpose)
        ours = conv2d_gradfix.conv_transpose2d(x, w, b, **CONVT) if transpose else conv2d_gradfix.conv2d(x, w, b, **CONV)
        native = F.conv_transpose2d(x, w, b, **CONVT) if transpose else F.conv2d(x, w, b, **CONV)
        torch.testing.assert_close(ours, native)
        dy = torch.randn_like(ours)
        for g_ours, g_native in zip(torch.autograd.grad(ours, (x, w, b), dy), torch.autograd.grad(native, (x, w, b), dy)):
            torch.testing.assert_close(g_ours, g_native)


@pytest.mark.parametrize("transpose", [False, True])
@pytest.mark.parametrize("stride,padding,dilation", [(1, 0, 1), (2, 1, 1), (1, 2, 2), (3, 1, 1)])
def test_gradients_any_order(transpose, stride, padding, dilation):
    x = torch.randn(1, 2, 5, 6, dtype=F64, requires_grad=True)
    w = torch.randn(2, 2, 2, 3, dtype=F64, requires_grad=True)
    b = torch.randn(2, dtype=F64, requires_grad=True)
    if transpose:
        fn = lambda x, w, b: conv2d_gradfix.conv_transpose2d(x, w, b, stride, padding, 0, 1, dilation)  # noqa: E731
    else:
        fn = lambda x, w, b: conv2d_gradfix.conv2d(x, w, b, stride, padding, dilation)  # noqa: E731
    assert torch.autograd.gradcheck(fn, (x, w, b))
    assert torch.autograd.gradgradcheck(fn, (x, w, b))


@pytest.mark.parametrize("transpose", [False, True])
def test_no_weight_gradients_skips_dw_only(transpose, monkeypatch):
    calls = []
    real = conv2d_gradfix._weight_grad
    monkeypatch.setattr(conv2d_gradfix, "_weight_grad", lambda *a: calls.append(1) or real(*a))
    x, w, b = _inputs(transpose)
    op = (lambda x, w: conv2d_gradfix.conv_transpose2d(x, w, None, **CONVT)) if transpose else \
        (lambda x, w: conv2d_gradfix.conv2d(x, w, None, **CONV))
    native = (lambda x, w: F.conv_transpose2d(x, w, None, **CONVT)) if transpose else \
        (lambda x, w: F.conv2d(x, w, None, **CONV))
    w.grad = torch.ones_like(w)  # an existing gradient must stay as it is
    with no_weight_gradients():
        assert conv2d_gradfix.weight_gradients_disabled
        op(x, w).square().sum().backward()
    assert not conv2d_gradfix.weight_gradients_disabled
    assert calls == []  # dL/dW was never computed
    torch.testing.assert_close(w.grad, torch.ones_like(w))
    (expect,) = torch.autograd.grad(native(x, w).square().sum(), x)
    torch.testing.assert_close(x.grad, expect)
    w.grad = None
    x.grad = None
    with no_weight_gradients():
        op(x, w).sum().backward()
    assert w.grad is None and x.grad is not None
    with no_weight_gradients(disable=False):
        op(x, w).sum().backward()
    assert w.grad is not None and calls


def test_r1_style_penalty_gradients_match_native():
    """grad wrt x inside no_weight_gradients (create_graph), then the penalty's dW as usual."""
    x = torch.randn(2, 3, 6, 6, dtype=F64, requires_grad=True)
    w1 = torch.randn(4, 3, 3, 3, dtype=F64, requires_grad=True)
    w2 = torch.randn(1, 4, 3, 3, dtype=F64, requires_grad=True)

    def d(conv, x):
        return conv(torch.tanh(conv(x, w1, None, 1, 1)), w2, None, 2, 1).sum()

    with no_weight_gradients():
        (g,) = torch.autograd.grad(d(conv2d_gradfix.conv2d, x), x, create_graph=True)
    ours = torch.autograd.grad(g.square().sum(), (w1, w2))
    (g_native,) = torch.autograd.grad(d(F.conv2d, x), x, create_graph=True)
    native = torch.autograd.grad(g_native.square().sum(), (w1, w2))
    for a, b in zip(ours, native):
        torch.testing.assert_close(a, b)


def test_native_path_when_disabled_or_without_grad(monkeypatch):
    x = torch.randn(1, 2, 4, 4)
    w = torch.randn(2, 2, 3, 3, requires_grad=True)
    assert "_Conv2d" in type(conv2d_gradfix.conv2d(x, w).grad_fn).__name__
    monkeypatch.setattr(conv2d_gradfix, "enabled", False)
    assert "Convolution" in type(conv2d_gradfix.conv2d(x, w).grad_fn).__name__
    with torch.no_grad():
        assert conv2d_gradfix.conv2d(x, w).grad_fn is None
    torch.testing.assert_close(conv2d_gradfix.conv2d(x, w, padding="same"), F.conv2d(x, w, padding="same"))
