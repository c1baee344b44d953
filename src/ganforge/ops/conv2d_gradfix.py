"""``conv2d`` / ``conv_transpose2d`` with gradients of any order and optional weight-gradient skipping.

Drop-in replacements for :func:`torch.nn.functional.conv2d` and
:func:`~torch.nn.functional.conv_transpose2d`. Inside :func:`no_weight_gradients`, the backward
pass of these convolutions does not compute dL/dW at all (it returns None for the weight). That is
what R1 and path-length regularisation want: ``torch.autograd.grad(D(x).sum(), x,
create_graph=True)`` needs only dL/dx, while the penalty's own backward later differentiates that
dL/dx with respect to the weights as usual.

Everything is built from public PyTorch ops: the input gradient of a convolution is the other
convolution (recursively these same functions, so every order works), and the weight gradient is
:func:`torch.nn.grad.conv2d_weight` (itself differentiable). When no gradient is recorded, or when
:data:`enabled` is False, the native functions run directly.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch
import torch.nn.functional as F

__all__ = ["enabled", "no_weight_gradients", "conv2d", "conv_transpose2d"]

#: Use the custom autograd functions (set False to run the native ops unconditionally).
enabled = True
#: True inside :func:`no_weight_gradients`. Read during the backward pass; a plain module
#: global (not thread-local) because autograd runs CUDA backward passes on its own threads.
weight_gradients_disabled = False


@contextlib.contextmanager
def no_weight_gradients(disable: bool = True) -> Iterator[None]:
    """Skip dL/dW of these convolutions in backward passes run inside the block."""
    global weight_gradients_disabled
    old = weight_gradients_disabled
    if disable:
        weight_gradients_disabled = True
    try:
        yield
    finally:
        weight_gradients_disabled = old


def _pair(v: Any) -> tuple[int, int]:
    if isinstance(v, int):
        return v, v
    a, b = v
    return int(a), int(b)


def _use_custom(*tensors: torch.Tensor | None, padding: Any = 0) -> bool:
    return (enabled and torch.is_grad_enabled() and not isinstance(padding, str)
            and any(t is not None and t.requires_grad for t in tensors))


def conv2d(input: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None, stride: Any = 1,
           padding: Any = 0, dilation: Any = 1, groups: int = 1) -> torch.Tensor:
    """:func:`torch.nn.functional.conv2d` with gradient fixes (see the module docstring)."""
    if not _use_custom(input, weight, bias, padding=padding):
        return F.conv2d(input, weight, bias, stride, padding, dilation, groups)
    return _Conv2d.apply(input, weight, bias, _pair(stride), _pair(padding), _pair(dilation), groups)


def conv_transpose2d(input: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None,
                     stride: Any = 1, padding: Any = 0, output_padding: Any = 0, groups: int = 1,
                     dilation: Any = 1) -> torch.Tensor:
    """:func:`torch.nn.functional.conv_transpose2d` with gradient fixes."""
    if not _use_custom(input, weight, bias):
        return F.conv_transpose2d(input, weight, bias, stride, padding, output_padding, groups, dilation)
    return _ConvTranspose2d.apply(input, weight, bias, _pair(stride), _pair(padding), _pair(output_padding),
                                  groups, _pair(dilation))


def _weight_grad(inp: torch.Tensor, weight: torch.Tensor, grad_out: torch.Tensor, stride: tuple[int, int],
                 padding: tuple[int, int], dilation: tuple[int, int], groups: int) -> torch.Tensor:
    """dL/dW of ``conv2d(inp, W)`` given ``grad_out`` (public, differentiable)."""
    return torch.nn.grad.conv2d_weight(inp, weight.shape, grad_out, stride, padding, dilation, groups)


class _Conv2d(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, input: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                stride: tuple[int, int], padding: tuple[int, int], dilation: tuple[int, int],
                groups: int) -> torch.Tensor:
        ctx.save_for_backward(input, weight)
        ctx.conf = (stride, padding, dilation, groups)
        return F.conv2d(input, weight, bias, stride, padding, dilation, groups)

    @staticmethod
    def backward(ctx: Any, grad_out: torch.Tensor):
        input, weight = ctx.saved_tensors
        stride, padding, dilation, groups = ctx.conf
        grad_input = grad_weight = grad_bias = None
        if ctx.needs_input_grad[0]:
            # conv_transpose2d's output size is ambiguous by up to stride - 1: pin it to the input.
            output_padding = tuple(
                input.shape[i + 2] - ((grad_out.shape[i + 2] - 1) * stride[i] - 2 * padding[i]
                                      + dilation[i] * (weight.shape[i + 2] - 1) + 1)
                for i in range(2))
            grad_input = conv_transpose2d(grad_out, weight, None, stride, padding, output_padding, groups,
                                          dilation)
        if ctx.needs_input_grad[1] and not weight_gradients_disabled:
            grad_weight = _weight_grad(input, weight, grad_out, stride, padding, dilation, groups)
        if ctx.needs_input_grad[2]:
            grad_bias = grad_out.sum([0, 2, 3])
        return grad_input, grad_weight, grad_bias, None, None, None, None


class _ConvTranspose2d(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, input: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                stride: tuple[int, int], padding: tuple[int, int], output_padding: tuple[int, int],
                groups: int, dilation: tuple[int, int]) -> torch.Tensor:
        ctx.save_for_backward(input, weight)
        ctx.conf = (stride, padding, dilation, groups)
        return F.conv_transpose2d(input, weight, bias, stride, padding, output_padding, groups, dilation)

    @staticmethod
    def backward(ctx: Any, grad_out: torch.Tensor):
        input, weight = ctx.saved_tensors
        stride, padding, dilation, groups = ctx.conf
        grad_input = grad_weight = grad_bias = None
        if ctx.needs_input_grad[0]:
            grad_input = conv2d(grad_out, weight, None, stride, padding, dilation, groups)
        if ctx.needs_input_grad[1] and not weight_gradients_disabled:
            # conv_transpose2d(x, W) is the adjoint of u -> conv2d(u, W): roles of x and dy swap.
            grad_weight = _weight_grad(grad_out, weight, input, stride, padding, dilation, groups)
        if ctx.needs_input_grad[2]:
            grad_bias = grad_out.sum([0, 2, 3])
        return grad_input, grad_weight, grad_bias, None, None, None, None, None
