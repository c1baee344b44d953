"""Plugin manager: built-ins, entry points one by one, env controls, plugins dir, check_pending."""

from __future__ import annotations

import importlib.metadata
import sys
import textwrap
import tomllib
import warnings
from pathlib import Path

import pytest

from ganforge.core import plugins
from ganforge.core.errors import PluginLoadError
from ganforge.core.plugins import DEFAULT_PLUGINS, GanforgePluginWarning, make_plugin_manager
from ganforge.core.registry import Registry

ROOT = Path(__file__).resolve().parents[2]

GOOD = '''
from typing import Literal
from ganforge import hookimpl
from ganforge.core.config import ComponentConfig
from ganforge.core.specs import GeneratorSpec

class Cfg(ComponentConfig):
    name: Literal["{name}"] = "{name}"

@hookimpl
def ganforge_register_generators():
    return [GeneratorSpec(name="{name}", factory=lambda cfg, info: None, config=Cfg, summary="x")]
'''


class _Dist:
    def __init__(self, name: str, version: str = "1.2.3"):
        self.metadata = {"Name": name}
        self.version = version


def _ep(name: str, value: str, dist: str) -> importlib.metadata.EntryPoint:
    ep = importlib.metadata.EntryPoint(name=name, value=value, group="ganforge")
    return ep._for(_Dist(dist))


@pytest.fixture
def fake_eps(monkeypatch, tmp_path):
    """Write modules into a temp dir on sys.path and expose them as entry points."""
    monkeypatch.syspath_prepend(str(tmp_path))
    eps: list[importlib.metadata.EntryPoint] = []

    def add(ep_name: str, source: str, dist: str = "thirdparty", module: str | None = None):
        module = module or f"gf_test_{ep_name}"
        (tmp_path / f"{module}.py").write_text(textwrap.dedent(source))
        sys.modules.pop(module, None)
        eps.append(_ep(ep_name, module, dist))

    monkeypatch.setattr(plugins.importlib_metadata, "entry_points", lambda group=None: [e for e in eps if e.group == group])
    return add


def test_builtins_are_declared_once():
    """DEFAULT_PLUGINS is the one list of built-ins: pyproject declares no entry points for them, and every
    plugin package under ganforge/plugins is in it."""
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "ganforge" not in data["project"].get("entry-points", {})
    packages = {p.name for p in (ROOT / "src" / "ganforge" / "plugins").iterdir() if (p / "__init__.py").is_file()}
    assert {module.rsplit(".", 1)[1] for _, module in DEFAULT_PLUGINS} == packages
    assert len({name for name, _ in DEFAULT_PLUGINS}) == len(DEFAULT_PLUGINS)


def test_builtins_registered_with_versions():
    pm = make_plugin_manager(entry_points=False)
    names = {i.name: i for i in plugins.plugin_info(pm)}
    for name, module in DEFAULT_PLUGINS:
        assert names[name].source == "built-in"
        assert names[name].module == module
    assert pm.failures == []


def test_entry_point_plugin_loads(fake_eps):
    fake_eps("extra", GOOD.format(name="extra_gen"))
    pm = make_plugin_manager()
    info = {i.name: i for i in plugins.plugin_info(pm)}["extra"]
    assert (info.source, info.dist, info.version) == ("entry point", "thirdparty", "1.2.3")
    assert Registry.from_plugin_manager(pm).has("generator", "extra_gen")


