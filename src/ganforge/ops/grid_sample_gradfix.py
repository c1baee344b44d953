"""Bilinear ``grid_sample`` whose gradient is differentiable again (R1 through ADA augmentation).

Equivalent to ``F.grid_sample(input, grid, mode='bilinear', padding_mode='zeros',
align_corners=False)``. PyTorch's own backward (``grid_sampler_2d_backward``) has no derivative,
so a penalty on ``d D(augment(x)) / dx`` cannot be backpropagated. Here the forward pass is the
native kernel, and the backward pass is written with public differentiable ops (``gather`` and
``scatter_add`` over the four bilinear taps), so gradients of any order with respect to the input
work (and with respect to the grid too, away from the measure-zero pixel boundaries).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

__all__ = ["enabled", "grid_sample"]

#: Use the custom autograd function (False: always the native op).
enabled = True


def grid_sample(input: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """Sample ``input`` [N, C, H, W] at ``grid`` [N, Ho, Wo, 2] (x, y in [-1, 1]); bilinear,
    zero padding, ``align_corners=False``. Returns [N, C, Ho, Wo]."""
    if enabled and torch.is_grad_enabled() and (input.requires_grad or grid.requires_grad):
        return _GridSample.apply(input, grid)
    return _native(input, grid)


def _native(input: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    return F.grid_sample(input, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def _taps(input: torch.Tensor, grid: torch.Tensor):
    """Flat indices [N, 4, P], validity [N, 4, P] and fractional offsets (tx, ty) [N, P]."""
    n, _, h, w = input.shape
    g = grid.reshape(n, -1, 2)
    ix = ((g[..., 0] + 1) * w - 1) / 2  # pixel coordinates (align_corners=False)
    iy = ((g[..., 1] + 1) * h - 1) / 2
    x0, y0 = ix.detach().floor(), iy.detach().floor()
    tx, ty = ix - x0, iy - y0
    xs = torch.stack([x0, x0 + 1, x0, x0 + 1], dim=1)
    ys = torch.stack([y0, y0, y0 + 1, y0 + 1], dim=1)
    valid = (xs >= 0) & (xs < w) & (ys >= 0) & (ys < h)
    index = (ys.clamp(0, h - 1) * w + xs.clamp(0, w - 1)).long()
    return index, valid, tx, ty


def _vjp(input: torch.Tensor, grid: torch.Tensor, gout: torch.Tensor, need_input: bool, need_grid: bool):
    n, c, h, w = input.shape
    index, valid, tx, ty = _taps(input, grid)
    p = index.shape[2]
    gflat = gout.reshape(n, c, 1, p)
    grad_input = grad_grid = None
    if need_input:
        weights = torch.stack([(1 - tx) * (1 - ty), tx * (1 - ty), (1 - tx) * ty, tx * ty], dim=1)
        weights = weights * valid.to(weights.dtype)  # [N, 4, P]
        src = (gflat * weights.unsqueeze(1).to(gout.dtype)).reshape(n, c, 4 * p)
        idx = index.reshape(n, 1, 4 * p).expand(n, c, 4 * p)
        grad_input = gout.new_zeros([n, c, h * w]).scatter_add(2, idx, src).reshape(n, c, h, w)
    if need_grid:
        idx = index.reshape(n, 1, 4 * p).expand(n, c, 4 * p)
        v = input.reshape(n, c, h * w).gather(2, idx).reshape(n, c, 4, p)
        v = v * valid.unsqueeze(1).to(v.dtype)
        v00, v10, v01, v11 = v.unbind(2)
        txc, tyc = tx.unsqueeze(1).to(v.dtype), ty.unsqueeze(1).to(v.dtype)
        d_tx = (v10 - v00) * (1 - tyc) + (v11 - v01) * tyc  # d out / d x-pixel-coordinate
        d_ty = (v01 - v00) * (1 - txc) + (v11 - v10) * txc
        g = gout.reshape(n, c, p)
        grad_grid = torch.stack([(g * d_tx).sum(1) * (w / 2), (g * d_ty).sum(1) * (h / 2)], dim=-1)
        grad_grid = grad_grid.reshape(grid.shape).to(grid.dtype)
    return grad_input, grad_grid


def _grid_sample_ref(input: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """The same sampling written entirely with differentiable gathers (slower; for tests)."""
    n, c, h, w = input.shape
    index, valid, tx, ty = _taps(input, grid)
    p = index.shape[2]
    v = input.reshape(n, c, h * w).gather(2, index.reshape(n, 1, 4 * p).expand(n, c, 4 * p)).reshape(n, c, 4, p)
    weights = torch.stack([(1 - tx) * (1 - ty), tx * (1 - ty), (1 - tx) * ty, tx * ty], dim=1) * valid
    out = (v * weights.unsqueeze(1).to(v.dtype)).sum(2)
    return out.reshape(n, c, *grid.shape[1:3])


class _GridSample(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, input: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(input, grid)
        return _native(input, grid)

    @staticmethod
    def backward(ctx: Any, gout: torch.Tensor):
        input, grid = ctx.saved_tensors
        return _vjp(input, grid, gout, ctx.needs_input_grad[0], ctx.needs_input_grad[1])
