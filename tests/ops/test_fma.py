"""fma: a * b + c with broadcasting, gradients of any order."""

from __future__ import annotations

import pytest
import torch

from ganforge.ops import fma
from ganforge.ops.fma import _fma_ref

F64 = torch.float64
SHAPES = [((2, 3, 4), (2, 3, 4), (2, 3, 4)), ((2, 3, 1, 4), (3, 5, 1), (1,)), ((4,), (2, 1, 4), (2, 3, 4)),
          ((1, 1), (3, 1), (1, 5))]


@pytest.mark.parametrize("sa,sb,sc", SHAPES)
def test_values_and_gradients(sa, sb, sc):
    a, b, c = (torch.randn(s, dtype=F64, requires_grad=True) for s in (sa, sb, sc))
    y = fma(a, b, c)
    torch.testing.assert_close(y, a * b + c)
    torch.testing.assert_close(_fma_ref(a, b, c), a * b + c)
    dy = torch.randn_like(y)
    for g, e in zip(torch.autograd.grad(y, (a, b, c), dy), torch.autograd.grad(a * b + c, (a, b, c), dy)):
        assert g.shape == e.shape
        torch.testing.assert_close(g, e)
    assert torch.autograd.gradcheck(fma, (a, b, c))
    assert torch.autograd.gradgradcheck(fma, (a, b, c))


def test_impl_is_validated():
    x = torch.ones(2)
    with pytest.raises(ValueError):
        fma(x, x, x, impl="triton")
    torch.testing.assert_close(fma(x, x, x, impl="ref"), x * 2)
