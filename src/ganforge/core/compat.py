"""Refuse bad pairings before anything is allocated: one checker over what components declare.

A component states what it needs in one place, its spec:

* ``requires``: capabilities other components must ``provide`` (``"generator.mapping"``,
  ``"discriminator.features"``) or the data must have (``"data.labels"``, ``"data.rgb"``);
* the network constraints of generator and discriminator specs (resolution, channels, labels);
* ``check(ctx)``: rules that depend on option values (a :class:`~ganforge.core.specs.CheckContext`).

:func:`check_compatibility` evaluates them for every chosen component (generator, discriminator,
loss, regularizers, augmentation, dataset and metrics alike) plus the batch arithmetic of the loop,
and raises one :class:`~ganforge.core.errors.IncompatibleComponentsError` listing every problem. The
deprecated ``ganforge_check_config`` hook is still consulted for plugins written against it.
"""

from __future__ import annotations

from typing import Any

from ganforge.core.errors import IncompatibleComponentsError
from ganforge.core.specs import CheckContext, DataInfo

__all__ = ["check_compatibility", "chosen_specs", "compatibility_problems", "batch_problems"]

#: What the data can provide, and how to explain a missing one.
_DATA_CAPABILITIES = {
    "labels": "labelled data (dataset.use_labels=true and a dataset.json with labels)",
    "rgb": "3-channel images",
}


def chosen_specs(config: Any, registry: Any) -> dict[str, Any]:
    """Section -> spec of every chosen component (``regularizers.<name>``, ``metrics.<name>``)."""
    out: dict[str, Any] = {section: registry.get(section, getattr(config, section).name)
                           for section in ("generator", "discriminator", "loss", "dataset")}
    if config.augment is not None:
        out["augment"] = registry.get("augment", config.augment.name)
    for name in config.regularizers:
        out[f"regularizers.{name}"] = registry.get("regularizer", name)
    for metric in config.metrics:
        out[f"metrics.{metric.name}"] = registry.get("metric", metric.name)
    return out


def _data_capabilities(info: DataInfo) -> set[str]:
    caps = {"labels"} if info.label_dim > 0 else set()
    if info.channels == 3:
        caps.add("rgb")
    return caps


def _requirement_problems(specs: dict[str, Any], info: DataInfo) -> list[str]:
    provided: dict[str, set[str]] = {"data": _data_capabilities(info)}
    for section, spec in specs.items():
        provided.setdefault(section.split(".")[0], set()).update(spec.provides)
    problems = []
    for spec in specs.values():
        for req in sorted(spec.requires):
            owner, _, capability = req.partition(".")
            if capability in provided.get(owner, set()):
                continue
            holder = specs.get(owner)
            if owner == "data":
                problems.append(f"{spec.kind} {spec.name!r} needs {_DATA_CAPABILITIES.get(capability, capability)}")
            elif holder is None:
                problems.append(f"{spec.kind} {spec.name!r} needs a {owner} providing {capability!r}, and none is "
                                "chosen")
            else:
                offers = sorted(holder.provides) or "nothing"
                problems.append(f"{spec.kind} {spec.name!r} needs a {owner} that provides {capability!r}; "
                                f"{owner} {holder.name!r} provides {offers}")
    return problems


def batch_problems(config: Any, world: int) -> list[str]:
    """The loop's own arithmetic: the batch splits evenly over processes and passes."""
    t = config.training
    if t.batch % world:
        return [f"training.batch={t.batch} must be divisible by the number of processes ({world})"]
    per = t.batch // world
    bg = t.batch_gpu or per
    if per % bg:
        return [f"training.batch_gpu={bg} must divide the per-process batch {per} (batch {t.batch} / {world} "
                "processes)"]
    return []


def _term_problems(config: Any, registry: Any) -> list[str]:
    """Lazy terms of one player share one phase, hence one interval."""
    by_player: dict[str, dict[int, list[str]]] = {}
    for name, cfg in config.regularizers.items():
        try:
            term = registry.get("regularizer", name).build(cfg)
        except Exception as exc:  # a factory that cannot even be built is reported, not raised
            return [f"regularizer {name!r} cannot be built: {type(exc).__name__}: {exc}"]
        if term.enabled and term.interval and term.interval > 1:
            by_player.setdefault(term.player, {}).setdefault(term.interval, []).append(name)
    problems = []
    for player, intervals in by_player.items():
        if len(intervals) > 1:
            listed = ", ".join(f"{'/'.join(names)} every {n}" for n, names in sorted(intervals.items()))
            problems.append(f"lazy {player} regularizers must share one interval (one {player}reg phase); got "
                            f"{listed}: set the same regularizers.<name>.interval on each")
    return problems


def compatibility_problems(config: Any, info: DataInfo, registry: Any, world: int = 1, pm: Any = None) -> list[str]:
    """Every problem :func:`check_compatibility` would raise, as a list (empty when the run is fine)."""
    specs = chosen_specs(config, registry)
    ctx = CheckContext(config=config, info=info, world=world, specs=specs)
    problems = batch_problems(config, world)
    problems += _requirement_problems(specs, info)
    problems += _term_problems(config, registry)
    for spec in specs.values():
        problems += spec.problems(ctx)
    if pm is None:
        from ganforge.core.plugins import get_plugin_manager

        pm = get_plugin_manager()
    for result in pm.hook.ganforge_check_config(config=config, registry=registry, info=info):
        problems += list(result or [])
    return problems


def check_compatibility(config: Any, info: DataInfo, registry: Any, world: int = 1, pm: Any = None) -> None:
    """Raise :class:`IncompatibleComponentsError` listing every problem found (no tensor is allocated)."""
    problems = compatibility_problems(config, info, registry, world, pm)
    if problems:
        raise IncompatibleComponentsError(problems)
