"""bias_act against explicit formulas; gradients of the reference and of the compiled path."""

from __future__ import annotations

import math

import pytest
import torch

from ganforge.ops import ACTIVATIONS, bias_act
from ganforge.ops.bias_act import _bias_act_ref

F64 = torch.float64
SQRT2 = math.sqrt(2)


def _sigmoid(v: float) -> float:
    return 1 / (1 + math.exp(-v))


FORMULAS = {  # name: (f(v, alpha), default alpha, default gain)
    "linear": (lambda v, a: v, 0.0, 1.0),
    "relu": (lambda v, a: max(v, 0.0), 0.0, SQRT2),
    "lrelu": (lambda v, a: v if v > 0 else a * v, 0.2, SQRT2),
    "tanh": (lambda v, a: math.tanh(v), 0.0, 1.0),
    "sigmoid": (lambda v, a: _sigmoid(v), 0.0, 1.0),
    "elu": (lambda v, a: v if v > 0 else math.exp(v) - 1, 0.0, 1.0),
    "selu": (lambda v, a: 1.0507009873554805 * (v if v > 0 else 1.6732632423543772 * (math.exp(v) - 1)), 0.0, 1.0),
    "softplus": (lambda v, a: math.log1p(math.exp(v)), 0.0, 1.0),
    "swish": (lambda v, a: v * _sigmoid(v), 0.0, SQRT2),
}


def explicit(x, b, dim, act, alpha, gain, clamp):
    f, def_alpha, def_gain = FORMULAS[act]
    alpha = def_alpha if alpha is None else alpha
    gain = def_gain if gain is None else gain
    out = torch.empty_like(x, dtype=F64)
    for idx in torch.cartesian_prod(*[torch.arange(n) for n in x.shape]).reshape(-1, x.ndim).tolist():
        v = float(x[tuple(idx)]) + (float(b[idx[dim]]) if b is not None else 0.0)
        y = f(v, alpha) * gain
        if clamp is not None:
            y = min(max(y, -clamp), clamp)
        out[tuple(idx)] = y
    return out


def test_activation_table():
    assert set(ACTIVATIONS) == set(FORMULAS)
    for name, (_, alpha, gain) in FORMULAS.items():
        assert ACTIVATIONS[name].def_alpha == pytest.approx(alpha)
        assert ACTIVATIONS[name].def_gain == pytest.approx(gain)
    assert not ACTIVATIONS["lrelu"].has_2nd_grad and ACTIVATIONS["tanh"].has_2nd_grad


@pytest.mark.parametrize("act", list(FORMULAS))
@pytest.mark.parametrize("dim,shape", [(1, (2, 3, 2, 2)), (0, (3, 4)), (2, (2, 2, 3))])
def test_matches_explicit_formula(act, dim, shape):
    x = torch.randn(shape, dtype=F64) * 2
    b = torch.randn(shape[dim], dtype=F64)
    for kwargs in ({}, {"alpha": 0.3, "gain": 0.7, "clamp": 0.9}, {"clamp": 0.0}):
        torch.testing.assert_close(bias_act(x, b, dim=dim, act=act, **kwargs),
                                   explicit(x, b, dim, act, kwargs.get("alpha"), kwargs.get("gain"), kwargs.get("clamp")))
    torch.testing.assert_close(bias_act(x, None, dim=dim, act=act), explicit(x, None, dim, act, None, None, None))


@pytest.mark.parametrize("act", list(FORMULAS))
def test_reference_gradients_any_order(act):
    x = (torch.randn(2, 3, 2, dtype=F64) * 2).requires_grad_()
    b = torch.randn(3, dtype=F64, requires_grad=True)
    fn = lambda x, b: bias_act(x, b, act=act, alpha=0.3, gain=1.3, clamp=2.5)  # noqa: E731
    assert torch.autograd.gradcheck(fn, (x, b))
    assert torch.autograd.gradgradcheck(fn, (x, b))


def test_no_grad_path_never_modifies_the_input():
    x = torch.randn(4, 5)
    before = x.clone()
    for act in FORMULAS:
        bias_act(x, None, act=act, gain=2.0, clamp=0.5)
        bias_act(x, torch.randn(5), act=act)
    torch.testing.assert_close(x, before)
    assert bias_act(x) is x  # nothing to do


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_dtypes_and_layout(dtype):
    x = torch.randn(2, 8, 3, 3, dtype=dtype).contiguous(memory_format=torch.channels_last)
    b = torch.randn(8, dtype=dtype)
    y = bias_act(x, b, act="lrelu", clamp=1.0)
    assert y.dtype == dtype and y.shape == x.shape
    expect = explicit(x.double(), b.double(), 1, "lrelu", None, None, 1.0)
    torch.testing.assert_close(y.double(), expect, rtol=1e-2, atol=1e-2)


def test_errors():
    x = torch.randn(2, 3)
    with pytest.raises(ValueError, match="unknown activation"):
        bias_act(x, act="gelu")
    with pytest.raises(ValueError, match="clamp"):
        bias_act(x, clamp=-1)
    with pytest.raises(ValueError, match="size"):
        bias_act(x, torch.randn(2))
    with pytest.raises(ValueError, match="dim"):
        bias_act(x, torch.randn(3), dim=4)


def test_reference_signature_matches_public():
    import inspect

    public = inspect.signature(bias_act).parameters
    ref = inspect.signature(_bias_act_ref).parameters
    assert [p for p in public if p != "impl"] == list(ref)


# -- the compiled code path, run against the Python kernel model ---------------------------------

@pytest.mark.parametrize("act", list(FORMULAS))
def test_compiled_path_first_and_second_order(fake_cuda, act):
    x = (torch.randn(2, 3, 2, dtype=F64) * 2).requires_grad_()
    b = torch.randn(3, dtype=F64, requires_grad=True)
    kwargs = dict(act=act, alpha=0.3, gain=1.3, clamp=2.5)
    torch.testing.assert_close(bias_act(x, b, **kwargs), _bias_act_ref(x, b, **kwargs))
    fn = lambda x, b: bias_act(x, b, **kwargs)  # noqa: E731
    assert torch.autograd.gradcheck(fn, (x, b))
    assert torch.autograd.gradgradcheck(fn, (x, b))


def test_compiled_path_refuses_third_order_when_it_would_be_wrong(fake_cuda):
    x = torch.randn(5, dtype=F64, requires_grad=True)
    y = bias_act(x, act="tanh", dim=0)
    (g,) = torch.autograd.grad(y.sum(), x, create_graph=True)
    (gg,) = torch.autograd.grad(g.sum(), x, create_graph=True)
    with pytest.raises(NotImplementedError, match="third-order"):
        torch.autograd.grad(gg.sum(), x)
    # piecewise-linear activations have exact (zero) higher derivatives
    y = bias_act(x, act="lrelu", dim=0)
    (g,) = torch.autograd.grad(y.sum(), x, create_graph=True)
    (gg,) = torch.autograd.grad(g.sum(), x, create_graph=True)
    assert gg.abs().max() == 0
