"""Fused multiply-add ``a * b + c`` with broadcasting and gradients of any order."""

from __future__ import annotations

from typing import Any

import torch

from ._utils import check_impl

__all__ = ["fma"]


def _unbroadcast(g: torch.Tensor | None, shape: torch.Size) -> torch.Tensor | None:
    """Sum ``g`` down to ``shape`` (the inverse of broadcasting)."""
    if g is None:
        return None
    extra = g.ndim - len(shape)
    if extra > 0:
        g = g.sum(dim=tuple(range(extra)))
    dims = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
    if dims:
        g = g.sum(dim=dims, keepdim=True)
    return g


class _Fma(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, a: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(a, b)
        ctx.shapes = (a.shape, b.shape, c.shape)
        return torch.addcmul(c, a, b)

    @staticmethod
    def backward(ctx: Any, dout: torch.Tensor):
        a, b = ctx.saved_tensors
        a_shape, b_shape, c_shape = ctx.shapes
        da = db = dc = None
        if ctx.needs_input_grad[0]:
            da = _unbroadcast(dout * b, a_shape)
        if ctx.needs_input_grad[1]:
            db = _unbroadcast(dout * a, b_shape)
        if ctx.needs_input_grad[2]:
            dc = _unbroadcast(dout, c_shape)
        return da, db, dc


def _fma_ref(a: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """:func:`fma` (same arguments, no ``impl``)."""
    return _Fma.apply(a, b, c)


def fma(a: torch.Tensor, b: torch.Tensor, c: torch.Tensor, impl: str = "auto") -> torch.Tensor:
    """``a * b + c`` in one kernel (``torch.addcmul``), broadcasting like ``*`` and ``+``.

    The backward pass sums each gradient back to its operand's shape and is itself built from
    differentiable ops, so gradients of any order work. There is no separate compiled kernel:
    ``addcmul`` already is one, so every ``impl`` runs the same code.

    Args:
        a, b, c: broadcastable tensors.
        impl: ``'auto'``, ``'cuda'`` or ``'ref'`` (accepted for a uniform op interface).
    """
    check_impl(impl)
    return _Fma.apply(a, b, c)
