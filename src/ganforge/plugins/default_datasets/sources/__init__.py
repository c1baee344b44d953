"""Archive readers for ``gan dataset convert|info``: the formats the official ``dataset_tool.py`` reads
besides folders and zips (CIFAR-10's python tarball, MNIST's IDX gzip files, LSUN's LMDB folders).

A reader is a :class:`SourceReader`: ``accepts(path)`` says cheaply whether it reads a path, and an
instance gives its length, its labels and its records (``name`` for messages, the image as a ``uint8
[H, W, C]`` array or as encoded bytes, a label) in a fixed order. ``register_reader`` adds one (a plugin
may register more, e.g. a multi-resolution LMDB); ``find_reader`` picks the first that accepts a path,
ahead of the folder/zip reader. Conversion itself (transforms, checks, the zip or folder written) is
shared with folders and zips: see :mod:`ganforge.plugins.default_datasets.convert`.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ganforge.core.errors import DataError
from ganforge.plugins.default_datasets._imageio import BadImage, decode_image, encode_png, transform_image

__all__ = ["Record", "SourceReader", "register_reader", "find_reader", "readers", "reader_items",
           "reader_info"]


@dataclass(frozen=True)
class Record:
    """One image of a source: ``name`` (used in messages), ``image`` (``uint8 [H, W, C]`` or encoded
    bytes that Pillow decodes) and ``label`` (class index, float list, or None)."""

    name: str
    image: np.ndarray | bytes
    label: int | list[float] | None = None


class SourceReader(ABC):
    """A source of images in a file format other than a folder or zip of image files.

    Subclasses set ``kind`` (shown by ``gan dataset info``) and ``description`` and implement
    :meth:`accepts`, :meth:`__len__` and :meth:`records`; :meth:`labels` (all labels in order, for
    summaries) and :meth:`close` have defaults. ``notes`` are lines shown to the user after conversion
    (e.g. that MNIST digits were padded). Errors in the file are :class:`DataError` naming it.
    """

    kind: ClassVar[str] = ""
    description: ClassVar[str] = ""

    def __init__(self, path: str | os.PathLike[str]):
        self.path = os.fspath(path)
        self.notes: list[str] = []

    @classmethod
    @abstractmethod
    def accepts(cls, path: str) -> bool:
        """Whether this reader reads ``path`` (cheap: a name, a header, a marker file)."""

    @abstractmethod
    def __len__(self) -> int:
        """Number of images."""

    @abstractmethod
    def records(self) -> Iterator[Record]:
        """The images in order."""

    def labels(self) -> list[Any] | None:
        """Every label in order, or None for an unlabelled source."""
        return None

    @property
    def name(self) -> str:
        """Short name (run directory names): the file or folder name without archive suffixes."""
        base = Path(os.path.abspath(self.path)).name
        for suffix in (".tar.gz", ".tgz", ".tar", ".gz"):
            if base.lower().endswith(suffix):
                return base[: -len(suffix)]
        return base

    @property
    def container(self) -> str:
        """What holds the images, as ``gan dataset info`` shows it (``tarball``, ``lmdb``, ...)."""
        return "folder" if os.path.isdir(self.path) else "file"

    def size_on_disk(self) -> int:
        p = Path(self.path)
        return sum(f.stat().st_size for f in p.rglob("*") if f.is_file()) if p.is_dir() else p.stat().st_size

    def close(self) -> None:
        """Release open files."""

    def __enter__(self) -> SourceReader:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


_READERS: list[type[SourceReader]] = []


def register_reader(cls: type[SourceReader], *, first: bool = False) -> type[SourceReader]:
    """Add a reader (``first``: ahead of the others). Usable as a class decorator."""
    if cls not in _READERS:
        _READERS.insert(0, cls) if first else _READERS.append(cls)
    return cls


def readers() -> list[type[SourceReader]]:
    """The registered readers, in the order they are asked."""
    _load_builtins()
    return list(_READERS)


def find_reader(path: str | os.PathLike[str]) -> SourceReader | None:
    """An open reader for ``path``, or None when no reader accepts it (a folder or zip of images)."""
    text = os.fspath(path)
    if not os.path.exists(text):
        return None
    for cls in readers():
        if cls.accepts(text):
            return cls(text)
    return None


def _load_builtins() -> None:
    from ganforge.plugins.default_datasets.sources import cifar10, lsun, mnist  # noqa: F401 (they register)


# ------------------------------------------------------------------------------------------------
# Shared by convert and info
# ------------------------------------------------------------------------------------------------

def _as_array(image: np.ndarray | bytes) -> np.ndarray:
    if isinstance(image, np.ndarray):
        return image if image.ndim == 3 else image[:, :, None]
    return decode_image(bytes(image))


def _map(fn: Callable[[Record], Any], records: Iterable[Record], chunk: int = 64) -> Iterator[tuple[Record, Any]]:
    """``(record, fn(record) or BadImage)`` in order; ``fn`` runs in threads (decoding, resizing and PNG
    encoding release the GIL)."""

    def call(rec: Record) -> Any:
        try:
            return fn(rec)
        except BadImage as exc:
            return exc

    workers = min(8, os.cpu_count() or 1)
    it = iter(records)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        while True:
            batch = [rec for _, rec in zip(range(chunk), it, strict=False)]
            if not batch:
                return
            yield from zip(batch, pool.map(call, batch), strict=True)


def reader_items(reader: SourceReader, size: tuple[int, int] | None, transform: str) -> Iterator[tuple[str, Any, Any]]:
    """Items for ``convert._write``: ``(name, label getter, (shape, png) | None | problem text)``."""

    def work(rec: Record) -> tuple[tuple[int, ...], bytes] | None:
        arr = transform_image(_as_array(rec.image), transform, *(size or (None, None)))
        return None if arr is None else (arr.shape, encode_png(np.ascontiguousarray(arr)))

    for rec, result in _map(work, reader.records()):
        outcome = str(result) if isinstance(result, BadImage) else result
        yield rec.name, (lambda v=rec.label: v), outcome


def reader_info(reader: SourceReader, check: bool) -> dict[str, Any]:
    """The ``gan dataset info`` summary of a reader (same keys as for folders and zips)."""
    from ganforge.plugins.default_datasets._imageio import ShapeCheck
    from ganforge.plugins.default_datasets.convert import _label_summary

    out: dict[str, Any] = {"source": reader.path, "kind": reader.container, "dataset": reader.kind,
                           "name": reader.name,
                           "count": len(reader), "resolution": None, "size": None, "channels": None,
                           "bytes": reader.size_on_disk()}
    out.update(_label_summary(reader.labels()))
    problems: list[dict[str, str]] = []
    shapes = ShapeCheck("gan dataset convert --resolution N centre-crops and resizes")
    for rec, result in _map(lambda r: _as_array(r.image).shape, reader.records()):
        why = str(result) if isinstance(result, BadImage) else None
        if why is None and out["size"] is None:
            h, w, c = result
            out.update(size=[w, h], channels=c, resolution=h if ShapeCheck("").problem("", result) is None else None)
        if check and why is None:
            why = shapes.problem(rec.name, result)
        if why:
            problems.append({"file": rec.name, "problem": why})
        if not check and out["size"] is not None:
            break
    if not check and out["size"] is None and not problems and len(reader):
        problems.append({"file": reader.path, "problem": "no image could be read"})
    out["checked"] = check
    out["problems"] = problems
    out["notes"] = list(reader.notes)
    return out


def convert_reader(reader: SourceReader, dest: str | os.PathLike[str], size: tuple[int, int] | None,
                   transform: str, max_images: int | None, on_error: str, progress: bool) -> dict[str, Any]:
    """``convert`` for a reader: the shared writer with the reader's items; adds the reader's notes."""
    from ganforge.plugins.default_datasets.convert import _write, archive_name

    if len(reader) == 0:
        raise DataError("contains no images", reader.path)
    result = _write(reader_items(reader, size, transform), dest, total=len(reader), name_of=archive_name,
                    max_images=max_images, on_error=on_error, progress=progress, what=reader.path)
    result["notes"] = list(reader.notes)
    return result
