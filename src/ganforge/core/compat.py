"""Refuse bad pairings before anything is allocated.

Checks, in order: each network spec's resolution/channel/label constraints against the data; every
``requires`` of every chosen component against what the others ``provide``; each spec's own
``check(config, info)``; batch-size arithmetic; then the ``ganforge_check_config`` hook.
"""

from __future__ import annotations

from typing import Any

from ganforge.core.config import RunConfig
from ganforge.core.errors import IncompatibleComponentsError
from ganforge.core.specs import DataInfo

__all__ = ["check_compatibility", "chosen_specs", "batch_problems"]


def chosen_specs(config: RunConfig, registry: Any) -> dict[str, Any]:
    """Section -> spec of every chosen component (regularizers as ``regularizers.<name>``)."""
    out: dict[str, Any] = {
        "generator": registry.get("generator", config.generator.name),
        "discriminator": registry.get("discriminator", config.discriminator.name),
        "loss": registry.get("loss", config.loss.name),
        "dataset": registry.get("dataset", config.dataset.name),
    }
    if config.augment is not None:
        out["augment"] = registry.get("augment", config.augment.name)
    for name in config.regularizers:
        out[f"regularizers.{name}"] = registry.get("regularizer", name)
    return out


def _provided(specs: dict[str, Any], info: DataInfo) -> dict[str, set[str]]:
    provided = {section.split(".")[0]: set() for section in specs}
    for section, spec in specs.items():
        provided.setdefault(section.split(".")[0], set()).update(getattr(spec, "provides", ()))
    provided["data"] = {"labels"} if info.label_dim > 0 else set()
    if info.channels == 3:
        provided["data"].add("rgb")
    return provided


def batch_problems(config: RunConfig, world: int) -> list[str]:
    t = config.training
    out = []
    if t.batch % world:
        out.append(f"training.batch={t.batch} must be divisible by the number of processes ({world})")
        return out
    per = t.batch // world
    bg = t.batch_gpu or per
    if per % bg:
        out.append(f"training.batch_gpu={bg} must divide the per-process batch {per} (batch {t.batch} / {world} processes)")
    group = getattr(config.discriminator, "mbstd_group_size", None) or getattr(config.discriminator, "mbstd_group", None)
    if group and bg % min(group, bg):
        out.append(f"discriminator {config.discriminator.name!r} computes minibatch statistics over groups of "
                   f"{group}; training.batch_gpu={bg} must be divisible by min({group}, batch_gpu)")
    return out


def check_compatibility(config: RunConfig, info: DataInfo, registry: Any, world: int = 1,
                        pm: Any = None) -> None:
    """Raise :class:`IncompatibleComponentsError` listing every problem found (no tensor is allocated)."""
    specs = chosen_specs(config, registry)
    problems: list[str] = []
    for section in ("generator", "discriminator"):
        problems += specs[section].problems(info)
    provided = _provided(specs, info)
    for section, spec in specs.items():
        for req in sorted(getattr(spec, "requires", ())):
            owner, _, capability = req.partition(".")
            if capability in provided.get(owner, set()):
                continue
            holder = specs.get(owner)
            if owner == "data":
                what = {"labels": "labelled data (dataset.use_labels=true and a dataset.json with labels)",
                        "rgb": "3-channel images"}.get(capability, capability)
                problems.append(f"{spec.kind} {spec.name!r} needs {what}")
            elif holder is None:
                problems.append(f"{spec.kind} {spec.name!r} needs a {owner} providing {capability!r}, and none is chosen")
            else:
                problems.append(f"{spec.kind} {spec.name!r} needs a {owner} that provides {capability!r}; "
                                f"{owner} {holder.name!r} provides {sorted(getattr(holder, 'provides', ())) or 'nothing'}")
    for spec in specs.values():
        if getattr(spec, "check", None) is not None:
            problems += list(spec.check(config, info) or [])
    problems += batch_problems(config, world)
    if pm is None:
        from ganforge.core.plugins import get_plugin_manager

        pm = get_plugin_manager()
    for result in pm.hook.ganforge_check_config(config=config, registry=registry, info=info):
        problems += list(result or [])
    if problems:
        raise IncompatibleComponentsError(problems)
