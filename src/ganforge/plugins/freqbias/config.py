"""Configuration of the frequency-bias testbeds (``gan testbed generator|discriminator``).

A testbed run is described by one JSON-compatible dict, written to ``<run>/config.json``::

    {"testbed": "generator",
     "generator": {"name": "pggan", ...},        # any registered generator and its options
     "dataset": {"name": "toyset", ...},         # any registered dataset and its options
     "data": {"resolution": 64, "subset": 10, "highpass": false},
     "training": {"batch_size": 10, "lr": 0.001, ...}}

The discriminator testbed has ``discriminator`` instead of ``generator`` and a ``model`` section
(spectrum discriminator, index conditioning). The component sections are discriminated unions built
from the registry, so ``--set generator.upsampling=zeros`` is validated by the generator's own config
model, exactly as in ``gan run``. Defaults follow the paper's ``configs/*_testbed/default.yaml``
(``UPSTREAM.md`` §5.2); the paper's model configs (:data:`PAPER_MODEL_DEFAULTS`) are applied where the
user set nothing and are reported.
"""

from __future__ import annotations

import copy
import json
import weakref
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, field_validator

from ganforge.core.config import (
    ComponentConfig,
    check_device,
    deep_merge,
    get_dotted,
    load_config_file,
    parse_set,
    set_dotted,
)
from ganforge.core.errors import ConfigError, close_matches

__all__ = ["DataOptions", "GeneratorTraining", "DiscriminatorTraining", "DiscriminatorModel", "TestbedConfig",
           "PAPER_MODEL_DEFAULTS", "DEFAULT_DATA", "testbed_model", "resolve_testbed_config", "SECTION",
           "PhotosConfig", "PHOTOS"]

#: Which network section each testbed trains.
SECTION = {"generator": "generator", "discriminator": "discriminator"}

#: Default data: the built-in CC0 photos (the paper's default is the baboon photo, which we may not ship).
DEFAULT_DATA: dict[str, Any] = {"name": "photos"}

