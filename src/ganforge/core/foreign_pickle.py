"""Reading official StyleGAN2/3 network pickles without executing them.

Official snapshots (``network-snapshot-*.pkl``) are plain pickles whose networks are
``torch_utils.persistence`` objects: each carries the *entire source code* of the module that
defined it, which the official loader executes. This module never does. A restricted unpickler
allows an explicit list of globals only (containers, numeric numpy arrays, tensors and storages),
turns every persistent object into an inert :class:`PickledModule` record (class name, a hash of the
source, the names of classes the source defines, and the object's state), and parses each tensor's
storage from its legacy ``torch.save`` byte stream with a second restricted unpickler. Anything else
- a callable, an import, an object dtype - is refused with :class:`UnsafePickleError`.

Plugins then build their own modules from the records (``ganforge_import_network`` hook).
"""

from __future__ import annotations

import collections
import hashlib
import io
import os
import pickle
import re
import struct
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ganforge.core.errors import CheckpointError

__all__ = ["PickledModule", "UnsafePickleError", "safe_load", "looks_like_pickle", "LEGACY_MAGIC"]

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_PROTOCOL = 1001

_STORAGE_DTYPES = {
    "FloatStorage": torch.float32, "DoubleStorage": torch.float64, "HalfStorage": torch.float16,
    "BFloat16Storage": torch.bfloat16, "LongStorage": torch.int64, "IntStorage": torch.int32,
    "ShortStorage": torch.int16, "CharStorage": torch.int8, "ByteStorage": torch.uint8, "BoolStorage": torch.bool,
}
_NUMERIC_KINDS = set("biufc")


class UnsafePickleError(CheckpointError):
    """A pickle asked for something a network file has no reason to contain."""


@dataclass
class PickledModule:
    """An inert record of a ``torch_utils.persistence`` object: nothing of it was executed.

    Attributes:
        class_name: e.g. ``"Generator"``, ``"SynthesisLayer"``.
        module_sha256: SHA-256 of the embedded module source (identifies the upstream version).
        module_classes: names of the classes the embedded source defines (found by a regex, never run).
        state: the object's ``__dict__`` as pickled (``_parameters``, ``_buffers``, ``_modules``,
            ``_init_kwargs``, plain attributes).
    """

    class_name: str
    module_sha256: str
    module_classes: frozenset[str]
    state: dict[str, Any] = field(repr=False)

    @property
    def init_kwargs(self) -> dict[str, Any]:
        return _plain(self.state.get("_init_kwargs", {}))

    @property
    def init_args(self) -> tuple[Any, ...]:
        return tuple(self.state.get("_init_args", ()))

    @property
    def children(self) -> dict[str, Any]:
        return dict(self.state.get("_modules") or {})

    def attribute(self, name: str, default: Any = None) -> Any:
        return self.state.get(name, default)

    def state_dict(self, prefix: str = "") -> dict[str, torch.Tensor]:
        """Parameters and persistent buffers of this object and its children, by dotted name."""
        out: dict[str, torch.Tensor] = {}
        non_persistent = set(self.state.get("_non_persistent_buffers_set") or ())
        for name, value in (self.state.get("_parameters") or {}).items():
            if value is not None:
                out[prefix + name] = value
        for name, value in (self.state.get("_buffers") or {}).items():
            if value is not None and name not in non_persistent:
                out[prefix + name] = value
        for name, child in self.children.items():
            if isinstance(child, PickledModule):
                out.update(child.state_dict(prefix + name + "."))
            elif child is not None:
                raise UnsafePickleError(f"sub-module {prefix + name} is a {type(child).__name__}, not a persistent object")
        return out


def _plain(value: Any) -> Any:
    """EasyDicts and OrderedDicts to plain dicts, recursively."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_plain(v) for v in value)
    return value


class _EasyDict(dict):
    """Stand-in for ``dnnlib.util.EasyDict`` (a dict with attribute access)."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setstate__(self, state: Any) -> None:  # BUILD with an (empty) instance dict
        if state:
            raise UnsafePickleError("an EasyDict with instance attributes")


class _TFNetwork:
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise UnsafePickleError("this is a TensorFlow-era StyleGAN pickle (dnnlib.tflib.network.Network); convert it "
                                "with the official legacy.py first, or use a PyTorch snapshot")


