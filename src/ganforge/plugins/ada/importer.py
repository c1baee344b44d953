"""Import the ``augment_pipe`` of an official StyleGAN2-ADA / StyleGAN3 snapshot.

The record (``ganforge.core.foreign_pickle.PickledModule``, never executed) of an upstream
``AugmentPipe`` holds the buffers ``p`` [], ``Hz_geom`` [12], ``Hz_fbank`` [4, 43] and, as plain
float attributes of its state, the probability multipliers and strengths (UPSTREAM.md §9.4.6). They
are read from the state first, then from the constructor arguments, then upstream defaults.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from ganforge.core.checkpoint import ImportedNetwork
from ganforge.core.errors import CheckpointError

__all__ = ["import_augment_pipe", "config_from_values"]

_BUFFERS = {"p": (), "Hz_geom": (12,), "Hz_fbank": (4, 43)}


def _value(record: Any, name: str, default: Any) -> Any:
    value = record.attribute(name, None)
    if value is None:
        value = record.init_kwargs.get(name, default)
    return default if value is None else value


def config_from_values(values: dict[str, Any], p: float) -> Any:
    """The :class:`~ganforge.plugins.ada.config.AdaConfig` equivalent to upstream constructor values.

    The preset is the one whose enabled set matches the multipliers exactly (all 1); otherwise
    ``none`` with every non-zero multiplier explicit. Strengths are set where they differ from the
    defaults. The controller settings (not stored in snapshots) keep their defaults.
    """
    from ganforge.plugins.ada.config import MULTIPLIERS, PRESETS, STRENGTHS, AdaConfig

    mult = {name: float(values.get(name, 0)) for name in MULTIPLIERS}
    preset = next((name for name, on in PRESETS.items()
                   if all(mult[k] == float(on.get(k, 0)) for k in MULTIPLIERS)), None)
    fields: dict[str, Any] = {"p": p}
    if preset is None:
        preset = "none"
        fields.update({k: v for k, v in mult.items() if v != 0})
    fields["preset"] = preset
    for name, default in STRENGTHS.items():
        if name not in values:
            continue
        value = tuple(float(v) for v in values[name]) if name == "imgfilter_bands" else float(values[name])
        if value != (tuple(default) if isinstance(default, tuple | list) else default):
            fields[name] = value
    return AdaConfig(**fields)


def import_augment_pipe(record: Any, role: str) -> ImportedNetwork | None:
    """Our :class:`~ganforge.plugins.ada.augment.AugmentPipe` from an upstream ``AugmentPipe`` record."""
    if record.class_name != "AugmentPipe":
        return None
    from pydantic import ValidationError

    from ganforge.plugins.ada.augment import AugmentPipe
    from ganforge.plugins.ada.config import MULTIPLIERS, STRENGTHS, module_kwargs

    state = record.state_dict()
    for name, shape in _BUFFERS.items():
        tensor = state.get(name)
        if not isinstance(tensor, torch.Tensor) or tuple(tensor.shape) != shape:
            got = "missing" if tensor is None else f"shape {tuple(getattr(tensor, 'shape', ()))}"
            raise CheckpointError(f"{role}: AugmentPipe buffer {name!r} is {got}; expected shape "
                                  f"{list(shape)}")
    extra = sorted(set(state) - set(_BUFFERS))
    if extra:
        raise CheckpointError(f"{role}: AugmentPipe has unexpected tensors {extra}; expected only "
                              f"{sorted(_BUFFERS)}")
    p = float(state["p"])
    if not math.isfinite(p) or p < 0:
        raise CheckpointError(f"{role}: AugmentPipe p is {p}; expected a finite value >= 0")
    values = {name: _value(record, name, 0) for name in MULTIPLIERS}
    values.update({name: _value(record, name, default) for name, default in STRENGTHS.items()})
    try:
        cfg = config_from_values(values, p)
    except (ValidationError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{role}: AugmentPipe settings cannot be represented: {exc}") from None
    module = AugmentPipe(**module_kwargs(cfg))
    module.load_state_dict({k: v.to(torch.float32) for k, v in state.items()}, strict=True)
    return ImportedNetwork(module=module, section="augment", config=cfg)
