"""One test per hook (a docs test checks every hookspec has one here and a heading in docs/hooks.md)."""

from __future__ import annotations

import types
from typing import Literal

import pytest
import torch

import ganforge
from ganforge import hookimpl
from ganforge.core.config import ComponentConfig
from ganforge.core.errors import IncompatibleComponentsError
from ganforge.core.plugins import get_plugin_manager, temporary_plugin
from ganforge.core.registry import get_registry
from ganforge.core.specs import (
    AugmentSpec,
    DatasetSpec,
    DiscriminatorSpec,
    GeneratorSpec,
    LossSpec,
    MetricSpec,
    OpSpec,
    PresetSpec,
    RegularizerSpec,
)
from tests.conftest import toy_config


def _cfg(name):
    return type(f"Cfg_{name}", (ComponentConfig,), {"__annotations__": {"name": Literal[name]}, "name": name})


def _registers(hook, spec):
    plugin = type(f"Plugin_{hook}", (), {hook: staticmethod(hookimpl(lambda: [spec]))})()
    with temporary_plugin(plugin, f"test_{hook}"):
        reg = get_registry()
        assert reg.get(spec.kind, spec.name) is spec
        assert reg.provider(spec.kind, spec.name) == f"test_{hook}"
    assert not get_registry().has(spec.kind, spec.name)


def test_hook_ganforge_addhooks():
    seen = []

    class Plugin:
        @hookimpl
        def ganforge_addhooks(self, pluginmanager):
            seen.append(pluginmanager)

    with temporary_plugin(Plugin(), "adder"):
        pass
    assert seen == [get_plugin_manager()]  # historic: called although registered after set-up


def test_hook_ganforge_register_generators():
    _registers("ganforge_register_generators", GeneratorSpec(name="g_hook", factory=print, config=_cfg("g_hook")))


def test_hook_ganforge_register_discriminators():
    _registers("ganforge_register_discriminators", DiscriminatorSpec(name="d_hook", factory=print, config=_cfg("d_hook")))


def test_hook_ganforge_register_losses():
    _registers("ganforge_register_losses", LossSpec(name="l_hook", factory=print, config=_cfg("l_hook")))
    _registers("ganforge_register_losses", RegularizerSpec(name="r_hook", factory=print, config=_cfg("r_hook")))


def test_hook_ganforge_register_augments():
    _registers("ganforge_register_augments", AugmentSpec(name="a_hook", factory=print, config=_cfg("a_hook")))


def test_hook_ganforge_register_metrics():
    _registers("ganforge_register_metrics", MetricSpec(name="m_hook", factory=print, config=_cfg("m_hook")))


def test_hook_ganforge_register_datasets():
    _registers("ganforge_register_datasets", DatasetSpec(name="ds_hook", factory=print, config=_cfg("ds_hook")))


def test_hook_ganforge_register_presets():
    _registers("ganforge_register_presets", PresetSpec(name="p_hook", config={"training": {"kimg": 1}}))


def test_hook_ganforge_register_ops():
    _registers("ganforge_register_ops", OpSpec(name="op_hook", summary="x"))


def test_registration_hook_with_wrong_return_type_is_reported():
    from ganforge.core.plugins import GanforgePluginWarning

    class Plugin:
        @hookimpl
        def ganforge_register_generators(self):
            return ["not a spec"]

    with temporary_plugin(Plugin(), "wrong"), pytest.warns(GanforgePluginWarning, match="GeneratorSpec"):
        get_registry()


def test_hook_ganforge_register_commands(cli):
    class Plugin:
        @hookimpl
        def ganforge_register_commands(self, app):
            @app.command("hello-hook")
            def hello(name: str):
                print(f"hello {name}")

    with temporary_plugin(Plugin(), "cmd"):
        result = cli(["hello-hook", "world"])
    assert result.exit_code == 0 and "hello world" in result.output


def test_hook_ganforge_check_config(toy_plugins, tmp_path):
    class Plugin:
        @hookimpl
        def ganforge_check_config(self, config, info):
            if info.resolution < 16:
                return [f"this lab only trains at >= 16 pixels, data is {info.resolution}"]

    with temporary_plugin(Plugin(), "checker"), pytest.raises(IncompatibleComponentsError, match="this lab only"):
        ganforge.train(toy_config(tmp_path))


def test_hook_ganforge_load_checkpoint(tmp_path):
    from ganforge.core.checkpoint import NetworkBundle
    from ganforge.core.specs import DataInfo

    path = tmp_path / "net.mine"
    path.write_text("mine")

    class Plugin:
        @hookimpl
        def ganforge_load_checkpoint(self, path, device):
            if not str(path).endswith(".mine"):
                return None
            return NetworkBundle(G_ema=torch.nn.Identity(), info=DataInfo(8), source="mine")

    with temporary_plugin(Plugin(), "mine"):
        assert isinstance(ganforge.load_network(path), torch.nn.Identity)
    from ganforge.core.errors import CheckpointError

    with pytest.raises(CheckpointError, match="not in a format"):
        ganforge.load_network(path)


class Recorder:
    def __init__(self):
        self.calls = []

    @hookimpl
    def ganforge_run_start(self, run):
        self.calls.append(("start", run.cur_nimg, run.resumed))

    @hookimpl
    def ganforge_run_tick(self, run, stats):
        self.calls.append(("tick", run.cur_tick, "Loss/G/loss" in stats))

    @hookimpl
    def ganforge_run_end(self, run, status):
        self.calls.append(("end", status))

    @hookimpl
    def ganforge_run_should_stop(self, run, stats):
        return True if run.cur_tick == 1 else None


@pytest.fixture
def recorded_run(toy_plugins, tmp_path):
    rec = Recorder()
    with temporary_plugin(rec, "recorder"):
        result = ganforge.train(toy_config(tmp_path))
    return rec, result


def test_hook_ganforge_run_start(recorded_run):
    rec, _ = recorded_run
    assert rec.calls[0] == ("start", 0, False)


def test_hook_ganforge_run_tick(recorded_run):
    rec, _ = recorded_run
    assert [c for c in rec.calls if c[0] == "tick"] == [("tick", 0, True), ("tick", 1, True)]


def test_hook_ganforge_run_end(recorded_run):
    rec, _ = recorded_run
    assert rec.calls[-1] == ("end", "stopped")


def test_hook_ganforge_run_should_stop(recorded_run):
    _, result = recorded_run
    assert result.status == "stopped" and result.cur_nimg < 200
