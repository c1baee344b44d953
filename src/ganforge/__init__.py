"""ganforge: a plugin-based framework for GAN research.

Public API (imported lazily, so ``import ganforge`` stays cheap)::

    import ganforge
    result = ganforge.train({"generator": {"name": "pggan"}, "training": {"kimg": 1}})
    G = ganforge.load_network("runs/00000-.../network-snapshot-000001.pt")

Plugins implement hooks with :data:`hookimpl`; see ``docs/writing-plugins.md``.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

import pluggy

__version__ = "0.1.0"

#: Project name used for pluggy, the entry-point group and the hook prefix.
NAME = "ganforge"

#: Decorator for hook implementations: ``@ganforge.hookimpl``.
hookimpl = pluggy.HookimplMarker(NAME)

__all__ = ["__version__", "NAME", "hookimpl", "train", "load_network", "get_registry", "RunConfig"]

_LAZY = {
    "train": ("ganforge.core.training", "train"),
    "load_network": ("ganforge.core.checkpoint", "load_network"),
    "get_registry": ("ganforge.core.registry", "get_registry"),
    "RunConfig": ("ganforge.core.config", "RunConfig"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module, attr = _LAZY[name]
        return getattr(import_module(module), attr)
    raise AttributeError(f"module 'ganforge' has no attribute {name!r}")
