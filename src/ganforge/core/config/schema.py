"""The configuration schema: component configs, the training options, and the run model.

A run is fully described by one :class:`RunConfig`. Component sections (``generator``,
``discriminator``, ``loss``, ``augment``, ``dataset``) and the multi-component sections
(``regularizers``, ``metrics``) are discriminated unions on ``name``, built from the registry after
plugins load (:func:`run_config_model`), so an unknown name lists the choices and a misspelt key is
refused with its field path.
"""

from __future__ import annotations

import weakref
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator

from ganforge.core.errors import ConfigError

__all__ = ["ComponentConfig", "TrainingConfig", "RunConfig", "SINGLE_SECTIONS", "MULTI_SECTIONS",
           "DEFAULT_COMPONENTS", "run_config_model", "check_device", "section_kind"]

#: Sections holding one component; the section name is the component kind.
SINGLE_SECTIONS: tuple[str, ...] = ("generator", "discriminator", "loss", "augment", "dataset")
#: Sections holding several components (a mapping name -> config, or a list) -> their kind.
MULTI_SECTIONS: dict[str, str] = {"regularizers": "regularizer", "metrics": "metric"}

#: Components used when the configuration names none.
DEFAULT_COMPONENTS: dict[str, str | None] = {
    "generator": "pggan",
    "discriminator": "pggan",
    "loss": "logistic",
    "augment": None,
    "dataset": "shapes",
}


def section_kind(section: str) -> str | None:
    """The component kind a top-level section holds (None for ``training`` and plain values)."""
    return section if section in SINGLE_SECTIONS else MULTI_SECTIONS.get(section)


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
    glr: float = Field(0.002, gt=0, description="Generator learning rate.")
    dlr: float = Field(0.002, gt=0, description="Discriminator learning rate.")
    optimizer: Literal["adam", "rmsprop"] = Field("adam", description="Optimiser of G and D: Adam (StyleGAN) or "
                                                  "RMSprop (G-LIS).")
    betas: tuple[float, float] = Field((0.0, 0.99), description="Adam betas for G and D.")
    rmsprop_alpha: float = Field(0.99, gt=0, lt=1, description="RMSprop smoothing constant alpha (G-LIS: 0.9).")
    eps: float = Field(1e-8, gt=0, description="Optimiser epsilon.")
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
    for section in SINGLE_SECTIONS:
        union = _union(registry, section)
        if union is None:
            if section == "augment":
                continue
            raise ConfigError(f"no {section} is registered; is a built-in plugin disabled?")
        fields[section] = (union | None, None) if section == "augment" else (union, ...)
    reg_union = _union(registry, "regularizer")
    if reg_union is not None:
        fields["regularizers"] = (dict[str, reg_union], Field(default_factory=dict))
    metric_union = _union(registry, "metric")
    if metric_union is not None:
        fields["metrics"] = (list[metric_union], Field(default_factory=list))
    return create_model("RunConfig", __base__=RunConfig, **fields)
