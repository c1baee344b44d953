"""Fused bias + activation + gain + clamp (``bias_act``).

``y = clamp(act(x + b) * gain, -clamp, +clamp)``, each step optional; ``b`` is broadcast along
``dim``. The reference path is plain PyTorch (in-place when no gradient is recorded), so it has
gradients of any order. The compiled kernel supports first and second order gradients; its
third-order gradient is refused for activations whose second derivative is not zero.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from . import _build
from ._utils import requires_grad, wants_channels_last

__all__ = ["Activation", "ACTIVATIONS", "bias_act"]


@dataclass(frozen=True)
class Activation:
    """An activation ``bias_act`` knows: its function, defaults, and kernel index."""

    name: str
    func: Callable[[torch.Tensor, float], torch.Tensor]
    def_alpha: float
    def_gain: float
    cuda_idx: int
    has_2nd_grad: bool
    inplace: Callable[[torch.Tensor, float], torch.Tensor] | None = None


def _swish_(x: torch.Tensor, alpha: float) -> torch.Tensor:
    return x.mul_(torch.sigmoid(x))


_SQRT2 = math.sqrt(2)

#: name -> :class:`Activation`. ``def_gain`` is what layers use to keep the activation variance.
ACTIVATIONS: dict[str, Activation] = {
    a.name: a
    for a in (
        Activation("linear", lambda x, alpha: x, 0, 1, 1, False, lambda x, alpha: x),
        Activation("relu", lambda x, alpha: F.relu(x), 0, _SQRT2, 2, False, lambda x, alpha: x.relu_()),
        Activation("lrelu", lambda x, alpha: F.leaky_relu(x, alpha), 0.2, _SQRT2, 3, False,
                   lambda x, alpha: F.leaky_relu_(x, alpha)),
        Activation("tanh", lambda x, alpha: torch.tanh(x), 0, 1, 4, True, lambda x, alpha: x.tanh_()),
        Activation("sigmoid", lambda x, alpha: torch.sigmoid(x), 0, 1, 5, True, lambda x, alpha: x.sigmoid_()),
        Activation("elu", lambda x, alpha: F.elu(x), 0, 1, 6, True, lambda x, alpha: F.elu_(x)),
        Activation("selu", lambda x, alpha: F.selu(x), 0, 1, 7, True, lambda x, alpha: F.selu_(x)),
        Activation("softplus", lambda x, alpha: F.softplus(x), 0, 1, 8, True),
        Activation("swish", lambda x, alpha: torch.sigmoid(x) * x, 0, _SQRT2, 9, True, _swish_),
    )
}


def _resolve(x: torch.Tensor, b: torch.Tensor | None, dim: int, act: str, alpha: float | None,
             gain: float | None, clamp: float | None) -> tuple[Activation, float, float, float, int]:
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise TypeError(f"bias_act: x must be a floating-point tensor, got {getattr(x, 'dtype', type(x))}")
    try:
        spec = ACTIVATIONS[act]
    except KeyError:
        raise ValueError(f"bias_act: unknown activation {act!r}; choose from {', '.join(ACTIVATIONS)}") from None
    if clamp is not None and clamp < 0:
        raise ValueError(f"bias_act: clamp must be None or >= 0, got {clamp}")
    if not -x.ndim <= dim < max(x.ndim, 1):
        raise ValueError(f"bias_act: dim={dim} is out of range for a {x.ndim}-D tensor")
    dim = dim % x.ndim
    if b is not None:
        if not isinstance(b, torch.Tensor) or b.ndim != 1 or b.shape[0] != x.shape[dim]:
            raise ValueError(f"bias_act: b must be 1-D of size x.shape[{dim}] = {x.shape[dim]}, got "
                             f"{tuple(b.shape) if isinstance(b, torch.Tensor) else type(b).__name__}")
    alpha = float(alpha if alpha is not None else spec.def_alpha)
    gain = float(gain if gain is not None else spec.def_gain)
    return spec, alpha, gain, float(clamp if clamp is not None else -1), dim


def _bias_act_ref(x: torch.Tensor, b: torch.Tensor | None = None, dim: int = 1, act: str = "linear",
                  alpha: float | None = None, gain: float | None = None, clamp: float | None = None) -> torch.Tensor:
    """Pure-PyTorch :func:`bias_act` (same arguments, no ``impl``)."""
    spec, alpha, gain, clamp_value, dim = _resolve(x, b, dim, act, alpha, gain, clamp)
    if b is not None:
        shape = [-1 if i == dim else 1 for i in range(x.ndim)]
        x = x + b.to(x.dtype).reshape(shape)
        owned = True  # a fresh tensor we may overwrite
    else:
        owned = False
    if requires_grad(x):
        x = spec.func(x, alpha)
        if gain != 1:
            x = x * gain
        if clamp_value >= 0:
            x = x.clamp(-clamp_value, clamp_value)
        return x
    if spec.name != "linear":
        if owned and spec.inplace is not None:
            x = spec.inplace(x, alpha)
        else:
            x, owned = spec.func(x, alpha), True
    if gain != 1:
        x, owned = (x.mul_(gain) if owned else x * gain), True
    if clamp_value >= 0:
        x = x.clamp_(-clamp_value, clamp_value) if owned else x.clamp(-clamp_value, clamp_value)
    return x


# -- compiled implementation ---------------------------------------------------------------------

def _dense(t: torch.Tensor, channels_last: bool) -> torch.Tensor:
    if t.ndim == 4 and channels_last:
        return t.contiguous(memory_format=torch.channels_last)
    return t.contiguous()


class _BiasActCuda(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, b: torch.Tensor, ext: Any, spec: Activation, alpha: float,
                gain: float, clamp: float, dim: int) -> torch.Tensor:
        cl = wants_channels_last(x)
        x = _dense(x, cl)
        b = b.to(x.dtype).contiguous()
        empty = x.new_empty([0])
        y = ext.bias_act(x, b, empty, empty, spec.cuda_idx, 0, alpha, gain, clamp, dim)
        ctx.save_for_backward(x, b)
        ctx.args = (ext, spec, alpha, gain, clamp, dim, cl)
        return y

    @staticmethod
    def backward(ctx: Any, dy: torch.Tensor):
        x, b = ctx.saved_tensors
        ext, spec, alpha, gain, clamp, dim, cl = ctx.args
        dx = _BiasActCudaGrad.apply(_dense(dy, cl), x, b, ext, spec, alpha, gain, clamp, dim, cl)
        db = None
        if ctx.needs_input_grad[1]:
            db = dx.sum([i for i in range(dx.ndim) if i != dim])
        return dx, db, None, None, None, None, None, None


class _BiasActCudaGrad(torch.autograd.Function):
    """``dx = dy * act'(x + b) * gain * [not clamped]``, differentiable once more."""

    @staticmethod
    def forward(ctx: Any, dy: torch.Tensor, x: torch.Tensor, b: torch.Tensor, ext: Any, spec: Activation,
                alpha: float, gain: float, clamp: float, dim: int, cl: bool) -> torch.Tensor:
        dx = ext.bias_act(dy, b, x, x.new_empty([0]), spec.cuda_idx, 1, alpha, gain, clamp, dim)
        ctx.save_for_backward(dy, x, b)
        ctx.args = (ext, spec, alpha, gain, clamp, dim, cl)
        return dx

    @staticmethod
    def backward(ctx: Any, d_dx: torch.Tensor):
        dy, x, b = ctx.saved_tensors
        ext, spec, alpha, gain, clamp, dim, cl = ctx.args
        d_dx = _dense(d_dx, cl)
        d_dy = d_x = d_b = None
        if ctx.needs_input_grad[0]:
            d_dy = _BiasActCudaGrad.apply(d_dx, x, b, ext, spec, alpha, gain, clamp, dim, cl)
        if ctx.needs_input_grad[1] or ctx.needs_input_grad[2]:
            if spec.has_2nd_grad:
                d_x = _BiasActCudaGrad2.apply(d_dx, dy, x, b, ext, spec, alpha, gain, clamp, dim)
            else:
                d_x = torch.zeros_like(x)
            if ctx.needs_input_grad[2]:
                d_b = d_x.sum([i for i in range(d_x.ndim) if i != dim])
        return d_dy, d_x, d_b, None, None, None, None, None, None, None


