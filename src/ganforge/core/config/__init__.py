"""Run configuration: pydantic v2 models built from the registry, resolved once from their layers.

* :mod:`~ganforge.core.config.schema`: :class:`ComponentConfig`, :class:`TrainingConfig`,
  :class:`RunConfig` and the registry-built run model;
* :mod:`~ganforge.core.config.layers`: run files, ``--set``, dotted keys, shorthands, old layouts;
* :mod:`~ganforge.core.config.resolve`: :func:`resolve_config` (presets, suggestions, validation);
* :mod:`~ganforge.core.config.messages`: validation errors as field paths.

See ``docs/configuration.md``.
"""

from ganforge.core.config.layers import (
    deep_merge,
    get_dotted,
    load_config_file,
    normalise_layer,
    parse_set,
    set_dotted,
)
from ganforge.core.config.messages import format_validation_error
from ganforge.core.config.resolve import is_resolved, resolve_config
from ganforge.core.config.schema import (
    DEFAULT_COMPONENTS,
    MULTI_SECTIONS,
    SINGLE_SECTIONS,
    ComponentConfig,
    RunConfig,
    TrainingConfig,
    check_device,
    run_config_model,
    section_kind,
)

__all__ = [
    "ComponentConfig",
    "TrainingConfig",
    "RunConfig",
    "SINGLE_SECTIONS",
    "MULTI_SECTIONS",
    "DEFAULT_COMPONENTS",
    "run_config_model",
    "section_kind",
    "check_device",
    "resolve_config",
    "is_resolved",
    "load_config_file",
    "normalise_layer",
    "parse_set",
    "set_dotted",
    "get_dotted",
    "deep_merge",
    "format_validation_error",
]
