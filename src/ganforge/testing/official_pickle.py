"""Write network pickles in the layout of the official StyleGAN snapshots, for round-trip tests.

The official code pickles every network as a ``torch_utils.persistence`` object whose reduce tuple is
``(torch_utils.persistence._reconstruct_persistent_obj, (meta,))`` with ``meta = {type: "class",
version: 6, module_src, class_name, state}`` and ``state`` the module's ``__dict__``; nested dicts of
constructor arguments are ``dnnlib.util.EasyDict``; tensors are pickled by torch (storages as legacy
``torch.save`` byte streams). This writer produces exactly that from our own modules, without any
upstream code: tests use it to check that ``ganforge.core.foreign_pickle`` and the importers give back
modules with the same outputs.
"""

from __future__ import annotations

import contextlib
import pickle
import sys
import types
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Any

import torch

__all__ = ["write_official_pickle", "official_modules", "persistent"]


def _reconstruct_persistent_obj(meta: Any) -> Any:  # never called: only its name is pickled
    raise RuntimeError("test helper stand-in; official pickles are loaded with ganforge.core.foreign_pickle")


class EasyDict(dict):
    """Stand-in with the module path of ``dnnlib.util.EasyDict``."""


@contextlib.contextmanager
def official_modules() -> Iterator[None]:
    """Temporarily provide ``torch_utils.persistence`` and ``dnnlib.util`` so pickle can name them."""
    names = ["torch_utils", "torch_utils.persistence", "dnnlib", "dnnlib.util"]
    saved = {n: sys.modules.get(n) for n in names}
    tu, tup, dn, dnu = (types.ModuleType(n) for n in names)
    _reconstruct_persistent_obj.__module__ = "torch_utils.persistence"
    tup._reconstruct_persistent_obj = _reconstruct_persistent_obj
    EasyDict.__module__ = "dnnlib.util"
    EasyDict.__qualname__ = "EasyDict"
    dnu.EasyDict = EasyDict
    tu.persistence, dn.util = tup, dnu
    sys.modules.update(dict(zip(names, (tu, tup, dn, dnu), strict=True)))
    try:
        yield
    finally:
        for n, m in saved.items():
            if m is None:
                sys.modules.pop(n, None)
            else:
                sys.modules[n] = m


class _Persistent:
    def __init__(self, meta: dict[str, Any]):
        self.meta = meta

    def __reduce__(self) -> tuple[Any, ...]:
        return (_reconstruct_persistent_obj, (self.meta,))


def _easy(value: Any) -> Any:
    if isinstance(value, dict):
        return EasyDict({k: _easy(v) for k, v in value.items()})
    return value


def persistent(module: torch.nn.Module, module_src: str, class_name: Callable[[torch.nn.Module], str] | None = None,
               init_kwargs: Callable[[str, torch.nn.Module], dict[str, Any]] | None = None, path: str = "",
               extra_state: Callable[[str, torch.nn.Module], dict[str, Any]] | None = None) -> _Persistent:
    """Wrap ``module`` (recursively) as persistence objects with the official meta layout.

    Args:
        module: our module; attribute names give the state-dict names.
        module_src: the "source" recorded in every object (a test string; it is never executed).
        class_name: maps a module to its upstream class name (default: our class name).
        init_kwargs: maps (dotted path, module) to its constructor kwargs (default: ``{}``).
        extra_state: maps (path, module) to plain attributes to store (``z_dim``, ``in_size``, ...).
    """
    children = OrderedDict()
    for name, child in module.named_children():
        child_path = f"{path}.{name}" if path else name
        children[name] = persistent(child, module_src, class_name, init_kwargs, child_path, extra_state)
    state: dict[str, Any] = {
        "training": module.training,
        "_parameters": OrderedDict((k, v) for k, v in module._parameters.items()),
        "_buffers": OrderedDict((k, v) for k, v in module._buffers.items()),
        "_non_persistent_buffers_set": set(module._non_persistent_buffers_set),
        "_modules": children,
        "_forward_hooks": OrderedDict(),
        "_forward_pre_hooks": OrderedDict(),
        "_backward_hooks": OrderedDict(),
        "_state_dict_hooks": OrderedDict(),
        "_load_state_dict_pre_hooks": OrderedDict(),
        "_init_args": (),
        "_init_kwargs": _easy(init_kwargs(path, module) if init_kwargs else {}),
    }
    if extra_state is not None:
        state.update(extra_state(path, module))
    meta = {"type": "class", "version": 6, "module_src": module_src,
            "class_name": class_name(module) if class_name else type(module).__name__, "state": state}
    return _Persistent(meta)


def write_official_pickle(path: str, networks: dict[str, Any], training_set_kwargs: dict[str, Any] | None = None) -> None:
    """Pickle ``{"G": persistent(...), "D": ..., "G_ema": ..., "augment_pipe": ..., "training_set_kwargs": ...}``
    with plain ``pickle`` (protocol 4), as the official training loop does."""
    data = dict(networks)
    data.setdefault("training_set_kwargs", training_set_kwargs)
    with official_modules(), open(path, "wb") as f:
        pickle.dump(data, f, protocol=4)
