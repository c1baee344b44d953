"""Resolving a run configuration from its layers, once.

Layers, lowest first: the model defaults; a preset (``--preset``); defaults suggested by the chosen
components (only where nothing above or below set a value; ``gan run`` prints them); the run file
(``--config``, TOML or JSON); CLI flags and ``--set key=value``. The result is validated once by the
registry's run model and passed on typed. See ``docs/configuration.md``.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ganforge.core.config.layers import (
    LEGACY_GENERATOR_KEYS,
    deep_merge,
    flatten,
    get_dotted,
    load_config_file,
    normalise_layer,
    parse_set,
    set_dotted,
)
from ganforge.core.config.messages import format_validation_error
from ganforge.core.config.schema import DEFAULT_COMPONENTS, MULTI_SECTIONS, SINGLE_SECTIONS, RunConfig, run_config_model
from ganforge.core.errors import ConfigError

__all__ = ["resolve_config", "is_resolved"]

_MISSING = object()


def is_resolved(config: Any, registry: Any) -> bool:
    """True when ``config`` was validated by this registry's run model (no need to resolve it again)."""
    return isinstance(config, run_config_model(registry))


def _check_names(data: Mapping[str, Any], registry: Any) -> None:
    """Unknown component names raise UnknownComponentError listing the choices."""
    for section in SINGLE_SECTIONS:
        value = data.get(section)
        if isinstance(value, Mapping) and "name" in value:
            registry.get(section, value["name"])
    for section, kind in MULTI_SECTIONS.items():
        items = data.get(section) or {}
        for value in (items.values() if isinstance(items, Mapping) else items):
            if isinstance(value, Mapping) and "name" in value:
                registry.get(kind, value["name"])


def _chosen_specs(data: Mapping[str, Any], registry: Any) -> list[Any]:
    specs = []
    for section in ("discriminator", "generator", "loss", "augment", "dataset"):
        value = data.get(section)
        if isinstance(value, Mapping) and "name" in value:
            specs.append(registry.get(section, value["name"]))
    for name in (data.get("regularizers") or {}):
        specs.append(registry.get("regularizer", name))
    return specs


def _suggestions(suggests: Mapping[str, Any]) -> dict[str, Any]:
    """Dotted key -> value; whole component sections (``loss = {name: hinge}``) and each suggested
    regularizer stay one unit."""
    out: dict[str, Any] = {}
    for key, value in suggests.items():
        if key == "regularizers" and isinstance(value, Mapping):
            for name, options in value.items():
                out[f"regularizers.{name}"] = options
        elif isinstance(value, Mapping) and key not in SINGLE_SECTIONS and "name" not in value:
            for sub, v in flatten(value).items():
                out[f"{key}.{sub}"] = v
        else:
            out[key] = value
    return out


def _is_user_set(user_keys: set[str], key: str) -> bool:
    """A key counts as user-set if it, a parent or a child of it was set by the user."""
    if key in user_keys:
        return True
    parts = key.split(".")
    if any(".".join(parts[:i]) in user_keys for i in range(1, len(parts))):
        return True
    return any(k.startswith(key + ".") for k in user_keys)


def _apply_one(data: dict[str, Any], key: str, value: Any) -> bool:
    """Apply one suggestion; False when it changes nothing."""
    section = key.split(".")[0]
    if section in SINGLE_SECTIONS and key == section and isinstance(value, Mapping):
        current = data.get(section)
        if isinstance(current, Mapping) and current.get("name") == value.get("name"):
            return False
        data[section] = copy.deepcopy(dict(value))
        return True
    if section == "regularizers" and "." in key:
        name = key.split(".", 1)[1]
        if name in (data.get("regularizers") or {}):
            return False
        data.setdefault("regularizers", {})[name] = {"name": name, **dict(value or {})}
        return True
    if get_dotted(data, key, _MISSING) == value:
        return False
    set_dotted(data, key, copy.deepcopy(value))
    return True


def _apply_suggestions(data: dict[str, Any], user_keys: set[str], registry: Any) -> list[str]:
    """Apply ``suggests`` of the chosen components where the user set nothing; return what was applied.

    Suggestions may choose other components (Projected GAN's D suggests the hinge loss), so the chosen
    set is recomputed after every change and components no longer chosen suggest nothing.
    """
    applied: list[str] = []
    done: set[tuple[str, str]] = set()
    for _ in range(8):
        pending = [s for s in _chosen_specs(data, registry) if (s.kind, s.name) not in done]
        if not pending:
            break
        spec = pending[0]
        done.add((spec.kind, spec.name))
        for key, value in _suggestions(spec.suggests).items():
            if not _is_user_set(user_keys, key) and _apply_one(data, key, value):
                applied.append(f"{key} = {json.dumps(value)}  (suggested by {spec.kind} {spec.name!r})")
    return applied