def _reconstruct_persistent_obj(meta: Any) -> PickledModule:
    if not isinstance(meta, dict) or meta.get("type") != "class":
        raise UnsafePickleError(f"persistent object with unexpected metadata {type(meta).__name__}")
    source = meta.get("module_src", "")
    if not isinstance(source, str):
        raise UnsafePickleError("persistent object whose module source is not text")
    state = meta.get("state") or {}
    if not isinstance(state, dict):
        raise UnsafePickleError("persistent object whose state is not a dict")
    classes = frozenset(re.findall(r"^class\s+(\w+)", source, flags=re.M))
    return PickledModule(class_name=str(meta.get("class_name")), module_sha256=hashlib.sha256(source.encode()).hexdigest(),
                         module_classes=classes, state=state)


def _rebuild_tensor_v2(storage: Any, offset: int, size: tuple[int, ...], stride: tuple[int, ...],
                       requires_grad: bool = False, backward_hooks: Any = None, metadata: Any = None) -> torch.Tensor:
    if not isinstance(storage, torch.Tensor):
        raise UnsafePickleError("tensor whose storage is not a storage")
    t = torch.empty(0, dtype=storage.dtype)
    t.set_(storage.untyped_storage(), int(offset), tuple(int(s) for s in size), tuple(int(s) for s in stride))
    return t


def _rebuild_parameter(data: torch.Tensor, requires_grad: bool = False, backward_hooks: Any = None,
                       state: Any = None) -> torch.Tensor:
    if not isinstance(data, torch.Tensor):
        raise UnsafePickleError("parameter whose data is not a tensor")
    return torch.nn.Parameter(data, requires_grad=bool(requires_grad))


def _rebuild_parameter_with_state(data: torch.Tensor, requires_grad: bool, backward_hooks: Any, state: Any) -> torch.Tensor:
    return _rebuild_parameter(data, requires_grad)


def _safe_dtype(spec: Any, *args: Any) -> np.dtype:
    dt = np.dtype(spec)
    if dt.kind not in _NUMERIC_KINDS and dt.kind != "?":
        raise UnsafePickleError(f"numpy dtype {dt} is not numeric")
    return dt


class _ArrayBuilder:
    """Receives ``ndarray.__reduce__``'s state and becomes a numeric array (see ``_reconstruct``)."""

    def __setstate__(self, state: Any) -> None:
        version, shape, dtype, fortran, raw = state if len(state) == 5 else (None, *state)
        if not isinstance(dtype, np.dtype) or dtype.kind not in _NUMERIC_KINDS | {"?"}:
            raise UnsafePickleError("numpy array of a non-numeric dtype")
        if not isinstance(raw, bytes | bytearray):
            raise UnsafePickleError("numpy array whose data is not raw bytes")
        arr = np.frombuffer(bytes(raw), dtype=dtype).reshape(shape, order="F" if fortran else "C").copy()
        self.value = arr


def _reconstruct(cls: Any, shape: Any, dtype_code: Any) -> _ArrayBuilder:
    if cls is not np.ndarray:
        raise UnsafePickleError("numpy reconstruct of something other than ndarray")
    return _ArrayBuilder()


def _scalar(dtype: np.dtype, raw: bytes) -> Any:
    if not isinstance(dtype, np.dtype) or dtype.kind not in _NUMERIC_KINDS | {"?"}:
        raise UnsafePickleError("numpy scalar of a non-numeric dtype")
    return np.frombuffer(raw, dtype=dtype)[0]


_OUTER_ALLOWED: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("dnnlib.util", "EasyDict"): _EasyDict,
    ("dnnlib.tflib.network", "Network"): _TFNetwork,
    ("torch_utils.persistence", "_reconstruct_persistent_obj"): _reconstruct_persistent_obj,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter_with_state,
    ("numpy", "dtype"): _safe_dtype,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy.core.multiarray", "scalar"): _scalar,
    ("numpy._core.multiarray", "scalar"): _scalar,
}


class _StorageUnpickler(pickle.Unpickler):
    """The inner legacy ``torch.save`` stream of one storage: only storage type globals."""

    def __init__(self, file: Any):
        super().__init__(file)
        self.storages: dict[str, tuple[torch.dtype, int]] = {}

    def find_class(self, module: str, name: str) -> Any:
        if module == "torch" and name in _STORAGE_DTYPES:
            return _STORAGE_DTYPES[name]
        raise UnsafePickleError(f"refusing {module}.{name} inside a tensor's storage bytes")

    def persistent_load(self, pid: Any) -> Any:
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage" and isinstance(pid[1], torch.dtype)):
            raise UnsafePickleError(f"unexpected persistent id in storage bytes: {pid!r:.80}")
        key, numel = str(pid[2]), int(pid[4])
        self.storages[key] = (pid[1], numel)
        return ("__storage__", key)


