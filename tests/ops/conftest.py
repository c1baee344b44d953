"""Fixtures for the ops tests.

Tests marked ``slow`` (compiler runs, wheel build) are skipped unless selected with ``-m slow``
(or ``GANFORGE_RUN_SLOW=1``); ``gpu`` tests skip without CUDA.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import torch

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    markexpr = config.getoption("-m", default="") or ""
    run_slow = "slow" in markexpr or os.environ.get("GANFORGE_RUN_SLOW", "") in ("1", "true", "yes")
    skip_slow = pytest.mark.skip(reason="slow: run with -m slow or GANFORGE_RUN_SLOW=1")
    skip_gpu = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if HERE not in Path(str(item.fspath)).resolve().parents:
            continue
        if "slow" in item.keywords and not run_slow:
            item.add_marker(skip_slow)
        if "gpu" in item.keywords and not torch.cuda.is_available():
            item.add_marker(skip_gpu)


@pytest.fixture(autouse=True)
def _seed_and_isolate(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """Fresh RNG seed, one thread, a private cache directory, default ops mode, no memoised builds."""
    from ganforge.core import flags
    from ganforge.ops import _build

    torch.manual_seed(1234)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: thread start-up and spinning cost more than they save
    monkeypatch.setenv("GANFORGE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("GANFORGE_OPS", raising=False)
    flags.set_ops_mode(None)
    _build._reset()
    yield
    torch.set_num_threads(threads)
    flags.set_ops_mode(None)
    _build._reset()


@pytest.fixture
def fake_cuda(monkeypatch: pytest.MonkeyPatch):
    """Route every op's compiled path to the Python kernel model, on CPU tensors."""
    from ops_kernel_model import FAKE_EXT

    from ganforge.ops import _build

    def select(op: str, impl: str, device: torch.device):
        return None if impl == "ref" else FAKE_EXT

    monkeypatch.setattr(_build, "select", select)
    return FAKE_EXT
