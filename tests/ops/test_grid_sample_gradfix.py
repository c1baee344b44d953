"""grid_sample_gradfix: native values and gradients, plus gradients of gradients."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from ganforge.ops import grid_sample
from ganforge.ops.grid_sample_gradfix import _grid_sample_ref

F64 = torch.float64


def _data(dtype=F64):
    x = torch.randn(2, 3, 5, 6, dtype=dtype, requires_grad=True)
    grid = (torch.rand(2, 4, 3, 2, dtype=dtype) * 2.6 - 1.3).requires_grad_()  # some samples fall outside
    return x, grid


def native(x, grid):
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def test_values_and_first_order_gradients_match_native():
    x, grid = _data()
    y = grid_sample(x, grid)
    torch.testing.assert_close(y, native(x, grid))
    torch.testing.assert_close(_grid_sample_ref(x, grid), native(x, grid))
    dy = torch.randn_like(y)
    for a, b in zip(torch.autograd.grad(y, (x, grid), dy), torch.autograd.grad(native(x, grid), (x, grid), dy)):
        torch.testing.assert_close(a, b)


def test_second_order_wrt_input():
    x, grid = _data()
    grid = grid.detach()
    assert torch.autograd.gradcheck(lambda x: grid_sample(x, grid), (x,))
    assert torch.autograd.gradgradcheck(lambda x: grid_sample(x, grid), (x,))


def test_second_order_wrt_grid_too():
    x, grid = _data()
    assert torch.autograd.gradgradcheck(grid_sample, (x, grid), fast_mode=True)


def test_r1_through_augmentation():
    """d/dw of ||d score / dx||^2 with score = D(grid_sample(x)): ours agrees with PyTorch's own
    double backward (available in recent releases; older ones raised here, which is why upstream
    needed the private backward operator)."""
    x, grid = _data()
    grid = grid.detach()
    w = torch.randn(3, dtype=F64, requires_grad=True)

    def penalty(sample):
        score = (sample(x, grid) * w.view(1, 3, 1, 1)).tanh().sum()
        (g,) = torch.autograd.grad(score, x, create_graph=True)
        return g.square().sum()

    (dw,) = torch.autograd.grad(penalty(grid_sample), w)
    assert torch.isfinite(dw).all() and dw.abs().sum() > 0
    try:
        (dw_native,) = torch.autograd.grad(penalty(native), w)
    except RuntimeError:  # pragma: no cover - PyTorch without double backward for grid_sample
        return
    torch.testing.assert_close(dw, dw_native)


def test_no_grad_uses_native():
    x, grid = _data(torch.float32)
    with torch.no_grad():
        torch.testing.assert_close(grid_sample(x, grid), native(x, grid))
