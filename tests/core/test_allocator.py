"""The CPU allocator setting: large tensors' memory is reused instead of faulted in again."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys

import pytest

PROBE = r"""
import json, resource, torch
from ganforge.core.allocator import tune_cpu_allocator, cpu_allocator_state
state = tune_cpu_allocator()
def faults_of_one_step():
    # a step-like pattern: several large activations (40-80 MB) alive together, then all freed
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    acts = []
    for n in (10, 20, 15, 20):
        acts.append(torch.empty(n * 1024 * 1024).fill_(1.0))
    del acts
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
steps = [faults_of_one_step() for _ in range(6)]  # 65M floats = 63,488 pages per step
print(json.dumps({"state": state, "again": cpu_allocator_state(), "faults": min(steps[2:]), "steps": steps}))
"""

glibc = pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
                           reason="the setting only applies to glibc")


def _probe(**env: str) -> dict:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "GANFORGE_CPU_ALLOCATOR"}
    out = subprocess.run([sys.executable, "-c", PROBE], env={**clean, **env}, capture_output=True, text=True,
                         check=True, timeout=120)
    return json.loads(out.stdout.strip().splitlines()[-1])


@glibc
def test_tuned_allocator_reuses_a_freed_large_tensor():
    tuned = _probe()
    assert tuned["state"] == tuned["again"] == "tuned"
    assert tuned["faults"] < 3000, tuned  # of 63,488 pages per step, (nearly) none faulted in again


@glibc
def test_default_allocator_faults_every_fresh_large_tensor_in():
    default = _probe(GANFORGE_CPU_ALLOCATOR="default")
    assert default["state"].startswith("left alone") and "GANFORGE_CPU_ALLOCATOR" in default["state"]
    assert default["faults"] > 50000, default


@glibc
def test_user_malloc_settings_are_respected():
    assert "MALLOC_" in _probe(MALLOC_ARENA_MAX="2")["state"]


def test_state_is_none_before_and_after_restore(monkeypatch):
    from ganforge.core import allocator

    monkeypatch.setattr(allocator, "_state", None)
    assert allocator.cpu_allocator_state() is None
    monkeypatch.setenv("GANFORGE_CPU_ALLOCATOR", "default")
    assert allocator.tune_cpu_allocator().startswith("left alone")
    allocator.restore_cpu_allocator()
    assert allocator.cpu_allocator_state() is None
