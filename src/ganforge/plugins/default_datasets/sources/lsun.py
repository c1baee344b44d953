"""LSUN's LMDB folders (``bedroom_train_lmdb/`` holding ``data.mdb`` and ``lock.mdb``).

Each LMDB entry is one image: the key an image id, the value the encoded image as LSUN distributes it
(WebP in the current release, JPEG in older ones; anything Pillow decodes is accepted). Images come in
key order. LSUN images are not square (the short side is 256): convert them with ``--resolution N``
(centre-crop and resize), as with ``dataset_tool.py``'s ``--transform center-crop``.

Reading needs the ``lmdb`` package, an optional extra: ``pip install 'ganforge[lmdb]'``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

from ganforge.core.errors import DataError
from ganforge.plugins.default_datasets.sources import Record, SourceReader, register_reader

__all__ = ["LmdbReader", "open_lmdb"]


def open_lmdb(path: str) -> Any:
    """Open an LMDB folder read-only (no lock file written: the data may sit on a read-only disk)."""
    try:
        import lmdb
    except ImportError:
        raise DataError("is an LMDB folder; reading it needs the lmdb package: pip install 'ganforge[lmdb]' "
                        "(or pip install lmdb)", path) from None
    if not os.path.isfile(os.path.join(path, "data.mdb")):
        raise DataError("has no data.mdb; an LSUN LMDB folder (e.g. bedroom_train_lmdb/) holds data.mdb and "
                        "lock.mdb", path)
    try:
        return lmdb.open(path, readonly=True, lock=False, readahead=False, subdir=True, max_readers=64)
    except lmdb.Error as exc:
        raise DataError(f"cannot be opened as an LMDB database ({type(exc).__name__}: {exc})", path) from None


@register_reader
class LmdbReader(SourceReader):
    """An LSUN-style LMDB folder of encoded images (one image per entry, no labels)."""

    kind = "lmdb"
    description = "LMDB folder of encoded images, as LSUN distributes them (e.g. bedroom_train_lmdb/)"

    def __init__(self, path: str | os.PathLike[str]):
        super().__init__(path)
        self._env = open_lmdb(self.path)

    @classmethod
    def accepts(cls, path: str) -> bool:
        return os.path.isdir(path) and (os.path.isfile(os.path.join(path, "data.mdb"))
                                        or os.path.basename(os.path.normpath(path)).lower().endswith("_lmdb"))

    @property
    def name(self) -> str:
        base = os.path.basename(os.path.normpath(self.path))
        return base[:-5] if base.lower().endswith("_lmdb") else base

    @property
    def container(self) -> str:
        return "lmdb"

    def __len__(self) -> int:
        return int(self._env.stat()["entries"])

    def records(self) -> Iterator[Record]:
        with self._env.begin(write=False) as txn:
            for key, value in txn.cursor():
                yield Record(f"{self.path.rstrip('/')}/{bytes(key).decode('utf-8', 'replace')}", bytes(value))

    def close(self) -> None:
        if self._env is not None:
            self._env.close()
            self._env = None