def test_broken_plugin_is_recorded_warned_once_and_skipped(fake_eps):
    fake_eps("broken", "raise RuntimeError('boom at import')")
    fake_eps("fine", GOOD.format(name="fine_gen"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pm = make_plugin_manager()
    ours = [w for w in caught if issubclass(w.category, GanforgePluginWarning)]
    assert len(ours) == 1 and "broken" in str(ours[0].message) and "boom at import" in str(ours[0].message)
    assert [f.name for f in pm.failures] == ["broken"]
    assert "RuntimeError: boom at import" in pm.failures[0].error
    assert not pm.has_plugin("broken")
    assert Registry.from_plugin_manager(pm).has("generator", "fine_gen")


def test_strict_mode_reraises(fake_eps, monkeypatch):
    fake_eps("broken", "raise RuntimeError('boom')")
    monkeypatch.setenv("GANFORGE_STRICT_PLUGINS", "1")
    with pytest.raises(PluginLoadError, match="broken"):
        make_plugin_manager()


def test_duplicate_component_from_third_party_is_refused_and_reported(fake_eps):
    fake_eps("copycat", GOOD.format(name="pggan"))
    with pytest.warns(GanforgePluginWarning, match="copycat"):
        pm = make_plugin_manager()
        reg = Registry.from_plugin_manager(pm)
    assert reg.provider("generator", "pggan") == "pggan"
    assert any(f.name == "copycat" and "registered twice" in f.error for f in pm.failures)


def test_plugin_name_clash_with_builtin_is_recorded(fake_eps):
    fake_eps("pggan", GOOD.format(name="other"), module="gf_test_clash")
    with pytest.warns(GanforgePluginWarning):
        pm = make_plugin_manager()
    assert any(f.name == "pggan" and "already registered" in f.error for f in pm.failures)
    assert pm.is_builtin("pggan")


def test_unknown_hook_is_unregistered_by_check_pending(fake_eps):
    fake_eps("typo", "from ganforge import hookimpl\n@hookimpl\ndef ganforge_register_generatorz():\n    return []\n")
    with pytest.warns(GanforgePluginWarning, match="typo"):
        pm = make_plugin_manager()
    assert not pm.has_plugin("typo")
    assert any(f.name == "typo" for f in pm.failures)


def test_load_plugins_allowlist_and_disable(fake_eps, monkeypatch):
    fake_eps("one", GOOD.format(name="g_one"), dist="dist-one")
    fake_eps("two", GOOD.format(name="g_two"), dist="dist-two")
    monkeypatch.setenv("GANFORGE_LOAD_PLUGINS", "dist-two")
    pm = make_plugin_manager()
    assert not pm.has_plugin("one") and pm.has_plugin("two")
    monkeypatch.setenv("GANFORGE_LOAD_PLUGINS", "")
    pm = make_plugin_manager()
    assert not pm.has_plugin("one") and not pm.has_plugin("two")
    monkeypatch.delenv("GANFORGE_LOAD_PLUGINS")
    monkeypatch.setenv("GANFORGE_DISABLE_PLUGINS", "one")
    pm = make_plugin_manager()
    assert not pm.has_plugin("one") and pm.has_plugin("two")


def test_plugins_dir(tmp_path):
    (tmp_path / "mine.py").write_text(GOOD.format(name="dir_gen"))
    (tmp_path / "bad.py").write_text("import nonexistent_module_xyz\n")
    with pytest.warns(GanforgePluginWarning, match="bad"):
        pm = make_plugin_manager(entry_points=False, plugins_dir=str(tmp_path))
    info = {i.name: i for i in plugins.plugin_info(pm)}
    assert info["mine"].source == "plugins dir"
    assert Registry.from_plugin_manager(pm).has("generator", "dir_gen")
    assert [f.name for f in pm.failures] == ["bad"]


def test_missing_plugins_dir_is_a_clear_error(tmp_path):
    from ganforge.core.errors import ConfigError

    with pytest.raises(ConfigError, match="does not exist"):
        make_plugin_manager(entry_points=False, plugins_dir=str(tmp_path / "nope"))


def test_manager_is_lazy_and_cached():
    import importlib

    import ganforge

    importlib.reload(ganforge)  # importing ganforge must not build the manager
    plugins.reset()
    assert plugins.get_plugin_manager.cache_info().currsize == 0
    pm = plugins.get_plugin_manager()
    assert plugins.get_plugin_manager() is pm


def test_temporary_plugin_registers_and_unregisters():
    from ganforge.core.registry import get_registry

    namespace: dict = {}
    exec(GOOD.format(name="temp_gen"), namespace)
    with plugins.temporary_plugin(namespace_module(namespace), "temp"):
        assert get_registry().has("generator", "temp_gen")
    assert not get_registry().has("generator", "temp_gen")


def namespace_module(namespace: dict):
    import types

    module = types.ModuleType("gf_temp_plugin")
    module.__dict__.update(namespace)
    return module


def test_trace_plugins_env(monkeypatch, capsys):
    monkeypatch.setenv("GANFORGE_TRACE_PLUGINS", "1")
    pm = make_plugin_manager(entry_points=False)
    pm.hook.ganforge_register_presets()
    assert "ganforge_register_presets" in capsys.readouterr().err