#: The paper's model configs (``configs/{generator,discriminator}_testbed/*.yaml``), applied to a
#: registered component of that name for options the user did not set. Keys absent from the
#: component's config model are skipped.
PAPER_MODEL_DEFAULTS: dict[str, dict[str, dict[str, Any]]] = {
    "generator": {
        "pggan": {"z_dim": 64, "divide_channels_by": 8, "upsampling": "bilinear", "padding_mode": "reflect"},
        "stylegan2": {"z_dim": 64, "w_dim": 64, "divide_channels_by": 8},
        "stylegan3-t": {"z_dim": 64, "w_dim": 64, "divide_channels_by": 8},
    },
    "discriminator": {
        "pggan": {"divide_channels_by": 8, "downsampling": "avg", "padding_mode": "zeros"},
        "stylegan2": {"divide_channels_by": 8},
    },
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataOptions(_Strict):
    """How the dataset's images become the testbed's fixed image set."""

    resolution: int | None = Field(64, ge=4, description="Centre-crop to a square and LANCZOS-resize every "
                                                         "image to this size (None: keep the dataset's "
                                                         "resolution).")
    subset: int | None = Field(None, ge=1, description="Keep only the first N images (the paper: 10 on the "
                                                       "toyset).")
    highpass: bool = Field(False, description="Apply the 2x2 high-pass filter [[1,-1],[-1,1]] (reflect "
                                              "padding) to the images in [-1, 1], as upstream's HighPass "
                                              "transform (baboon_high).")


class _TrainingCommon(_Strict):
    batch_size: int = Field(10, ge=1, description="Images per iteration (capped at the number of images).")
    epochs: int = Field(10000, ge=1, description="Training length in epochs (passes over the image set) when "
                        "iterations is not set: iterations = epochs * ceil(images / batch_size).")
    iterations: int | None = Field(None, ge=0, description="Training length in iterations (overrides "
                                                           "epochs).")
    betas: tuple[float, float] = Field((0.0, 0.99), description="Adam betas.")
    eps: float = Field(1e-8, gt=0, description="Adam epsilon.")
    eval_every: int = Field(100, ge=1, description="Log spectrum statistics, PSNR and a sample grid every N "
                            "iterations (and at iteration 0, before any update).")
    print_every: int = Field(100, ge=1, description="Write a line of losses to stats.jsonl every N "
                                                    "iterations.")
    save_every: int = Field(1000, ge=1, description="Rewrite the resumable model.pt every N iterations (and "
                                                    "at the end).")
    seed: int = Field(0, description="Seed of the initialisation, the fixed latents and the batch order.")
    device: str = Field("auto", description="'auto' (CUDA if available, else CPU), 'cpu', 'cuda' or "
                                            "'cuda:N'.")
    progress: bool = Field(True, description="Show a live progress bar on a terminal.")
    threads: int | None = Field(None, ge=1, description="CPU threads torch may use (None: torch's default). "
                                                        "On a busy or small machine 1 thread is often "
                                                        "several times faster than contended ones.")

    @field_validator("device")
    @classmethod
    def _check_device(cls, value: str) -> str:
        return check_device(value)


class GeneratorTraining(_TrainingCommon):
    """Options of the generator testbed (``configs/generator_testbed/default.yaml``)."""

    lr: float = Field(0.001, gt=0, description="Adam learning rate of the generator.")
    losses: dict[Literal["mse", "spectrum"], float] = Field(
        default_factory=lambda: {"mse": 1.0},
        description="Regression loss as weights of terms: 'mse' (pixel MSE) and 'spectrum' (MSE between "
                    "log(1 + reduced spectrum) of prediction and target); e.g. {mse: 1, spectrum: 0.1}.")
    noise_mode: Literal["const", "random", "none"] = Field(
        "const", description="Noise mode passed to generators that take one (per-pixel noise of "
                             "StyleGAN-like networks).")

    @field_validator("losses")
    @classmethod
    def _check_losses(cls, value: dict[str, float]) -> dict[str, float]:
        if not value or all(w == 0 for w in value.values()):
            raise ValueError("give at least one loss with a non-zero weight, e.g. {'mse': 1.0}")
        return value


class DiscriminatorTraining(_TrainingCommon):
    """Options of the discriminator testbed (``configs/discriminator_testbed/default.yaml``)."""

    lr_g: float = Field(0.01, gt=0, description="Adam learning rate of the direct generator (the image "
                                                "tensor).")
    lr_d: float = Field(0.001, gt=0, description="Adam learning rate of the discriminator.")
    reg_param: float = Field(10.0, ge=0, description="Weight of the R1 penalty on real images: reg_param * "
                                                     "mean over the batch of the summed squared gradients "
                                                     "(no 1/2).")
    model_average_beta: float = Field(0.999, ge=0, lt=1, description="EMA decay of the evaluated copy of the "
                                      "direct generator.")


class DiscriminatorModel(_Strict):
    """What the discriminator testbed adds around the discriminator."""

    spectrum_disc: bool = Field(False, description="Add the spectrum discriminator: an MLP on log(1 + "
                                                   "reduced spectrum) whose per-image logits join the image "
                                                   "discriminator's.")
    spectrum_disc_hidden: int = Field(0, ge=0, description="Extra hidden layers of the spectrum "
                                                           "discriminator (0 = upstream: Linear(L, L), "
                                                           "LeakyReLU(0.2), Linear(L, images)).")
    conditioning: Literal["auto", "native", "input", "logit"] = Field(
        "auto", description="How the discriminator learns which image it judges. native: its own "
                            "conditioning, c = one-hot image index (label_dim = images); input: the one-hot "
                            "index as constant extra input channels; logit: a learned per-image scale and "
                            "offset of its logits. auto: native for conditional discriminators, else input "
                            "when the discriminator accepts any number of channels, else logit.")


class TestbedConfig(_Strict):
    """Fields shared by both testbeds; the validating models are built by :func:`testbed_model`."""

    testbed: Literal["generator", "discriminator"] = Field(description="Which testbed this run is.")
    dataset: Any = Field(description="The dataset (any registered dataset and its options).")
    data: DataOptions = Field(default_factory=DataOptions, description="Resolution, subset and high-pass "
                                                                       "filter.")

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    @property
    def network(self) -> Any:
        """The config of the network under test."""
        return getattr(self, SECTION[self.testbed])


def _union(registry: Any, kind: str) -> Any:
    configs = tuple(spec.config for spec in registry.specs(kind))
    if not configs:
        raise ConfigError(f"no {kind} is registered; is a built-in plugin disabled?")
    if len(configs) == 1:
        return configs[0]
    return Annotated[Union[configs], Field(discriminator="name")]  # noqa: UP007


_MODELS: weakref.WeakKeyDictionary[Any, dict[str, type[TestbedConfig]]] = weakref.WeakKeyDictionary()


def testbed_model(testbed: str, registry: Any) -> type[TestbedConfig]:
    """The validating config model of ``testbed`` (``generator`` or ``discriminator``) for ``registry``."""
    cache = _MODELS.setdefault(registry, {})
    if testbed not in cache:
        section = SECTION[testbed]
        fields: dict[str, Any] = {
            "testbed": (Literal[testbed], testbed),  # type: ignore[valid-type]
            section: (_union(registry, section), ...),
            "dataset": (_union(registry, "dataset"), ...),
        }
        if testbed == "generator":
            fields["training"] = (GeneratorTraining, Field(default_factory=GeneratorTraining))
        else:
            fields["training"] = (DiscriminatorTraining, Field(default_factory=DiscriminatorTraining))
            fields["model"] = (DiscriminatorModel, Field(default_factory=DiscriminatorModel))
        name = f"{testbed.capitalize()}TestbedConfig"
        cache[testbed] = create_model(name, __base__=TestbedConfig, **fields)
    return cache[testbed]


def _normalise(data: dict[str, Any]) -> dict[str, Any]:
    for section in ("generator", "discriminator", "dataset"):
        if isinstance(data.get(section), str):
            data[section] = {"name": data[section]}
    return data


def _flat_keys(data: Mapping[str, Any], prefix: str = "") -> set[str]:
    out: set[str] = set()
    for key, value in data.items():
        out.add(prefix + key)
        if isinstance(value, Mapping):
            out |= _flat_keys(value, prefix + key + ".")
    return out


def resolve_testbed_config(testbed: str, file: str | Path | Mapping[str, Any] | None = None, *,
                           overrides: Mapping[str, Any] | None = None, sets: Iterable[str] = (),
                           registry: Any = None,
                           paper_defaults: bool = True) -> tuple[TestbedConfig, list[str]]:
    """Resolve a testbed configuration from its layers: defaults < the paper's model defaults < file <
    flags < ``--set``.

    Args:
        testbed: ``"generator"`` or ``"discriminator"``.
        file: a JSON/TOML file (a run's ``config.json`` reproduces it) or a dict in the same layout.
        overrides: dotted keys set by CLI flags (``{"generator.name": "pggan", "training.iterations": 10}``).
        sets: ``--set KEY=VALUE`` strings.
        registry: the component registry (default: the process-wide one).
        paper_defaults: apply :data:`PAPER_MODEL_DEFAULTS` where the user set nothing.

    Returns:
        The validated config and the paper defaults that were applied (one line each).

    Raises:
        ConfigError: misspelt keys or bad values, with their field path.
        UnknownComponentError: an unknown network or dataset name, with the choices.
    """
    if testbed not in SECTION:
        raise ConfigError(f"unknown testbed {testbed!r}; expected 'generator' or 'discriminator'", "testbed")
    if registry is None:
        from ganforge.core.registry import get_registry

        registry = get_registry()
    section = SECTION[testbed]
    user: dict[str, Any] = {}
    if file is not None:
        user = copy.deepcopy(dict(file)) if isinstance(file, Mapping) else load_config_file(file)
    if user.get("testbed", testbed) != testbed:
        raise ConfigError(f"the file describes a {user['testbed']} testbed, not a {testbed} testbed",
                          "testbed")
    user = _normalise(user)
    flags: dict[str, Any] = {}
    for key, value in (overrides or {}).items():
        if value is not None:
            set_dotted(flags, key, value)
    for item in sets:
        key, value = parse_set(item)
        set_dotted(flags, key, value)
    user = deep_merge(user, _normalise(flags))
    data = deep_merge({"testbed": testbed, section: {"name": "pggan"}, "dataset": dict(DEFAULT_DATA)}, user)
    for sec in (section, "dataset"):
        if isinstance(data.get(sec), Mapping) and "name" not in data[sec]:
            data[sec] = {"name": "pggan" if sec == section else DEFAULT_DATA["name"], **data[sec]}
        registry.get(sec, data[sec]["name"])  # UnknownComponentError lists the choices
    ds_fields = registry.get("dataset", data["dataset"]["name"]).config.model_fields
    resolution = get_dotted(data, "data.resolution", DataOptions.model_fields["resolution"].default)
    if "resolution" in ds_fields and "resolution" not in data["dataset"] and resolution is not None:
        data["dataset"]["resolution"] = resolution  # let the dataset make images of the right size itself
    applied: list[str] = []
    if paper_defaults:
        name = data[section]["name"]
        fields = registry.get(section, name).config.model_fields
        user_keys = _flat_keys(user)
        for key, value in PAPER_MODEL_DEFAULTS.get(section, {}).get(name, {}).items():
            dotted = f"{section}.{key}"
            if key in fields and dotted not in user_keys and get_dotted(data, dotted, object()) != value:
                set_dotted(data, dotted, value)
                if fields[key].default != value:
                    applied.append(f"{dotted} = {json.dumps(value)}  (the paper's {section} testbed config)")
    model = testbed_model(testbed, registry)
    try:
        config = model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_error(exc, data, model, registry)) from None
    return config, applied


