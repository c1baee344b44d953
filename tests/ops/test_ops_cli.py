"""The default_ops plugin and ``gan ops status|build``."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from typer.testing import CliRunner

import ganforge.plugins.default_ops
from ganforge.core import registry as registry_module
from ganforge.core.flags import use_ops_mode
from ganforge.core.plugins import make_plugin_manager
from ganforge.core.registry import Registry
from ganforge.core.specs import OpSpec
from ganforge.ops import _build

runner = CliRunner()


@pytest.fixture
def registry(monkeypatch):
    pm = make_plugin_manager(builtins=False, entry_points=False)
    pm.register(ganforge.plugins.default_ops, name="default_ops")
    reg = Registry.from_plugin_manager(pm)
    monkeypatch.setattr(registry_module, "get_registry", lambda: reg)
    return reg


@pytest.fixture
def app(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    from ganforge.cli.ops import app

    return app


@pytest.fixture
def fake_compiler(monkeypatch):
    calls = []

    def compile_(module_name, sources, build_dir, verbose):
        calls.append(module_name)
        (Path(build_dir) / (module_name + ".so")).write_bytes(b"")
        return SimpleNamespace()

    monkeypatch.setattr(_build, "_toolchain_problem", lambda: None)
    monkeypatch.setattr(_build, "_compile", compile_)
    return calls


def test_plugin_registers_one_spec_per_compiled_op(registry, monkeypatch):
    specs = registry.specs("op")
    assert [s.name for s in specs] == sorted(_build.OPS)
    calls = []
    monkeypatch.setattr(_build, "_compile", lambda *a: calls.append(a))
    for spec in specs:
        assert isinstance(spec, OpSpec) and spec.summary
        assert spec.sources and all(Path(s).is_absolute() and Path(s).is_file() for s in spec.sources)
        assert any(s.endswith(".cu") for s in spec.sources)
        info = spec.status()
        assert info["op"] == spec.name and "state" in info and "cache_dir" in info
    assert calls == []  # status() never builds
    assert registry.provider("op", "upfirdn2d") == "default_ops"


def test_status_table(registry, app):
    result = runner.invoke(app, ["status"])
    assert result.exit_code == 0, result.output
    for name in _build.OPS:
        assert name in result.output
    for label in ("torch", "CUDA available", "nvcc", "ninja", "GPU", "cache dir"):
        assert label in result.output


def test_status_json(registry, app):
    result = runner.invoke(app, ["status", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["mode"] == "auto"
    assert [row["op"] for row in data["ops"]] == sorted(_build.OPS)
    assert {"torch", "torch_cuda", "cuda_available", "gpu", "nvcc", "ninja"} <= set(data["toolchain"])


def test_build_without_cuda_explains_and_succeeds(registry, app, monkeypatch):
    monkeypatch.setattr(_build, "_toolchain_problem", lambda: "CUDA is not available: no CUDA device is visible")
    result = runner.invoke(app, ["build"])
    assert result.exit_code == 0, result.output
    assert "CUDA is not available" in result.output and "reference" in result.output
    with use_ops_mode("cuda"):
        result = runner.invoke(app, ["build", "upfirdn2d"])
    assert result.exit_code != 0
    assert "GANFORGE_OPS=cuda" in result.output


def test_build_in_ref_mode_does_nothing(registry, app, fake_compiler):
    with use_ops_mode("ref"):
        result = runner.invoke(app, ["build"])
    assert result.exit_code == 0 and "never built" in result.output
    assert fake_compiler == []


def test_build_unknown_op(registry, app):
    result = runner.invoke(app, ["build", "upfirdn"])
    assert result.exit_code == 2
    assert "upfirdn2d" in result.output  # did-you-mean / choices


def test_build_success_and_failure(registry, app, fake_compiler, monkeypatch):
    result = runner.invoke(app, ["build", "bias_act", "upfirdn2d"])
    assert result.exit_code == 0, result.output
    assert result.output.count("ok") >= 2 and len(fake_compiler) == 2

    def broken(*args):
        raise RuntimeError("x.cu(1): error: broken")

    _build._reset()
    monkeypatch.setattr(_build, "_compile", broken)
    result = runner.invoke(app, ["build", "filtered_lrelu"])
    assert result.exit_code == 1
    assert "failed" in result.output and "broken" in result.output