def _migrate_legacy(data: dict[str, Any], registry: Any) -> dict[str, str]:
    """Move options older versions kept on the loss to where they live now; returns old -> new key.

    ``loss.r1_gamma``/``loss.r1_interval`` become the ``r1`` regularizer (gamma 0 turned R1 off, so it
    removes it); ``loss.style_mixing_prob`` and ``loss.blur_*`` become generator options. Only keys the
    chosen loss does not define itself move; zeros a generator has no option for (what old checkpoints
    carry) are dropped, other values refused naming the old key.
    """
    loss = data.get("loss")
    if not isinstance(loss, dict) or "name" not in loss:
        return {}
    own = registry.get("loss", loss["name"]).config.model_fields
    moved: dict[str, str] = {}
    if ("r1_gamma" in loss and "r1_gamma" not in own) or ("r1_interval" in loss and "r1_interval" not in own):
        gamma, interval = loss.pop("r1_gamma", None), loss.pop("r1_interval", _MISSING)
        regs = data.setdefault("regularizers", {})
        if gamma is not None and float(gamma) == 0:
            regs.pop("r1", None)
            moved["loss.r1_gamma"] = "regularizers.r1"
        else:
            r1 = regs.setdefault("r1", {"name": "r1"})
            if gamma is not None:
                r1["gamma"] = gamma
                moved["loss.r1_gamma"] = "regularizers.r1.gamma"
            if interval is not _MISSING:
                r1["interval"] = interval
                moved["loss.r1_interval"] = "regularizers.r1.interval"
    generator = data.get("generator")
    fields = registry.get("generator", generator["name"]).config.model_fields
    for key in LEGACY_GENERATOR_KEYS:
        if key not in loss or key in own:
            continue
        value = loss.pop(key)
        if key in fields:
            generator[key] = value
            moved[f"loss.{key}"] = f"generator.{key}"
        elif value:
            raise ConfigError(f"generator {generator['name']!r} has no option {key!r} (an older layout kept it on "
                              "the loss); choose a generator that has it, or remove it", f"loss.{key}")
    return moved


def resolve_config(
    file: str | Path | Mapping[str, Any] | None = None,
    *,
    preset: str | None = None,
    overrides: Mapping[str, Any] | None = None,
    sets: Iterable[str] = (),
    registry: Any = None,
) -> tuple[RunConfig, list[str]]:
    """Resolve a run configuration from its layers.

    Args:
        file: path of a TOML/JSON run file, or a dict in the same layout.
        preset: name of a registered preset (lowest layer above the defaults).
        overrides: dotted keys set by CLI flags (``{"generator.name": "stylegan2", "training.kimg": 10}``).
        sets: ``--set KEY=VALUE`` strings (highest layer).
        registry: the component registry (default: the process-wide one).

    Returns:
        The validated config and the list of component-suggested defaults that were applied.

    Raises:
        ConfigError: a misspelt key, a wrong type or value (with its field path).
        UnknownComponentError: an unknown component name (with the choices).
    """
    if registry is None:
        from ganforge.core.registry import get_registry

        registry = get_registry()
    user: dict[str, Any] = {}
    if file is not None:
        user = copy.deepcopy(dict(file)) if isinstance(file, Mapping) else load_config_file(file)
        if preset is None and isinstance(user.get("preset"), str):
            preset = user["preset"]
    user, removed = normalise_layer(user)
    flag_layer: dict[str, Any] = {}
    for key, value in (overrides or {}).items():
        if value is not None:
            set_dotted(flag_layer, key, value)
    for item in sets:
        key, value = parse_set(item)
        set_dotted(flag_layer, key, value)
    flag_layer, removed_by_flags = normalise_layer(flag_layer)
    removed |= removed_by_flags
    user = deep_merge(user, flag_layer)

    base: dict[str, Any] = {}
    if preset is not None:
        base, _ = normalise_layer(dict(registry.get("preset", preset).config))
        user.setdefault("preset", preset)
    for section, name in DEFAULT_COMPONENTS.items():
        if name is not None and section not in base:
            base[section] = {"name": name}
    data = deep_merge(base, user)
    for name in removed:
        (data.get("regularizers") or {}).pop(name, None)
    # a section present only as options (no name) takes the base's name
    for section in SINGLE_SECTIONS:
        if isinstance(data.get(section), Mapping) and "name" not in data[section]:
            data[section] = {"name": (base.get(section) or {}).get("name", DEFAULT_COMPONENTS[section]),
                             **data[section]}
    _check_names(data, registry)

    user_keys = set(flatten(user)) | {f"regularizers.{name}" for name in removed}
    user_keys |= {section for section in SINGLE_SECTIONS
                  if isinstance(user.get(section), Mapping) and "name" in user[section]}
    for old, new in _migrate_legacy(data, registry).items():
        if old in user_keys:
            user_keys.add(new)
    applied = _apply_suggestions(data, user_keys, registry)
    _check_names(data, registry)
    _migrate_legacy(data, registry)  # a suggested preset or loss section may still use the old layout

    model = run_config_model(registry)
    try:
        config = model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, data, registry)) from None
    return config, applied
