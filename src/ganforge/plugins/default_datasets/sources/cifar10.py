"""CIFAR-10's python release: ``cifar-10-python.tar.gz`` (or its extracted ``cifar-10-batches-py/`` folder).

The tarball holds ``cifar-10-batches-py/data_batch_1`` ... ``data_batch_5`` (the 50,000 training images,
what ``dataset_tool.py`` converts; ``test_batch`` is left out as it does) and ``batches.meta``. Each batch
is a Python 2 pickle of a dict: ``data``, a ``uint8`` numpy array ``[N, 3072]`` (the red, green and blue
planes of a 32x32 image, row-major), ``labels`` (N class indices 0-9), ``batch_label`` and ``filenames``.

The pickles are read by a restricted unpickler that builds only that structure: dicts, lists, strings,
numbers and numeric numpy arrays. Any other global (a function, a class) is refused before anything runs,
so a tampered tarball cannot execute code.
"""

from __future__ import annotations

import io
import os
import pickle
import tarfile
from collections.abc import Iterator
from typing import Any

import numpy as np

from ganforge.core.errors import DataError
from ganforge.plugins.default_datasets.sources import Record, SourceReader, register_reader

__all__ = ["Cifar10Reader", "safe_unpickle", "CLASSES"]

CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
_NUMERIC = set("biuf")


class UnsafeDataPickle(Exception):
    """A data pickle asked for something other than containers and numeric arrays."""


# ------------------------------------------------------------------------------------------------
# Restricted unpickling of numpy arrays (Python 2 pickles as CIFAR ships them, and Python 3 ones)
# ------------------------------------------------------------------------------------------------

def _numeric_dtype(spec: Any, *args: Any) -> np.dtype:
    dt = np.dtype(spec.decode("latin1") if isinstance(spec, bytes) else spec)
    if dt.kind not in _NUMERIC:
        raise UnsafeDataPickle(f"numpy dtype {dt} is not numeric")
    return dt


def _raw(data: Any) -> bytes:
    if isinstance(data, str):  # a Python 2 byte string, decoded as latin-1 by the unpickler
        return data.encode("latin1")
    if isinstance(data, bytes | bytearray | memoryview):
        return bytes(data)
    raise UnsafeDataPickle(f"array data is a {type(data).__name__}, not bytes")


class _Array:
    """Stands for ``ndarray`` while unpickling; its state (shape, dtype, order, bytes) makes the array."""

    value: np.ndarray | None = None

    def __setstate__(self, state: Any) -> None:
        if not isinstance(state, tuple) or len(state) not in (4, 5):
            raise UnsafeDataPickle("numpy array with an unexpected state")
        _, shape, dtype, fortran, data = state if len(state) == 5 else (None, *state)
        if not isinstance(dtype, np.dtype) or dtype.kind not in _NUMERIC:
            raise UnsafeDataPickle("numpy array of a non-numeric dtype")
        shape = tuple(int(s) for s in shape)
        arr = np.frombuffer(_raw(data), dtype=dtype)
        self.value = arr.reshape(shape, order="F" if fortran else "C")


def _reconstruct(cls: Any, shape: Any, dtype_code: Any) -> _Array:
    if cls is not _NDARRAY:
        raise UnsafeDataPickle("numpy reconstruct of something other than ndarray")
    return _Array()


def _frombuffer(buf: Any, dtype: Any, shape: Any, order: Any) -> np.ndarray:
    if not isinstance(dtype, np.dtype) or dtype.kind not in _NUMERIC:
        raise UnsafeDataPickle("numpy array of a non-numeric dtype")
    return np.frombuffer(_raw(buf), dtype=dtype).reshape(tuple(int(s) for s in shape), order=str(order))


def _latin1(text: Any, encoding: Any = "latin1") -> bytes:
    if not isinstance(text, str) or str(encoding).lower().replace("-", "") != "latin1":
        raise UnsafeDataPickle("_codecs.encode used for something other than latin-1 bytes")
    return text.encode("latin1")


_NDARRAY = object()
_ALLOWED: dict[tuple[str, str], Any] = {
    ("numpy", "ndarray"): _NDARRAY,
    ("numpy", "dtype"): _numeric_dtype,
    ("_codecs", "encode"): _latin1,
    **{(mod, "_reconstruct"): _reconstruct for mod in ("numpy.core.multiarray", "numpy._core.multiarray")},
    **{(mod, "_frombuffer"): _frombuffer for mod in ("numpy.core.numeric", "numpy._core.numeric")},
}


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        target = _ALLOWED.get((module, name))
        if target is None:
            raise UnsafeDataPickle(f"refusing to load global {module}.{name}: a CIFAR batch holds only "
                                   "dicts, lists, strings, numbers and numeric numpy arrays")
        return target

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafeDataPickle("unexpected persistent id")


