"""Shared set-up of the ADA tests: one thread (tiny tensors), a fresh random torch seed per test."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread_and_seed(request):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    seed = torch.seed() % (1 << 31)  # fresh random inputs every run
    torch.manual_seed(seed)
    request.node.user_properties.append(("torch_seed", seed))
    yield
    torch.set_num_threads(threads)
