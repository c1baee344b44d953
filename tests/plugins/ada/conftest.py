"""Shared helpers of the ADA tests: one thread (tiny tensors), a fresh seed per test."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread_and_seed():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(torch.seed() % (1 << 31))  # fresh random inputs, reproducible from the printed failure
    yield
    torch.set_num_threads(threads)
