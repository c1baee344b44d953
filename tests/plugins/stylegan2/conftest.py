import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread_and_seed():
    # Small tensors: one thread is as fast, and immune to a busy machine's thread contention.
    torch.manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
