"""Run configuration: pydantic v2 models built from the registry.

A run is fully described by one :class:`RunConfig`. Component sections (``generator``,
``discriminator``, ``loss``, ``augment``, ``dataset``, ``regularizers``, ``metrics``) are
discriminated unions on ``name``, built from the registry after plugins load, so an unknown name lists
the choices and a misspelt key is refused with its field path.

Layers, lowest first: the model defaults; a preset (``--preset``); defaults suggested by the chosen
components (only where nothing above or below set a value; ``gan run`` prints them); the run file
(``--config``, TOML or JSON); CLI flags and ``--set key=value``. See ``docs/configuration.md``.
"""

from __future__ import annotations

import copy
import json
import tomllib
import weakref
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, field_validator

from ganforge.core.errors import ConfigError, UnknownComponentError, close_matches

__all__ = [
    "ComponentConfig",
    "check_device",
    "TrainingConfig",
    "RunConfig",
    "COMPONENT_SECTIONS",
    "DEFAULT_COMPONENTS",
    "run_config_model",
    "resolve_config",
    "load_config_file",
    "parse_set",
    "set_dotted",
    "get_dotted",
    "deep_merge",
    "format_validation_error",
]

#: Section -> component kind, for sections holding one component.
COMPONENT_SECTIONS: dict[str, str] = {
    "generator": "generator",
    "discriminator": "discriminator",
    "loss": "loss",
    "augment": "augment",
    "dataset": "dataset",
}
#: Sections holding several components (a mapping name -> config, or a list).
MULTI_SECTIONS: dict[str, str] = {"regularizers": "regularizer", "metrics": "metric"}

#: Components used when the configuration names none.
DEFAULT_COMPONENTS: dict[str, str | None] = {
    "generator": "pggan",
    "discriminator": "pggan",
    "loss": "logistic",
    "augment": None,
    "dataset": "shapes",
}



def check_device(value: str) -> str:
    """Validator of ``device`` options: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``."""
    if value not in ("auto", "cpu", "cuda") and not value.startswith("cuda:"):
        raise ValueError("must be 'auto', 'cpu', 'cuda' or 'cuda:N'")
    return value

class ComponentConfig(BaseModel):
    """Base of every component config: ``extra="forbid"``, frozen, ``name`` literal set by subclasses."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str


class TrainingConfig(BaseModel):
    """Options of the training loop (``[training]`` in a run file)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kimg: float = Field(25000, gt=0, description="Total training length in thousands of real images shown to D.")
    batch: int = Field(32, ge=1, description="Total batch size (over all processes).")
    batch_gpu: int | None = Field(None, ge=1, description="Batch per process per pass; gradients are accumulated "
                                  "over batch / (processes * batch_gpu) passes. Default: batch / processes.")
    glr: float = Field(0.002, gt=0, description="Generator learning rate (Adam).")
    dlr: float = Field(0.002, gt=0, description="Discriminator learning rate (Adam).")
    betas: tuple[float, float] = Field((0.0, 0.99), description="Adam betas for G and D.")
    eps: float = Field(1e-8, gt=0, description="Adam epsilon.")
    ema_kimg: float | None = Field(None, ge=0, description="Half-life of G_ema in kimg. Default: batch * 10 / 32.")
    ema_rampup: float | None = Field(0.05, ge=0, description="G_ema ramp-up: half-life is at most cur_nimg * "
                                     "ema_rampup (None: off).")
    kimg_per_tick: float = Field(4, gt=0, description="Length of a tick (console line, stats, run hooks) in kimg.")
    image_snapshot_ticks: int | None = Field(50, ge=1, description="Write fakes<kimg>.png every N ticks (None: never).")
    network_snapshot_ticks: int | None = Field(50, ge=1, description="Write network-snapshot-<kimg>.pt every N ticks "
                                               "(None: only at the end).")
    checkpoint_ticks: int = Field(1, ge=1, description="Rewrite the resumable checkpoint.pt every N ticks.")
    grid: tuple[int, int] | None = Field(None, description="Image grid columns x rows for reals/fakes PNGs. "
                                         "Default: as the official code, clip(7680//W, 7, 32) x clip(4320//H, 4, 32).")
    seed: int = Field(0, description="Global random seed.")
    deterministic: bool = Field(False, description="Use deterministic algorithms (bitwise-reproducible on CPU; slower).")
    device: str = Field("auto", description="'auto' (CUDA if available, else CPU), 'cpu', 'cuda'.")
    workers: int | None = Field(None, ge=0, description="DataLoader worker processes (default: 3 on CUDA, 0 on CPU).")
    nan_guard: bool = Field(True, description="Stop with a clear message when losses or weights become non-finite.")
    cudnn_benchmark: bool = Field(True, description="Enable cuDNN benchmarking on CUDA.")
    allow_tf32: bool = Field(False, description="Allow TF32 matmuls/convolutions on CUDA.")
    progress: bool = Field(True, description="Show a live progress display on a terminal.")
    tensorboard: bool = Field(True, description="Write TensorBoard event files when tensorboard is installed.")

    @field_validator("device")
    @classmethod
    def _check_device(cls, value: str) -> str:
        return check_device(value)


