"""Validation errors as one line per problem: ``<field path>: <problem> (got <value>)``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from ganforge.core.config.schema import RunConfig, TrainingConfig, section_kind
from ganforge.core.errors import UnknownComponentError, close_matches

__all__ = ["format_validation_error"]


def _loc_path(loc: tuple[Any, ...], data: Mapping[str, Any]) -> tuple[str, Any]:
    """Dotted field path from a pydantic loc, without the union tags pydantic inserts; also the value
    at that path in ``data``."""
    parts: list[str] = []
    node: Any = data
    i = 0
    while i < len(loc):
        item = loc[i]
        parts.append(str(item))
        if isinstance(node, Mapping):
            node = node.get(item)
        elif isinstance(node, list) and isinstance(item, int) and item < len(node):
            node = node[item]
        else:
            node = None
        if isinstance(node, Mapping) and i + 1 < len(loc) and loc[i + 1] == node.get("name"):
            i += 1  # a discriminated union's tag
        i += 1
    return ".".join(parts), node


def _known_fields(parent_path: str, parent: Any, registry: Any) -> list[str]:
    if not parent_path:
        return list(RunConfig.model_fields)
    if parent_path == "training":
        return list(TrainingConfig.model_fields)
    kind = section_kind(parent_path.split(".")[0])
    if kind and registry is not None and isinstance(parent, Mapping) and "name" in parent:
        try:
            return list(registry.get(kind, parent["name"]).config.model_fields)
        except UnknownComponentError:
            return []
    return []


def _unknown_key(err: Mapping[str, Any], data: Mapping[str, Any], registry: Any) -> str:
    parent_path, parent = _loc_path(tuple(err["loc"][:-1]), data)
    key = str(err["loc"][-1])
    known = _known_fields(parent_path, parent, registry)
    msg = f"unknown option {key!r}"
    if not parent_path and key in TrainingConfig.model_fields:
        msg += f"; training options live in the [training] section: did you mean 'training.{key}'?"
    else:
        hint = close_matches(key, known, n=1)
        if hint:
            msg += f"; did you mean {hint[0]!r}?"
    if known:
        msg += f" (valid options: {', '.join(sorted(known))})"
    return msg


def format_validation_error(exc: ValidationError, data: Mapping[str, Any], registry: Any = None) -> str:
    """Turn a pydantic error into lines ``<field path>: <problem> (got <value>)``."""
    lines = []
    for err in exc.errors(include_url=False):
        path, _ = _loc_path(tuple(err["loc"]), data)
        kind = err["type"]
        if kind == "extra_forbidden":
            lines.append(f"{path}: {_unknown_key(err, data, registry)}")
            continue
        msg = err["msg"]
        if kind == "union_tag_invalid":
            msg = f"unknown name {err['input']!r}; expected one of {err['ctx'].get('expected_tags')}"
        got = err.get("input")
        suffix = "" if isinstance(got, Mapping) or kind == "missing" else f" (got {got!r})"
        lines.append(f"{path}: {msg}{suffix}")
    return "invalid configuration:\n" + "\n".join(f"  {line}" for line in lines)