def _finish(value: Any) -> Any:
    if isinstance(value, _Array):
        return value.value
    if isinstance(value, dict):
        return {(k.decode("latin1") if isinstance(k, bytes) else k): _finish(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_finish(v) for v in value)
    return value


def safe_unpickle(data: bytes, where: str) -> Any:
    """Unpickle a data pickle (dicts, lists, strings, numbers, numeric arrays) without executing anything."""
    try:
        return _finish(_Unpickler(io.BytesIO(data), encoding="latin1").load())
    except UnsafeDataPickle as exc:
        raise DataError(f"unsafe pickle: {exc}", where) from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, KeyError, IndexError) as exc:
        raise DataError(f"is not a readable CIFAR-10 batch ({type(exc).__name__}: {exc})", where) from None


# ------------------------------------------------------------------------------------------------
# The reader
# ------------------------------------------------------------------------------------------------

@register_reader
class Cifar10Reader(SourceReader):
    """CIFAR-10's ``cifar-10-python.tar.gz`` (or extracted folder): 50,000 32x32 RGB images, labels 0-9."""

    kind = "cifar10"
    description = "CIFAR-10 python tarball (cifar-10-python.tar.gz) or its cifar-10-batches-py folder"

    def __init__(self, path: str | os.PathLike[str]):
        super().__init__(path)
        self._images: np.ndarray | None = None
        self._labels: list[int] | None = None

    @classmethod
    def accepts(cls, path: str) -> bool:
        if os.path.isdir(path):
            return any(os.path.isfile(os.path.join(path, *sub, "data_batch_1"))
                       for sub in ((), ("cifar-10-batches-py",)))
        name = os.path.basename(path).lower()
        if not name.endswith((".tar.gz", ".tgz", ".tar")):
            return False
        if name.startswith("cifar-10"):
            return True
        try:
            with tarfile.open(path) as tar:
                return any(m.name.endswith("/data_batch_1") for m in tar.getmembers())
        except (OSError, tarfile.TarError, EOFError):
            return False

    def _batches(self) -> Iterator[tuple[str, bytes]]:
        if os.path.isdir(self.path):
            root = self.path if os.path.isfile(os.path.join(self.path, "data_batch_1")) else \
                os.path.join(self.path, "cifar-10-batches-py")
            for name in _BATCHES:
                file = os.path.join(root, name)
                if not os.path.isfile(file):
                    raise DataError(f"is missing {name}; CIFAR-10 has data_batch_1 to data_batch_5", root)
                with open(file, "rb") as f:
                    yield file, f.read()
            return
        try:
            with tarfile.open(self.path) as tar:
                members = {os.path.basename(m.name): m for m in tar.getmembers() if m.isfile()}
                missing = [n for n in _BATCHES if n not in members]
                if missing:
                    raise DataError(f"is missing {', '.join(missing)}; a CIFAR-10 python tarball holds "
                                    "cifar-10-batches-py/data_batch_1 to data_batch_5", self.path)
                for name in _BATCHES:
                    f = tar.extractfile(members[name])
                    assert f is not None
                    yield f"{self.path}/{members[name].name}", f.read()
        except (OSError, tarfile.TarError, EOFError) as exc:
            raise DataError(f"cannot be read as a tar archive ({type(exc).__name__}: {exc})", self.path) from None

    def _load(self) -> None:
        if self._images is not None:
            return
        images, labels = [], []
        for where, raw in self._batches():
            batch = safe_unpickle(raw, where)
            data = batch.get("data") if isinstance(batch, dict) else None
            labs = batch.get("labels") if isinstance(batch, dict) else None
            if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
                got = f"{data.dtype} {list(data.shape)}" if isinstance(data, np.ndarray) else type(data).__name__
                raise DataError(f"'data' must be a uint8 array [N, 3072] (N 32x32 RGB images), got {got}", where)
            if not isinstance(labs, list | tuple | np.ndarray) or len(labs) != len(data):
                raise DataError(f"'labels' must list one class per image ({len(data)}), got "
                                f"{len(labs) if hasattr(labs, '__len__') else type(labs).__name__}", where)
            labs = [int(v) for v in labs]
            if labs and not 0 <= min(labs) <= max(labs) <= 9:
                raise DataError(f"'labels' must be classes 0-9, found {min(labs)}..{max(labs)}", where)
            images.append(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
            labels.extend(labs)
        self._images = np.ascontiguousarray(np.concatenate(images))
        self._labels = labels

    def __len__(self) -> int:
        self._load()
        assert self._images is not None
        return len(self._images)

    def labels(self) -> list[int]:
        self._load()
        assert self._labels is not None
        return list(self._labels)

    def records(self) -> Iterator[Record]:
        self._load()
        assert self._images is not None and self._labels is not None
        for i, (img, label) in enumerate(zip(self._images, self._labels, strict=True)):
            yield Record(f"{self.path}[{i}]", img, label)

    @property
    def name(self) -> str:
        return "cifar10"

    @property
    def container(self) -> str:
        return "folder" if os.path.isdir(self.path) else "tarball"
