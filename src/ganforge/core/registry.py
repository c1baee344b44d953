"""The component registry, built on first use from the ``ganforge_register_*`` hooks.

Each registration hook is called through pluggy once per plugin (``subset_hook_caller``), built-ins
first, so every record is attributed to the plugin that returned it and a failing third-party plugin
is recorded and skipped without hiding anything else. A duplicate name of one kind raises :class:`~ganforge.core.errors.DuplicateComponentError` naming
both plugins when both are built-in; when a third-party plugin clashes, its component is refused and
recorded as a plugin failure (strict mode raises). An unknown name raises
:class:`~ganforge.core.errors.UnknownComponentError` listing the choices.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any

from ganforge.core.errors import DuplicateComponentError, PluginLoadError, UnknownComponentError
from ganforge.core.plugins import get_plugin_manager, on_reset, record_failure
from ganforge.core.specs import (
    SPEC_KINDS,
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

__all__ = ["Registry", "get_registry", "REGISTRATION_HOOKS"]

#: Registration hook -> record classes it may return.
REGISTRATION_HOOKS: dict[str, tuple[type, ...]] = {
    "ganforge_register_generators": (GeneratorSpec,),
    "ganforge_register_discriminators": (DiscriminatorSpec,),
    "ganforge_register_losses": (LossSpec, RegularizerSpec),
    "ganforge_register_augments": (AugmentSpec,),
    "ganforge_register_metrics": (MetricSpec,),
    "ganforge_register_datasets": (DatasetSpec,),
    "ganforge_register_presets": (PresetSpec,),
    "ganforge_register_ops": (OpSpec,),
}


class Registry:
    """Components by kind and name, with the plugin that provided each."""

    def __init__(self) -> None:
        self._specs: dict[str, dict[str, Any]] = {kind: {} for kind in SPEC_KINDS}
        self._provider: dict[tuple[str, str], str] = {}

    # -- building ------------------------------------------------------------------------------
    def add(self, spec: Any, plugin: str) -> None:
        """Add one record; raise DuplicateComponentError on a name clash."""
        kind = spec.kind
        if kind not in self._specs:
            raise TypeError(f"unknown spec kind {kind!r}")
        if spec.name in self._specs[kind]:
            raise DuplicateComponentError(kind, spec.name, self._provider[(kind, spec.name)], plugin)
        self._specs[kind][spec.name] = spec
        self._provider[(kind, spec.name)] = plugin

    @classmethod
    def from_plugin_manager(cls, pm: Any) -> Registry:
        reg = cls()
        for hook_name, allowed in REGISTRATION_HOOKS.items():
            hook = getattr(pm.hook, hook_name)
            plugins = list(dict.fromkeys(impl.plugin_name for impl in hook.get_hookimpls()))
            # built-ins first, so a third-party plugin can never displace a built-in component
            plugins.sort(key=lambda name: 0 if pm.is_builtin(name) else 1)
            for name in plugins:
                builtin = pm.is_builtin(name)
                plugin = pm.get_plugin(name)
                others = [p for p in pm.get_plugins() if p is not plugin]
                try:
                    results = pm.subset_hook_caller(hook_name, remove_plugins=others)()
                    records = [r for result in results for r in _as_records(result, allowed, name, hook_name)]
                except Exception as exc:
                    if builtin:
                        raise PluginLoadError(f"built-in plugin {name!r} failed in {hook_name}: {exc}") from exc
                    _fail(pm, name, exc)
                    continue
                for record in records:
                    try:
                        reg.add(record, name)
                    except DuplicateComponentError as exc:
                        if builtin:
                            raise
                        _fail(pm, name, exc)
        reg._register_options()
        return reg

    def _register_options(self) -> None:
        """Add the forward options network specs declare to the known vocabulary."""
        from ganforge.core.options import register_options

        for kind in ("generator", "discriminator"):
            for spec in self._specs[kind].values():
                register_options(spec.options, f"{kind} {spec.name!r}")

    # -- queries -------------------------------------------------------------------------------
    def get(self, kind: str, name: str) -> Any:
        """The record of component ``name`` of ``kind``; UnknownComponentError lists the choices."""
        specs = self._kind(kind)
        try:
            return specs[name]
        except KeyError:
            raise UnknownComponentError(kind, name, list(specs)) from None

    def names(self, kind: str) -> list[str]:
        return sorted(self._kind(kind))

    def specs(self, kind: str) -> list[Any]:
        specs = self._kind(kind)
        return [specs[name] for name in sorted(specs)]

    def has(self, kind: str, name: str) -> bool:
        return name in self._kind(kind)

    def provider(self, kind: str, name: str) -> str:
        self.get(kind, name)
        return self._provider[(kind, name)]

    def by_plugin(self) -> dict[str, dict[str, list[str]]]:
        """plugin name -> kind -> component names."""
        out: dict[str, dict[str, list[str]]] = {}
        for (kind, name), plugin in sorted(self._provider.items()):
            out.setdefault(plugin, {}).setdefault(kind, []).append(name)
        return out

    def _kind(self, kind: str) -> dict[str, Any]:
        try:
            return self._specs[kind]
        except KeyError:
            raise UnknownComponentError("component kind", kind, list(self._specs)) from None

    def __repr__(self) -> str:
        counts = ", ".join(f"{k}={len(v)}" for k, v in self._specs.items() if v)
        return f"Registry({counts})"


def _fail(pm: Any, plugin_name: str, exc: BaseException) -> None:
    info = pm.infos.get(plugin_name)
    record_failure(pm, plugin_name, info.source if info else "runtime", exc,
                   info.dist if info else None, info.version if info else None)


def _as_records(result: Any, allowed: tuple[type, ...], plugin: str, hook: str) -> list[Any]:
    if result is None:
        return []
    items: Iterable[Any] = result if isinstance(result, list | tuple) else [result]
    records = list(items)
    for record in records:
        if not isinstance(record, allowed):
            names = " or ".join(c.__name__ for c in allowed)
            raise TypeError(f"plugin {plugin!r}: {hook} must return a list of {names}, got {type(record).__name__}")
    return records


@functools.cache
def get_registry() -> Registry:
    """The process-wide registry, built from the plugin manager on first use."""
    return Registry.from_plugin_manager(get_plugin_manager())


@on_reset
def _forget_registry() -> None:
    clear = getattr(get_registry, "cache_clear", None)  # tests may have replaced it
    if clear is not None:
        clear()
