"""Reading configuration layers: run files, ``--set`` strings, dotted keys, shorthands, old layouts.

Every layer (a preset, the run file, the CLI flags) is a nested dict in the run-file layout. Before
layers are merged each is normalised (:func:`normalise_layer`): component shorthands become sections
(``generator = "pggan"`` -> ``{name: "pggan"}``), regularizer and metric lists become mappings.
"""

from __future__ import annotations

import copy
import json
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ganforge.core.config.schema import SINGLE_SECTIONS
from ganforge.core.errors import ConfigError

__all__ = ["deep_merge", "set_dotted", "get_dotted", "flatten", "parse_set", "load_config_file",
           "normalise_layer", "LEGACY_GENERATOR_KEYS"]

#: Options that older versions kept on the loss and that now belong to the generator (style mixing) or
#: to StyleGAN3-R's generator (the blur of D's inputs).
LEGACY_GENERATOR_KEYS = ("style_mixing_prob", "blur_init_sigma", "blur_fade_kimg")


def deep_merge(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    """Merge ``top`` over ``base`` recursively; a component section whose ``name`` changes is replaced."""
    out = copy.deepcopy(dict(base))
    for key, value in top.items():
        old = out.get(key)
        if isinstance(old, Mapping) and isinstance(value, Mapping):
            if "name" in value and "name" in old and value["name"] != old["name"]:
                out[key] = copy.deepcopy(dict(value))
            else:
                out[key] = deep_merge(old, value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def set_dotted(data: dict[str, Any], key: str, value: Any) -> None:
    """``set_dotted(d, "a.b.c", 1)`` sets ``d["a"]["b"]["c"] = 1``, creating sections on the way."""
    parts = key.split(".")
    node = data
    for i, part in enumerate(parts[:-1]):
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            raise ConfigError(f"cannot set {key!r}: {'.'.join(parts[:i + 1])} is a value, not a section", key)
        node = child
    node[parts[-1]] = value


def get_dotted(data: Mapping[str, Any], key: str, default: Any = None) -> Any:
    """The value at dotted ``key``, or ``default``."""
    node: Any = data
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return default
        node = node[part]
    return node


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Dotted key -> leaf value (an empty mapping is a leaf)."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(flatten(value, path + "."))
        else:
            out[path] = value
    return out


def parse_set(item: str) -> tuple[str, Any]:
    """Parse ``key=value`` from ``--set``; the value is read as JSON when it can be, else as a string."""
    if "=" not in item:
        raise ConfigError(f"--set expects KEY=VALUE (e.g. generator.fmaps_max=256), got {item!r}", "--set")
    key, _, raw = item.partition("=")
    key = key.strip()
    if not key or any(not part for part in key.split(".")):
        raise ConfigError(f"--set has an empty key in {item!r}", "--set")
    raw = raw.strip()
    lowered = raw.lower()
    if lowered in ("none", "null"):
        return key, None
    if lowered in ("true", "false"):
        return key, lowered == "true"
    try:
        return key, json.loads(raw)
    except json.JSONDecodeError:
        return key, raw


def load_config_file(path: str | Path) -> dict[str, Any]:
    """Read a run file (``.toml`` or ``.json``)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} does not exist", "--config")
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot parse {path}: {exc}", "--config") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a table/object at the top level", "--config")
    return data


def normalise_layer(data: Mapping[str, Any]) -> tuple[dict[str, Any], set[str]]:
    """Shorthands to sections. Returns the layer and the regularizers it removes.

    ``generator = "pggan"`` -> ``{name: "pggan"}``; ``augment = "none"`` -> no augmentation;
    ``regularizers = ["r1", "path_length"]`` -> a mapping; ``regularizers.X = null`` (or false) removes X,
    also when a component suggests it; ``metrics = "fid50k,kid50k"`` -> a list of sections.
    """
    data = copy.deepcopy(dict(data))
    for section in SINGLE_SECTIONS:
        value = data.get(section)
        if isinstance(value, str):
            data[section] = None if (section == "augment" and value.lower() in ("none", "noaug")) else {"name": value}
    removed: set[str] = set()
    regs = data.get("regularizers")
    if isinstance(regs, list | tuple):
        regs = {r: {} for r in regs} if all(isinstance(r, str) for r in regs) else regs
    if isinstance(regs, Mapping):
        fixed = {}
        for key, value in regs.items():
            if value is None or value is False:
                removed.add(key)
                continue
            value = dict(value) if isinstance(value, Mapping) else {}
            value.setdefault("name", key)
            if value["name"] != key:
                raise ConfigError(f"regularizer key {key!r} does not match its name {value['name']!r}",
                                  f"regularizers.{key}")
            fixed[key] = value
        data["regularizers"] = fixed
    metrics = data.get("metrics")
    if isinstance(metrics, str):
        metrics = [m for m in metrics.split(",") if m.strip()] if metrics.lower() != "none" else []
    if isinstance(metrics, list | tuple):
        data["metrics"] = [{"name": m.strip()} if isinstance(m, str) else m for m in metrics]
    return data, removed
