"""One intra-op thread for this folder: on a busy 2-core machine, OpenMP threads contending with other
processes made the EfficientNet passes 3-10x slower, and the tensors here gain little from two."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread(monkeypatch):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # processes that runs spawn inherit it
    yield
    torch.set_num_threads(threads)