def _section_model(model: type[BaseModel], data: Mapping[str, Any], section: str, registry: Any) -> Any:
    if section in ("generator", "discriminator", "dataset"):
        value = data.get(section)
        if isinstance(value, Mapping) and registry.has(section, str(value.get("name"))):
            return registry.get(section, value["name"]).config
        return None
    field = model.model_fields.get(section)
    annotation = getattr(field, "annotation", None)
    return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None


def _format_error(exc: ValidationError, data: Mapping[str, Any], model: type[BaseModel],
                  registry: Any) -> str:
    """``<field path>: <problem>`` lines; an unknown key lists the valid options of its section."""
    lines = []
    for err in exc.errors(include_url=False):
        loc = [str(part) for part in err["loc"]]
        if len(loc) > 1 and loc[0] in ("generator", "discriminator", "dataset") and \
                isinstance(data.get(loc[0]), Mapping) and loc[1] == data[loc[0]].get("name"):
            del loc[1]  # the union tag pydantic inserts
        path = ".".join(loc)
        if err["type"] == "extra_forbidden":
            if len(loc) == 2:
                parent = _section_model(model, data, loc[0], registry)
            else:
                parent = model if len(loc) == 1 else None
            known = sorted(parent.model_fields) if parent is not None else []
            hint = close_matches(loc[-1], known, n=1)
            msg = f"unknown option {loc[-1]!r}" + (f"; did you mean {hint[0]!r}?" if hint else "")
            if known:
                msg += f" (valid options: {', '.join(known)})"
            lines.append(f"{path}: {msg}")
            continue
        got = err.get("input")
        suffix = "" if isinstance(got, Mapping) or err["type"] == "missing" else f" (got {got!r})"
        lines.append(f"{path}: {err['msg']}{suffix}")
    return "invalid testbed configuration:\n" + "\n".join(f"  {line}" for line in lines)


