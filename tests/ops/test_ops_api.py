"""The public surface of ganforge.ops: exports, reference twins, impl handling."""

from __future__ import annotations

import importlib
import inspect

import pytest
import torch

import ganforge.ops as ops
from ganforge.core.flags import use_ops_mode

OPS_WITH_REF = ["upfirdn2d", "bias_act", "filtered_lrelu", "conv2d_resample", "fma"]


def test_all_names_exist():
    for name in ops.__all__:
        assert getattr(ops, name) is not None


@pytest.mark.parametrize("name", OPS_WITH_REF)
def test_reference_twin_has_the_same_signature(name):
    module = importlib.import_module(f"ganforge.ops.{name}")
    public = inspect.signature(getattr(module, name)).parameters
    ref = inspect.signature(getattr(module, f"_{name}_ref")).parameters
    assert public["impl"].default == "auto"
    assert [p for p in public if p != "impl"] == list(ref)
    assert all(public[p].default == ref[p].default for p in ref)


def test_ref_mode_and_impl_ref_agree_with_auto_on_cpu():
    x = torch.randn(1, 4, 6, 6)
    f = ops.setup_filter([1, 3, 3, 1])
    auto = ops.upsample2d(x, f)
    torch.testing.assert_close(ops.upsample2d(x, f, impl="ref"), auto)
    with use_ops_mode("ref"):
        torch.testing.assert_close(ops.upsample2d(x, f), auto)
    with use_ops_mode("cuda"):  # CPU tensors have nothing to build: the reference path runs
        torch.testing.assert_close(ops.upsample2d(x, f), auto)