class RunConfig(BaseModel):
    """A whole run. The model used for validation is built from the registry by :func:`run_config_model`;
    this static class is its base (fields typed with the component base class)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    generator: ComponentConfig
    discriminator: ComponentConfig
    loss: ComponentConfig
    regularizers: dict[str, ComponentConfig] = Field(default_factory=dict)
    augment: ComponentConfig | None = None
    dataset: ComponentConfig
    metrics: list[ComponentConfig] = Field(default_factory=list)
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    outdir: str = Field("runs", description="Parent directory of run directories.")
    desc: str | None = Field(None, description="Extra text appended to the run directory name.")
    preset: str | None = Field(None, description="Preset this configuration started from (recorded).")

    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible dict; ``gan run --config`` on it reproduces the run."""
        return self.model_dump(mode="json")


# ------------------------------------------------------------------------------------------------
# The dynamic model
# ------------------------------------------------------------------------------------------------


def _union(registry: Any, kind: str) -> Any:
    configs = tuple(spec.config for spec in registry.specs(kind))
    if not configs:
        return None
    if len(configs) == 1:
        return configs[0]
    return Annotated[Union[configs], Field(discriminator="name")]  # noqa: UP007


_MODELS: weakref.WeakKeyDictionary[Any, type[RunConfig]] = weakref.WeakKeyDictionary()


def run_config_model(registry: Any) -> type[RunConfig]:
    """The validating RunConfig subclass whose component fields are unions over the registry (cached)."""
    model = _MODELS.get(registry)
    if model is None:
        model = _MODELS[registry] = _build_run_config_model(registry)
    return model


def _build_run_config_model(registry: Any) -> type[RunConfig]:
    fields: dict[str, Any] = {}
    for section, kind in COMPONENT_SECTIONS.items():
        union = _union(registry, kind)
        if union is None:
            if section == "augment":
                continue
            raise ConfigError(f"no {kind} is registered; is a built-in plugin disabled?")
        if section == "augment":
            fields[section] = (union | None, None)
        else:
            fields[section] = (union, ...)
    reg_union = _union(registry, "regularizer")
    if reg_union is not None:
        fields["regularizers"] = (dict[str, reg_union], Field(default_factory=dict))
    metric_union = _union(registry, "metric")
    if metric_union is not None:
        fields["metrics"] = (list[metric_union], Field(default_factory=list))
    return create_model("RunConfig", __base__=RunConfig, **fields)


# ------------------------------------------------------------------------------------------------
# Dict helpers
# ------------------------------------------------------------------------------------------------


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
    node: Any = data
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return default
        node = node[part]
    return node


def _has_dotted(data: Mapping[str, Any], key: str) -> bool:
    sentinel = object()
    return get_dotted(data, key, sentinel) is not sentinel


def _flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(_flatten(value, path + "."))
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
        if path.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            data = tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot parse {path}: {exc}", "--config") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a table/object at the top level", "--config")
    return data


# ------------------------------------------------------------------------------------------------
# Resolution
# ------------------------------------------------------------------------------------------------


def _normalise_sections(data: dict[str, Any], registry: Any) -> dict[str, Any]:
    """Accept shorthands: ``generator = "pggan"`` -> ``{name: "pggan"}``; regularizer/metric names."""
    data = copy.deepcopy(data)
    for section in COMPONENT_SECTIONS:
        value = data.get(section)
        if isinstance(value, str):
            data[section] = None if (section == "augment" and value.lower() in ("none", "noaug")) else {"name": value}
    regs = data.get("regularizers")
    if isinstance(regs, list | tuple):
        regs = {r: {} for r in regs} if all(isinstance(r, str) for r in regs) else regs
    if isinstance(regs, Mapping):
        fixed = {}
        for key, value in regs.items():
            if value is None or value is False:
                continue  # "regularizers.path_length = null" removes a suggested term
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
    return data


