"""Spec records: what the registration hooks return.

Every component a plugin contributes is described by one frozen record. The record carries the
user-facing name, the factory that builds the component, the pydantic config model (whose
``name`` field is ``Literal[<spec name>]``), a one-line summary, the paper, and what the component
provides and requires, so that the core can refuse a bad pairing with a clear message before any
tensor is allocated.

Factories have one uniform signature per kind (see ``docs/writing-plugins.md``):

===============  ===========================================================================
kind             factory
===============  ===========================================================================
generator        ``factory(cfg, info: DataInfo) -> nn.Module``
discriminator    ``factory(cfg, info: DataInfo) -> nn.Module``
loss             ``factory(cfg, *, G, D, augment, regularizers, device, info) -> GANLoss``
regularizer      ``factory(cfg) -> LossTerm``
augment          ``factory(cfg, info: DataInfo) -> nn.Module``
metric           ``factory(cfg) -> Metric``
dataset          ``factory(cfg) -> Dataset``
===============  ===========================================================================

A factory may be given as a ``"package.module:function"`` string: the module is imported when the
component is first built, so a plugin's ``__init__`` stays free of heavy imports. The name is stated
once: a spec without ``name`` takes it from its config's ``name`` literal.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import BaseModel

__all__ = [
    "DataInfo",
    "CheckContext",
    "resolve_factory",
    "ComponentSpec",
    "GeneratorSpec",
    "DiscriminatorSpec",
    "LossSpec",
    "RegularizerSpec",
    "AugmentSpec",
    "MetricSpec",
    "DatasetSpec",
    "PresetSpec",
    "OpSpec",
    "SPEC_KINDS",
]


@dataclass(frozen=True)
class DataInfo:
    """What a dataset tells the network factories, so users never repeat it.

    Args:
        resolution: image height == width in pixels.
        channels: image channels (1 or 3 for the built-in datasets).
        label_dim: size of the conditioning vector ``c`` (0 when unconditional).
        name: a short dataset name used in run directory names.
    """

    resolution: int
    channels: int = 3
    label_dim: int = 0
    name: str = "data"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def resolve_factory(factory: Callable[..., Any] | str, owner: str = "") -> Callable[..., Any]:
    """A factory, or the function a ``"package.module:function"`` string names (imported now)."""
    if not isinstance(factory, str):
        return factory
    module_name, sep, attr = factory.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"{owner}: factory {factory!r} must be 'package.module:function'")
    target: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        target = getattr(target, part)
    return target


@dataclass(frozen=True)
class CheckContext:
    """What a spec's ``check`` receives: the resolved run and everything chosen for it.

    Attributes:
        config: the resolved :class:`~ganforge.core.config.RunConfig`.
        info: the data's :class:`DataInfo`.
        world: number of training processes.
        specs: section -> spec of every chosen component (``"regularizers.r1"``, ``"metrics.fid50k"``).
    """

    config: Any
    info: DataInfo
    world: int = 1
    specs: Mapping[str, Any] = field(default_factory=dict)

    @property
    def batch_gpu(self) -> int:
        """Samples per process per pass (what batch statistics such as minibatch std see)."""
        t = self.config.training
        return t.batch_gpu or max(t.batch // max(self.world, 1), 1)


@dataclass(frozen=True, kw_only=True)
class ComponentSpec:
    """Fields shared by every component record.

    Args:
        name: the user-facing name (``--generator NAME``); equals ``config``'s ``name`` literal, from
            which it is taken when omitted.
        factory: builds the component (or a ``"module:function"`` string naming it); its signature
            depends on the kind (module docstring). Call :meth:`build`.
        config: pydantic model of the component's options, ``extra="forbid"``.
        summary: one line shown by ``gan list-plugins`` and ``gan info``.
        paper: citation or URL of the method.
        provides: capabilities other components may require (``"mapping"``, ``"synthesis"``, ...).
        requires: capabilities this component needs, as ``"<kind>.<capability>"``
            (``"generator.mapping"``) or ``"data.labels"``.
        suggests: defaults this component recommends for the rest of the run, as dotted keys
            (``{"loss": {"name": "hinge"}, "training.glr": 0.0002}``). They are applied only where the
            user set nothing, and ``gan run`` prints what it applied.
        check: optional ``check(ctx: CheckContext) -> list[str]`` returning problems (empty if fine),
            for rules that depend on option values. ``requires`` and ``check`` are the one place a
            component states what it needs; the core evaluates both before anything is allocated.
        tiny: options that make the component small and fast (a few channels), used by the contract
            checks and the pairing matrix of ``ganforge.testing``; never by training.
    """

    kind: ClassVar[str] = "component"

    factory: Callable[..., Any] | str
    config: type[BaseModel]
    name: str = ""
    summary: str = ""
    paper: str = ""
    provides: frozenset[str] = frozenset()
    requires: frozenset[str] = frozenset()
    suggests: Mapping[str, Any] = field(default_factory=dict)
    check: Callable[..., list[str]] | None = None
    tiny: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        field_info = getattr(self.config, "model_fields", {}).get("name")
        if field_info is None:
            raise ValueError(f"{self.kind} {self.name!r}: config model {self.config.__name__} has no 'name' field")
        if not self.name:
            object.__setattr__(self, "name", field_info.default)
        if not self.name or not isinstance(self.name, str):
            raise ValueError(f"{type(self).__name__}: name must be a non-empty string, got {self.name!r}")
        object.__setattr__(self, "provides", frozenset(self.provides))
        object.__setattr__(self, "requires", frozenset(self.requires))
        if field_info.default != self.name:
            raise ValueError(
                f"{self.kind} {self.name!r}: config {self.config.__name__}.name defaults to "
                f"{field_info.default!r}; it must be Literal[{self.name!r}] = {self.name!r}"
            )


    def tiny_config(self, **overrides: Any) -> Any:
        """The config with the ``tiny`` options (and ``overrides``), for tests."""
        return self.config(**{**dict(self.tiny), **overrides})

    def build(self, *args: Any, **kwargs: Any) -> Any:
        """Call the factory (importing it first when it is given as a string)."""
        return resolve_factory(self.factory, f"{self.kind} {self.name!r}")(*args, **kwargs)

    def problems(self, ctx: CheckContext) -> list[str]:
        """Everything this component needs that the run does not give it (empty when fine)."""
        if self.check is None:
            return []
        return list(self.check(ctx) or [])


@dataclass(frozen=True, kw_only=True)
class _NetworkSpec(ComponentSpec):
    """Resolution/channel/label constraints of a network, checked against the dataset.

    Args:
        options: the forward options the network accepts (``ganforge.core.options``), e.g.
            ``{"noise_mode", "truncation_psi"}``; stamped on the module when the core builds it.
        conditional: True when it supports labelled data (label_dim > 0). The default, False, makes
            a run on labelled data fail with a clear message instead of silently ignoring the labels.
    """

    min_resolution: int = 4
    max_resolution: int | None = None
    power_of_two: bool = True
    channels: tuple[int, ...] | None = None  # None: any number of channels
    conditional: bool = False  # supports label_dim > 0
    options: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "options", frozenset(self.options))

    def build(self, *args: Any, **kwargs: Any) -> Any:
        """Call the factory and stamp the declared forward ``options`` on the network."""
        from ganforge.core.options import declare_options

        module = super().build(*args, **kwargs)
        return declare_options(module, self.options, owner=f"{self.kind} {self.name!r}")

    def problems(self, ctx: CheckContext) -> list[str]:
        return self.data_problems(ctx.info) + super().problems(ctx)

    def data_problems(self, info: DataInfo) -> list[str]:
        """Problems with using this network on data described by ``info``."""
        out = []
        res = info.resolution
        what = f"{self.kind} {self.name!r}"
        if res < self.min_resolution:
            out.append(f"{what} needs images of at least {self.min_resolution}x{self.min_resolution}; the data is {res}x{res}")
        if self.max_resolution is not None and res > self.max_resolution:
            out.append(f"{what} supports images up to {self.max_resolution}x{self.max_resolution}; the data is {res}x{res}")
        if self.power_of_two and (res < 1 or res & (res - 1)):
            out.append(f"{what} needs a power-of-two resolution; the data is {res}x{res}")
        if self.channels is not None and info.channels not in self.channels:
            out.append(f"{what} supports {self.channels} image channels; the data has {info.channels}")
        if info.label_dim > 0 and not self.conditional:
            out.append(f"{what} is unconditional but the data has labels (label_dim={info.label_dim}); "
                       f"set dataset.use_labels=false")
        return out


@dataclass(frozen=True, kw_only=True)
class GeneratorSpec(_NetworkSpec):
    """A generator: ``forward(z, c, **opts) -> [N, C, H, W]`` in [-1, 1], attributes ``z_dim``,
    ``c_dim``, ``img_resolution``, ``img_channels``. Style-based generators also provide
    ``"mapping"`` and ``"synthesis"``."""

    kind: ClassVar[str] = "generator"


@dataclass(frozen=True, kw_only=True)
class DiscriminatorSpec(_NetworkSpec):
    """A discriminator: ``forward(img, c) -> logits`` shaped ``[N]`` or ``[N, K]``."""

    kind: ClassVar[str] = "discriminator"


@dataclass(frozen=True, kw_only=True)
class LossSpec(ComponentSpec):
    """A base adversarial loss following the phase contract (``ganforge.core.loss``)."""

    kind: ClassVar[str] = "loss"


@dataclass(frozen=True, kw_only=True)
class RegularizerSpec(ComponentSpec):
    """A term added to a base loss (path length, alignment, ...). ``player`` is ``"G"`` or ``"D"``."""

    kind: ClassVar[str] = "regularizer"
    player: str = "G"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.player not in ("G", "D"):
            raise ValueError(f"regularizer {self.name!r}: player must be 'G' or 'D', got {self.player!r}")


@dataclass(frozen=True, kw_only=True)
class AugmentSpec(ComponentSpec):
    """A differentiable augmentation applied to every image D sees (real and fake)."""

    kind: ClassVar[str] = "augment"


@dataclass(frozen=True, kw_only=True)
class MetricSpec(ComponentSpec):
    """A metric evaluated on a generator (and usually a dataset)."""

    kind: ClassVar[str] = "metric"


@dataclass(frozen=True, kw_only=True)
class DatasetSpec(ComponentSpec):
    """A dataset yielding ``(uint8 [C, H, W] array, float32 [label_dim] label)``.

    Args:
        handles_path: ``handles_path(path) -> bool`` (or a ``"module:function"`` string naming it) says
            whether this dataset reads a path given as
            ``--data PATH``; among the datasets that accept a path the highest ``priority`` wins.
    """

    kind: ClassVar[str] = "dataset"
    handles_path: Callable[[str], bool] | str | None = None
    priority: int = 0

    def reads(self, path: str) -> bool:
        """True when this dataset reads ``path`` (``handles_path`` may be a ``"module:function"`` string)."""
        if self.handles_path is None:
            return False
        return bool(resolve_factory(self.handles_path, f"dataset {self.name!r}")(path))


@dataclass(frozen=True, kw_only=True)
class PresetSpec:
    """A named partial run configuration (``gan run --preset NAME``).

    ``config`` is a nested mapping in the layout of the run file; it is applied below the user's
    file and flags.
    """

    kind: ClassVar[str] = "preset"

    name: str
    config: Mapping[str, Any]
    summary: str = ""
    paper: str = ""


@dataclass(frozen=True, kw_only=True)
class OpSpec:
    """A custom op with a compiled path.

    Args:
        name: op name (``upfirdn2d``).
        summary: one line.
        sources: source files of the compiled extension (absolute paths).
        status: ``status() -> dict`` that never builds: mode, build state, cache dir, last error.
        build: ``build() -> object`` builds or loads the cached extension; raises ``OpsError``.
    """

    kind: ClassVar[str] = "op"

    name: str
    summary: str = ""
    sources: tuple[str, ...] = ()
    status: Callable[[], Mapping[str, Any]] | None = None
    build: Callable[[], Any] | None = None


#: Kind name -> record class, in display order.
SPEC_KINDS: dict[str, type] = {
    cls.kind: cls
    for cls in (GeneratorSpec, DiscriminatorSpec, LossSpec, RegularizerSpec, AugmentSpec, MetricSpec,
                DatasetSpec, PresetSpec, OpSpec)
}