def _load_from_bytes(data: bytes) -> torch.Tensor:
    """Parse a legacy ``torch.save`` stream holding one storage; returns a 1-D tensor over it."""
    if not isinstance(data, bytes | bytearray):
        raise UnsafePickleError("storage bytes are not bytes")
    f = io.BytesIO(data)
    magic = _StorageUnpickler(f).load()
    protocol = _StorageUnpickler(f).load()
    if magic != LEGACY_MAGIC or protocol != _LEGACY_PROTOCOL:
        raise UnsafePickleError("tensor storage bytes are not a legacy torch.save stream")
    sys_info = _StorageUnpickler(f).load()
    if not isinstance(sys_info, dict) or not sys_info.get("little_endian", True):
        raise UnsafePickleError("big-endian tensor storages are not supported")
    up = _StorageUnpickler(f)
    obj = up.load()
    keys = _StorageUnpickler(f).load()
    if not (isinstance(obj, tuple) and obj[0] == "__storage__" and isinstance(keys, list)):
        raise UnsafePickleError("tensor storage bytes hold something other than one storage")
    result = None
    for key in keys:
        dtype, numel = up.storages[str(key)]
        (count,) = struct.unpack("<q", f.read(8))
        if count != numel:
            raise UnsafePickleError(f"storage {key}: header says {numel} elements, data says {count}")
        itemsize = torch.empty(0, dtype=dtype).element_size()
        raw = f.read(count * itemsize)
        if len(raw) != count * itemsize:
            raise UnsafePickleError(f"storage {key} is truncated")
        tensor = torch.frombuffer(bytearray(raw), dtype=dtype) if count else torch.empty(0, dtype=dtype)
        if str(key) == obj[1]:
            result = tensor
    if result is None:
        raise UnsafePickleError("storage bytes do not contain the storage they reference")
    return result


_OUTER_ALLOWED[("torch.storage", "_load_from_bytes")] = _load_from_bytes


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        target = _OUTER_ALLOWED.get((module, name))
        if target is None:
            raise UnsafePickleError(f"refusing to load global {module}.{name}: a network pickle has no reason to "
                                    f"contain it (only tensors, containers and persistent network records are allowed)")
        return target

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickleError("unexpected persistent id in a network pickle")


def _finish(value: Any) -> Any:
    """Replace numpy array builders by their arrays, recursively (records' states included)."""
    if isinstance(value, _ArrayBuilder):
        return getattr(value, "value", None)
    if isinstance(value, PickledModule):
        value.state = _finish(value.state)
        return value
    if isinstance(value, collections.OrderedDict):
        return collections.OrderedDict((k, _finish(v)) for k, v in value.items())
    if isinstance(value, dict):
        out = type(value)() if isinstance(value, _EasyDict) else {}
        out.update({k: _finish(v) for k, v in value.items()})
        return out
    if isinstance(value, list):
        return [_finish(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_finish(v) for v in value)
    return value


def looks_like_pickle(path: str | os.PathLike[str]) -> bool:
    """A plain pickle (protocol 2+) rather than a zip-format torch file."""
    try:
        with open(path, "rb") as f:
            return f.read(1) == b"\x80"
    except OSError:
        return False


def safe_load(source: str | os.PathLike[str] | bytes) -> Any:
    """Unpickle an official network pickle without executing anything in it.

    Raises:
        UnsafePickleError: the pickle refers to something outside the allow-list.
        CheckpointError: the file cannot be read or is not a pickle.
    """
    name = "<bytes>" if isinstance(source, bytes) else os.fspath(source)
    try:
        if isinstance(source, bytes):
            obj = _RestrictedUnpickler(io.BytesIO(source)).load()
        else:
            with open(source, "rb") as f:
                obj = _RestrictedUnpickler(f).load()
    except UnsafePickleError as exc:
        raise UnsafePickleError(f"{name}: {exc}") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, KeyError, RuntimeError,
            struct.error, IndexError) as exc:
        raise CheckpointError(f"is not a readable network pickle ({type(exc).__name__}: {exc})", name) from None
    return _finish(obj)
