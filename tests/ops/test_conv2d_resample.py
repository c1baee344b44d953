"""conv2d_resample: every fast path equals the definition (zero insertion, padding, convolution,
FIR filtering and decimation written out directly)."""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F

from ganforge.ops import conv2d_resample, setup_filter
from test_upfirdn2d import direct_upfirdn2d

F64 = torch.float64


def definition(x, w, f, up, down, padding, groups, flip_weight, flip_filter):
    """The generic formulation spelled out with the direct upfirdn2d and F.conv2d."""
    fw, fh = (1, 1) if f is None else ((f.shape[0], f.shape[0]) if f.ndim == 1 else (f.shape[1], f.shape[0]))
    px0, px1, py0, py1 = (padding,) * 4 if isinstance(padding, int) else padding
    if up > 1:
        px0, px1, py0, py1 = px0 + (fw + up - 1) // 2, px1 + (fw - up) // 2, py0 + (fh + up - 1) // 2, py1 + (fh - up) // 2
    if down > 1:
        px0, px1, py0, py1 = (px0 + (fw - down + 1) // 2, px1 + (fw - down) // 2,
                              py0 + (fh - down + 1) // 2, py1 + (fh - down) // 2)
    x = direct_upfirdn2d(x, f if up > 1 else None, (up, up), (1, 1), (px0, px1, py0, py1), flip_filter, up ** 2)
    x = F.conv2d(x, w if flip_weight else w.flip([2, 3]), groups=groups)
    if down > 1:
        x = direct_upfirdn2d(x, f, (1, 1), (down, down), (0, 0, 0, 0), flip_filter)
    return x


FILTERS = {"none": None, "[1,3,3,1]": setup_filter([1, 3, 3, 1]).double(), "5x4": torch.rand(5, 4, dtype=F64),
           "sep9": torch.rand(9, dtype=F64)}


CASES = [(up, down, k, name) for up, down in [(1, 1), (2, 1), (1, 2), (2, 2), (4, 1)] for k in (1, 3, 4)
         for name in FILTERS if FILTERS[name] is not None or (up, down) == (1, 1)]


@pytest.mark.parametrize("up,down,k,fname", CASES)
def test_matches_definition(up, down, k, fname):
    f = FILTERS[fname]
    for padding, groups, flip_weight, flip_filter in itertools.product([0, 1, (1, 0, 2, -1), -1], [1, 2],
                                                                       [True, False], [False, True]):
        x = torch.randn(2, 4, 9, 8, dtype=F64)
        w = torch.randn(6, 4 // groups, k, k, dtype=F64)
        try:
            expect = definition(x, w, f, up, down, padding, groups, flip_weight, flip_filter)
        except (ValueError, RuntimeError):
            continue  # the definition itself has an empty output here
        y = conv2d_resample(x, w, f, up=up, down=down, padding=padding, groups=groups, flip_weight=flip_weight,
                            flip_filter=flip_filter)
        assert y.shape == expect.shape, (padding, groups, flip_weight, flip_filter)
        torch.testing.assert_close(y, expect, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("up,down,k", [(2, 1, 3), (1, 2, 3), (1, 1, 3), (2, 1, 1), (1, 2, 1)])
def test_gradients_any_order(up, down, k):
    f = setup_filter([1, 3, 3, 1]).double()
    x = torch.randn(1, 2, 5, 5, dtype=F64, requires_grad=True)
    w = torch.randn(2, 2, k, k, dtype=F64, requires_grad=True)
    fn = lambda x, w: conv2d_resample(x, w, f, up=up, down=down, padding=k // 2)  # noqa: E731
    assert torch.autograd.gradcheck(fn, (x, w))
    assert torch.autograd.gradgradcheck(fn, (x, w))


def test_stylegan2_shapes():
    f = setup_filter([1, 3, 3, 1])
    x = torch.randn(2, 8, 8, 8)
    assert conv2d_resample(x, torch.randn(4, 8, 3, 3), f, up=2, padding=1, flip_weight=False).shape == (2, 4, 16, 16)
    assert conv2d_resample(x, torch.randn(4, 8, 3, 3), f, down=2, padding=1).shape == (2, 4, 4, 4)
    assert conv2d_resample(x, torch.randn(4, 8, 1, 1), f, down=2).shape == (2, 4, 4, 4)
    assert conv2d_resample(x, torch.randn(4, 8, 3, 3), padding=1).shape == (2, 4, 8, 8)


def test_errors():
    x = torch.randn(1, 2, 4, 4)
    with pytest.raises(ValueError, match="w must be"):
        conv2d_resample(x, torch.randn(2, 2, 3))
    with pytest.raises(ValueError, match="up and down"):
        conv2d_resample(x, torch.randn(2, 2, 3, 3), up=0)