class _BiasActCudaGrad2(torch.autograd.Function):
    """``d_dx * dy * act''(x + b) * gain * [not clamped]``; no gradient of its own."""

    @staticmethod
    def forward(ctx: Any, d_dx: torch.Tensor, dy: torch.Tensor, x: torch.Tensor, b: torch.Tensor, ext: Any,
                spec: Activation, alpha: float, gain: float, clamp: float, dim: int) -> torch.Tensor:
        return ext.bias_act(d_dx, b, x, dy, spec.cuda_idx, 2, alpha, gain, clamp, dim)

    @staticmethod
    def backward(ctx: Any, *grads: Any):
        raise NotImplementedError("bias_act: third-order gradients are not supported by impl='cuda' for "
                                  "this activation; use impl='ref'")


def bias_act(x: torch.Tensor, b: torch.Tensor | None = None, dim: int = 1, act: str = "linear",
             alpha: float | None = None, gain: float | None = None, clamp: float | None = None,
             impl: str = "auto") -> torch.Tensor:
    """Add a bias, apply an activation, scale and clamp, in one pass.

    Args:
        x: input of any shape, float16/32/64.
        b: bias ``[x.shape[dim]]`` or None.
        dim: the axis ``b`` runs along.
        act: one of :data:`ACTIVATIONS` (``linear``, ``relu``, ``lrelu``, ``tanh``, ``sigmoid``,
            ``elu``, ``selu``, ``softplus``, ``swish``).
        alpha: negative slope of ``lrelu`` (default 0.2); unused by the others.
        gain: scale after the activation (default: the activation's ``def_gain``).
        clamp: clamp the result to ``[-clamp, clamp]`` (None: no clamping).
        impl: ``'auto'``, ``'cuda'`` or ``'ref'``.

    Returns:
        A tensor like ``x``.
    """
    spec, alpha_v, gain_v, clamp_v, dim_v = _resolve(x, b, dim, act, alpha, gain, clamp)
    ext = _build.select("bias_act", impl, x.device)
    if ext is None:
        return _bias_act_ref(x, b, dim=dim, act=act, alpha=alpha, gain=gain, clamp=clamp)
    if b is None:
        b = x.new_zeros([x.shape[dim_v]])
    return _BiasActCuda.apply(x, b, ext, spec, alpha_v, gain_v, clamp_v, dim_v)