def _check_names(data: Mapping[str, Any], registry: Any) -> None:
    for section, kind in COMPONENT_SECTIONS.items():
        value = data.get(section)
        if isinstance(value, Mapping) and "name" in value:
            registry.get(kind, value["name"])  # raises UnknownComponentError with the choices
    for section, kind in MULTI_SECTIONS.items():
        items = data.get(section) or {}
        values = items.values() if isinstance(items, Mapping) else items
        for value in values:
            if isinstance(value, Mapping) and "name" in value:
                registry.get(kind, value["name"])


def _chosen_specs(data: Mapping[str, Any], registry: Any) -> list[Any]:
    specs = []
    for section in ("discriminator", "generator", "loss", "augment", "dataset"):
        value = data.get(section)
        if isinstance(value, Mapping) and "name" in value:
            specs.append(registry.get(COMPONENT_SECTIONS[section], value["name"]))
    for spec in registry.specs("regularizer"):
        if spec.name in (data.get("regularizers") or {}):
            specs.append(spec)
    return specs


def _apply_suggestions(data: dict[str, Any], user_keys: set[str], registry: Any) -> list[str]:
    """Apply ``suggests`` of the chosen components where the user set nothing; return what was applied.

    A suggested component section (``loss = {name: hinge}``) replaces the section only when it names
    another component; a suggested regularizer is added with its options. Suggestions may choose
    components that suggest more, so this repeats (a few rounds at most).
    """
    applied: list[str] = []
    done: set[tuple[str, str]] = set()
    for _ in range(4):
        changed = False
        for spec in _chosen_specs(data, registry):
            if (spec.kind, spec.name) in done:
                continue
            done.add((spec.kind, spec.name))
            for key, value in _flatten_suggestions(spec.suggests).items():
                if _is_user_set(user_keys, key):
                    continue
                section = key.split(".")[0]
                current = get_dotted(data, key, _MISSING)
                if isinstance(value, Mapping) and section in COMPONENT_SECTIONS and key == section:
                    if isinstance(current, Mapping) and current.get("name") == value.get("name"):
                        continue
                    data[section] = copy.deepcopy(dict(value))
                elif section == "regularizers" and "." in key:
                    name = key.split(".", 1)[1]
                    if name in (data.get("regularizers") or {}):
                        continue
                    data.setdefault("regularizers", {})[name] = {"name": name, **dict(value or {})}
                elif current == value:
                    continue
                else:
                    set_dotted(data, key, copy.deepcopy(value))
                applied.append(f"{key} = {json.dumps(value)}  (suggested by {spec.kind} {spec.name!r})")
                changed = True
        if not changed:
            break
    return applied


_MISSING = object()


def _flatten_suggestions(suggests: Mapping[str, Any]) -> dict[str, Any]:
    """Suggestions keep whole component sections (``loss = {name: hinge}``) as one unit."""
    out: dict[str, Any] = {}
    for key, value in suggests.items():
        if isinstance(value, Mapping) and key not in COMPONENT_SECTIONS and "name" not in value \
                and key not in ("regularizers",):
            for sub, v in _flatten(value).items():
                out[f"{key}.{sub}"] = v
        elif key == "regularizers" and isinstance(value, Mapping):
            for name, v in value.items():
                out[f"regularizers.{name}"] = v
        else:
            out[key] = value
    return out