# ------------------------------------------------------------------------------------------------
# The ``photos`` dataset (light: the dataset itself lives in ``data.py``)
# ------------------------------------------------------------------------------------------------

#: The built-in photos (``photos/*.png``, CC0 or public domain; see ``photos/README.md``).
PHOTOS = ("astronaut", "camera", "chelsea", "coffee", "rocket")


class PhotosConfig(ComponentConfig):
    """Built-in CC0/public-domain photos, the paper's baboon photo, or your own image files."""

    name: Literal["photos"] = "photos"
    path: str | None = Field(None, description="None: the built-in photos (128x128 copies). 'baboon': the "
                                               "frequency-bias paper's mandrill photo, from GANFORGE_BABOON "
                                               "or <cache>/data/baboon.jpg (see docs/freqbias.md). Else an "
                                               "image file, or a folder whose image files (not recursive, "
                                               "sorted by name) are used.")
    names: list[str] | None = Field(None, description="Built-in photos to use, in this order (default: all "
                                                      f"of {', '.join(PHOTOS)}).")
    resolution: int | None = Field(64, ge=4, le=4096, description="Centre-crop every image to a square and "
                                                                  "LANCZOS-resize it to this size (None: "
                                                                  "keep the cropped size; all images must "
                                                                  "then have the same one).")
    use_labels: bool = Field(False, description="Label image i with class i (one-hot of size len(dataset)).")

    @field_validator("names")
    @classmethod
    def _check_names(cls, value: list[str] | None) -> list[str] | None:
        if value is not None:
            unknown = [n for n in value if n not in PHOTOS]
            if unknown or not value:
                raise ValueError(f"unknown photo(s) {unknown}; choose from {', '.join(PHOTOS)}")
        return value
