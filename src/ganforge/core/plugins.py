"""The plugin manager: built-ins, entry points, a plugins directory, env controls.

Loading policy (``docs/plugins.md``):

1. ``get_plugin_manager()`` is cached and called lazily (never at import).
2. Built-ins (:data:`DEFAULT_PLUGINS`) are registered first; any error there is fatal.
3. Entry points of group ``ganforge`` load one at a time, unless ``GANFORGE_LOAD_PLUGINS`` limits
   them to listed distributions. Names already registered are skipped (the built-ins' own entry
   points), as are names in ``GANFORGE_DISABLE_PLUGINS``. A plugin that fails is recorded as a
   :class:`PluginFailure`, warned about once, unregistered, and skipped;
   ``GANFORGE_STRICT_PLUGINS=1`` re-raises.
4. ``--plugins-dir DIR`` / ``GANFORGE_PLUGINS_DIR`` import every ``*.py`` in DIR as a plugin.
5. ``ganforge_addhooks`` is called (historic), then ``check_pending``: a third-party plugin
   implementing an unknown hook is unregistered and recorded; a built-in raises.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import importlib.metadata as importlib_metadata
import importlib.util
import os
import sys
import traceback
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pluggy

from ganforge import NAME, __version__
from ganforge.core import hookspecs
from ganforge.core.errors import PluginLoadError
from ganforge.core.flags import env_list, strict_plugins

__all__ = [
    "DEFAULT_PLUGINS",
    "PluginFailure",
    "PluginInfo",
    "GanforgePluginWarning",
    "make_plugin_manager",
    "get_plugin_manager",
    "set_plugins_dir",
    "reset",
    "plugin_info",
    "plugin_failures",
    "temporary_plugin",
    "record_failure",
    "on_reset",
]

#: Built-in plugins: (name, module), the one list of them (third-party plugins come from entry points).
DEFAULT_PLUGINS: tuple[tuple[str, str], ...] = (
    ("default_datasets", "ganforge.plugins.default_datasets"),
    ("default_losses", "ganforge.plugins.default_losses"),
    ("default_logging", "ganforge.plugins.default_logging"),
    ("default_checkpoints", "ganforge.plugins.default_checkpoints"),
    ("default_ops", "ganforge.plugins.default_ops"),
    ("default_metrics", "ganforge.plugins.default_metrics"),
    ("pggan", "ganforge.plugins.pggan"),
    ("ada", "ganforge.plugins.ada"),
    ("freqbias", "ganforge.plugins.freqbias"),
    ("stylegan2", "ganforge.plugins.stylegan2"),
    ("stylegan3", "ganforge.plugins.stylegan3"),
    ("default_augments", "ganforge.plugins.default_augments"),
    ("projected", "ganforge.plugins.projected"),
)

SOURCE_BUILTIN = "built-in"
SOURCE_ENTRY_POINT = "entry point"
SOURCE_DIR = "plugins dir"
SOURCE_RUNTIME = "runtime"


class GanforgePluginWarning(UserWarning):
    """Warned once for each third-party plugin that fails to load."""


@dataclass(frozen=True)
class PluginInfo:
    """Where a registered plugin came from."""

    name: str
    version: str
    source: str  # built-in, entry point, plugins dir, runtime
    module: str
    dist: str | None = None


@dataclass(frozen=True)
class PluginFailure:
    """A plugin that could not be loaded, or whose components were refused."""

    name: str
    dist: str | None
    version: str | None
    source: str
    error: str
    traceback: str = ""


class _Manager(pluggy.PluginManager):
    """A pluggy manager that also remembers where plugins came from and what failed."""

    def __init__(self) -> None:
        super().__init__(NAME)
        self.infos: dict[str, PluginInfo] = {}
        self.failures: list[PluginFailure] = []

    def is_builtin(self, name: str) -> bool:
        info = self.infos.get(name)
        return info is not None and info.source == SOURCE_BUILTIN


_plugins_dir: str | None = None
_reset_callbacks: list[Any] = []


def on_reset(callback: Any) -> Any:
    """Call ``callback()`` whenever the plugin manager is reset (caches built from it register here)."""
    _reset_callbacks.append(callback)
    return callback


def set_plugins_dir(path: str | os.PathLike[str] | None) -> None:
    """Use one-file plugins from ``path`` (the CLI's ``--plugins-dir``); resets the manager."""
    global _plugins_dir
    _plugins_dir = os.fspath(path) if path is not None else None
    reset()


def record_failure(pm: _Manager, name: str, source: str, exc: BaseException, dist: str | None = None,
                   version: str | None = None) -> None:
    """Record a failed third-party plugin, warn once, or re-raise in strict mode."""
    failure = PluginFailure(
        name=name, dist=dist, version=version, source=source, error=f"{type(exc).__name__}: {exc}",
        traceback="".join(traceback.format_exception(type(exc), exc, exc.__traceback__)),
    )
    pm.failures.append(failure)
    if strict_plugins():
        raise PluginLoadError(f"plugin {name!r} ({source}) failed to load: {failure.error}") from exc
    warnings.warn(
        f"ganforge plugin {name!r} ({source}{', ' + dist if dist else ''}) failed to load and was skipped: "
        f"{failure.error}. Set GANFORGE_STRICT_PLUGINS=1 to see the traceback.",
        GanforgePluginWarning,
        stacklevel=3,
    )


def _safe_unregister(pm: _Manager, name: str) -> None:
    with contextlib.suppress(Exception):
        plugin = pm.get_plugin(name)
        if plugin is not None:
            pm.unregister(plugin=plugin, name=name)
    pm.infos.pop(name, None)


def _register_builtins(pm: _Manager) -> None:
    disabled = set(env_list("GANFORGE_DISABLE_PLUGINS") or ())
    for name, module_name in DEFAULT_PLUGINS:
        if name in disabled:
            continue
        try:
            module = importlib.import_module(module_name)
            pm.register(module, name=name)
        except Exception as exc:  # a broken built-in is a bug: fail loudly
            raise PluginLoadError(f"built-in plugin {name!r} ({module_name}) failed to load: {exc}") from exc
        pm.infos[name] = PluginInfo(name, __version__, SOURCE_BUILTIN, module_name, NAME)


def _register_entry_points(pm: _Manager) -> None:
    allow = env_list("GANFORGE_LOAD_PLUGINS")
    disabled = set(env_list("GANFORGE_DISABLE_PLUGINS") or ())
    try:
        eps = importlib_metadata.entry_points(group=NAME)
    except Exception:  # pragma: no cover - broken metadata on the path
        return
    seen: set[tuple[str, str]] = set()
    for ep in sorted(eps, key=lambda e: (e.name, e.value)):
        dist = getattr(ep, "dist", None)
        dist_name = dist.metadata["Name"] if dist is not None else None
        version = dist.version if dist is not None else None
        if (ep.name, ep.value) in seen:
            continue
        seen.add((ep.name, ep.value))
        if dist_name is not None and dist_name.lower() == NAME:
            continue  # an older ganforge install declared its built-ins as entry points too
        if allow is not None and (dist_name is None or dist_name.lower() not in {a.lower() for a in allow}):
            continue
        if ep.name in disabled:
            continue
        if pm.has_plugin(ep.name) or ep.name in pm.infos:
            holder = pm.infos.get(ep.name)
            record_failure(pm, ep.name, SOURCE_ENTRY_POINT, PluginLoadError(
                f"a plugin named {ep.name!r} is already registered"
                f"{' (' + holder.source + ')' if holder else ''}"), dist_name, version)
            continue
        try:
            module = ep.load()
            pm.register(module, name=ep.name)
            pm.infos[ep.name] = PluginInfo(ep.name, version or "?", SOURCE_ENTRY_POINT, ep.value, dist_name)
        except Exception as exc:
            _safe_unregister(pm, ep.name)
            record_failure(pm, ep.name, SOURCE_ENTRY_POINT, exc, dist_name, version)


def _register_plugins_dir(pm: _Manager, directory: str) -> None:
    path = Path(directory)
    if not path.is_dir():
        from ganforge.core.errors import ConfigError

        raise ConfigError(f"plugins directory {directory!r} does not exist or is not a directory", "--plugins-dir")
    disabled = set(env_list("GANFORGE_DISABLE_PLUGINS") or ())
    for file in sorted(path.glob("*.py")):
        name = file.stem
        if name.startswith("_") or name in disabled:
            continue
        module_name = f"ganforge_plugins_dir.{name}"
        if pm.has_plugin(name) or name in pm.infos:
            record_failure(pm, name, SOURCE_DIR, PluginLoadError(
                f"{file}: a plugin named {name!r} is already registered; rename the file"))
            continue
        try:
            spec = importlib.util.spec_from_file_location(module_name, file)
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            sys.modules[module_name] = module
            spec.loader.exec_module(module)
            pm.register(module, name=name)
            pm.infos[name] = PluginInfo(name, str(getattr(module, "__version__", "-")), SOURCE_DIR, str(file))
        except Exception as exc:
            sys.modules.pop(module_name, None)
            _safe_unregister(pm, name)
            record_failure(pm, name, SOURCE_DIR, exc)


def _check_pending(pm: _Manager) -> None:
    """``check_pending``, unregistering third-party plugins with unknown hooks."""
    for _ in range(len(pm.get_plugins()) + 1):
        try:
            pm.check_pending()
            return
        except pluggy.PluginValidationError as exc:
            name = pm.get_name(exc.plugin) if exc.plugin is not None else None
            if name is None or pm.is_builtin(name):
                raise PluginLoadError(f"built-in plugin {name!r} is invalid: {exc}") from exc
            info = pm.infos.get(name)
            _safe_unregister(pm, name)
            record_failure(pm, name, info.source if info else SOURCE_ENTRY_POINT, exc,
                           info.dist if info else None, info.version if info else None)


def make_plugin_manager(*, entry_points: bool = True, plugins_dir: str | None = None,
                        builtins: bool = True) -> _Manager:
    """Build a fresh plugin manager (uncached; tests use this directly)."""
    pm = _Manager()
    pm.add_hookspecs(hookspecs)
    if builtins:
        _register_builtins(pm)
    if entry_points:
        _register_entry_points(pm)
    directory = plugins_dir if plugins_dir is not None else os.environ.get("GANFORGE_PLUGINS_DIR")
    if directory:
        _register_plugins_dir(pm, directory)
    pm.hook.ganforge_addhooks.call_historic(kwargs={"pluginmanager": pm})
    _check_pending(pm)
    if os.environ.get("GANFORGE_TRACE_PLUGINS", "").strip() in ("1", "true", "yes"):
        pm.trace.root.setwriter(sys.stderr.write)
        pm.enable_tracing()
    return pm


@functools.cache
def get_plugin_manager() -> _Manager:
    """The process-wide plugin manager, built on first use."""
    return make_plugin_manager(plugins_dir=_plugins_dir)


def reset() -> None:
    """Forget the cached plugin manager and what was built from it (the registry): rebuilt on next use."""
    get_plugin_manager.cache_clear()
    _clear_derived()


def _clear_derived() -> None:
    for callback in _reset_callbacks:
        callback()


def plugin_info(pm: _Manager | None = None) -> list[PluginInfo]:
    pm = pm or get_plugin_manager()
    return [pm.infos.get(name) or PluginInfo(name, "-", SOURCE_RUNTIME, repr(plugin))
            for name, plugin in pm.list_name_plugin() if plugin is not None]


def plugin_failures(pm: _Manager | None = None) -> list[PluginFailure]:
    return list((pm or get_plugin_manager()).failures)


@contextlib.contextmanager
def temporary_plugin(plugin: Any, name: str | None = None) -> Iterator[str]:
    """Register ``plugin`` on the global manager for the duration of the block (tests, notebooks).

    The registry is rebuilt on entry and on exit, so components the plugin registers are visible
    inside the block only.
    """
    pm = get_plugin_manager()
    registered = pm.register(plugin, name=name)
    assert registered is not None
    pm.infos[registered] = PluginInfo(registered, str(getattr(plugin, "__version__", "-")), SOURCE_RUNTIME,
                                      getattr(plugin, "__name__", repr(plugin)))
    _clear_derived()
    try:
        yield registered
    finally:
        with contextlib.suppress(ValueError):
            pm.unregister(name=registered)
        pm.infos.pop(registered, None)
        _clear_derived()
