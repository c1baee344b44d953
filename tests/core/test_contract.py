"""The component contract, over the whole registry (as timm tests every model): every generator and
discriminator builds at its tiny size, runs forward/backward (R1 double backward for D), and round-trips
its state dict; every config field has a description."""

from __future__ import annotations

import pytest
import torch

from ganforge.testing import parametrize_with_checks


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@parametrize_with_checks()
def test_component_contract(spec, check):
    check(spec, batch=2)