def _is_user_set(user_keys: set[str], key: str) -> bool:
    """A key counts as user-set if it, a parent or a child of it was set by the user."""
    if key in user_keys:
        return True
    parts = key.split(".")
    for i in range(1, len(parts)):
        if ".".join(parts[:i]) in user_keys:
            return True
    return any(k.startswith(key + ".") for k in user_keys)


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
    user = _normalise_sections(user, registry)
    flag_layer: dict[str, Any] = {}
    for key, value in (overrides or {}).items():
        if value is not None:
            set_dotted(flag_layer, key, value)
    for item in sets:
        key, value = parse_set(item)
        set_dotted(flag_layer, key, value)
    flag_layer = _normalise_sections(flag_layer, registry)
    user = deep_merge(user, flag_layer)

    base: dict[str, Any] = {}
    if preset is not None:
        base = _normalise_sections(dict(registry.get("preset", preset).config), registry)
        user.setdefault("preset", preset)
    for section, name in DEFAULT_COMPONENTS.items():
        if name is not None and section not in base:
            base[section] = {"name": name}
    data = deep_merge(base, user)
    # a section present only as options (no name) takes the base's name
    for section in COMPONENT_SECTIONS:
        if isinstance(data.get(section), Mapping) and "name" not in data[section]:
            data[section] = {"name": (base.get(section) or {}).get("name", DEFAULT_COMPONENTS[section]),
                             **data[section]}
    _check_names(data, registry)

    user_keys = set(_flatten(user)) | {k for k in user if not isinstance(user[k], Mapping) or not user[k]}
    for section in COMPONENT_SECTIONS:
        if isinstance(user.get(section), Mapping) and "name" in user[section]:
            user_keys.add(section)  # a user-chosen component is not replaced by a suggestion
    applied = _apply_suggestions(data, user_keys, registry)
    _check_names(data, registry)

    model = run_config_model(registry)
    try:
        config = model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, data, registry)) from None
    return config, applied


# ------------------------------------------------------------------------------------------------
# Error messages
# ------------------------------------------------------------------------------------------------


def _loc_path(loc: tuple[Any, ...], data: Mapping[str, Any]) -> tuple[str, Any]:
    """Dotted field path from a pydantic loc, dropping union tags; also the model at the leaf's parent."""
    parts: list[str] = []
    node: Any = data
    i = 0
    while i < len(loc):
        item = loc[i]
        parts.append(str(item))
        nxt = node.get(item) if isinstance(node, Mapping) else (
            node[item] if isinstance(node, list) and isinstance(item, int) and item < len(node) else None)
        if isinstance(nxt, Mapping) and i + 1 < len(loc) and loc[i + 1] == nxt.get("name"):
            i += 1  # skip the discriminator tag pydantic inserts
        node = nxt
        i += 1
    return ".".join(parts), node


def format_validation_error(exc: ValidationError, data: Mapping[str, Any], registry: Any = None) -> str:
    """Turn a pydantic error into lines ``<field path>: <problem> (got <value>)``."""
    lines = []
    for err in exc.errors(include_url=False):
        path, _ = _loc_path(tuple(err["loc"]), data)
        kind = err["type"]
        msg = err["msg"]
        if kind == "extra_forbidden":
            parent_path, parent = _loc_path(tuple(err["loc"][:-1]), data)
            key = str(err["loc"][-1])
            known = _known_fields(parent_path, parent, registry)
            hint = close_matches(key, known, n=1)
            msg = f"unknown option {key!r}"
            if hint:
                msg += f"; did you mean {hint[0]!r}?"
            if known:
                msg += f" (valid options: {', '.join(sorted(known))})"
            lines.append(f"{path}: {msg}")
            continue
        if kind == "union_tag_invalid":
            msg = f"unknown name {err['input']!r}; expected one of {err['ctx'].get('expected_tags')}"
        got = err.get("input")
        suffix = "" if isinstance(got, Mapping) or kind == "missing" else f" (got {got!r})"
        lines.append(f"{path}: {msg}{suffix}")
    return "invalid configuration:\n" + "\n".join(f"  {line}" for line in lines)


def _known_fields(parent_path: str, parent: Any, registry: Any) -> list[str]:
    section = parent_path.split(".")[0] if parent_path else ""
    if not parent_path:
        return list(RunConfig.model_fields)
    if parent_path == "training":
        return list(TrainingConfig.model_fields)
    kind = COMPONENT_SECTIONS.get(section) or MULTI_SECTIONS.get(section)
    if kind and registry is not None and isinstance(parent, Mapping) and "name" in parent:
        try:
            return list(registry.get(kind, parent["name"]).config.model_fields)
        except UnknownComponentError:
            return []
    return []


def component_kind(section: str) -> Literal["generator", "discriminator", "loss", "augment", "dataset"] | str:
    return COMPONENT_SECTIONS.get(section) or MULTI_SECTIONS.get(section, section)
