"""MNIST's IDX files: ``train-images-idx3-ubyte.gz`` with ``train-labels-idx1-ubyte.gz`` beside it.

IDX is a big-endian header then raw bytes: images ``0x00000803``, count, rows, columns, then
``count * rows * columns`` pixels (0 = background); labels ``0x00000801``, count, then one byte per image.
Files may be gzipped (as distributed) or not. Fashion-MNIST and the ``t10k-`` test files share the layout.

Digits are 28x28; as ``dataset_tool.py`` does, they are padded with black borders to the next power of
two (2 pixels on each side: 32x32), and the conversion says so.
"""

from __future__ import annotations

import gzip
import os
import re
import struct
from collections.abc import Iterator

import numpy as np

from ganforge.core.errors import DataError
from ganforge.plugins.default_datasets.sources import Record, SourceReader, register_reader

__all__ = ["MnistReader", "read_idx", "labels_path"]

_IMAGES_MAGIC, _LABELS_MAGIC = 0x00000803, 0x00000801
_PATTERN = re.compile(r"images-idx3-ubyte(\.gz)?$", re.I)


def labels_path(images: str) -> str:
    """The labels file paired with an images file (``images-idx3`` -> ``labels-idx1``, as dataset_tool)."""
    folder, name = os.path.split(images)
    return os.path.join(folder, re.sub("images-idx3", "labels-idx1", name, flags=re.I))


def read_idx(path: str, magic: int, dims: int) -> np.ndarray:
    """Read an IDX file (gzipped or not) with the given magic number and number of dimensions."""
    try:
        with open(path, "rb") as f:
            gz = f.read(2) == b"\x1f\x8b"
        with (gzip.open(path, "rb") if gz else open(path, "rb")) as f:
            data = f.read()
    except (OSError, EOFError) as exc:
        raise DataError(f"cannot be read ({type(exc).__name__}: {exc})", path) from None
    head = 4 + 4 * dims
    if len(data) < head or struct.unpack(">I", data[:4])[0] != magic:
        found = f"0x{struct.unpack('>I', data[:4])[0]:08x}" if len(data) >= 4 else "a short file"
        raise DataError(f"is not an IDX file of {'images' if dims == 3 else 'labels'} (expected magic number "
                        f"0x{magic:08x}, found {found})", path)
    shape = struct.unpack(f">{dims}I", data[4:head])
    need = int(np.prod(shape))
    if len(data) - head != need:
        raise DataError(f"header says {' x '.join(map(str, shape))} = {need} bytes of data, the file holds "
                        f"{len(data) - head} (truncated or corrupt download?)", path)
    return np.frombuffer(data, dtype=np.uint8, offset=head).reshape(shape)


@register_reader
class MnistReader(SourceReader):
    """MNIST-format IDX images (``*-images-idx3-ubyte[.gz]``) and their labels file beside them."""

    kind = "mnist"
    description = "MNIST IDX files: train-images-idx3-ubyte.gz with train-labels-idx1-ubyte.gz beside it"

    def __init__(self, path: str | os.PathLike[str]):
        super().__init__(path)
        self.labels_file = labels_path(self.path)
        if not os.path.isfile(self.labels_file):
            raise DataError(f"needs its labels file {os.path.basename(self.labels_file)} in the same folder "
                            f"(looked for {self.labels_file})", self.path)
        images = read_idx(self.path, _IMAGES_MAGIC, 3)
        labels = read_idx(self.labels_file, _LABELS_MAGIC, 1)
        if len(labels) != len(images):
            raise DataError(f"holds {len(labels)} labels for {len(images)} images in {self.path}", self.labels_file)
        n, h, w = images.shape
        side = max(h, w)
        target = 1 << (side - 1).bit_length() if side > 1 else 1
        top, left = (target - h) // 2, (target - w) // 2
        if (h, w) != (target, target):
            padded = np.zeros((n, target, target), np.uint8)
            padded[:, top:top + h, left:left + w] = images
            images = padded
            self.notes.append(f"MNIST images are {w}x{h}: padded with black borders to {target}x{target} "
                              f"({top} pixels above, {target - h - top} below, {left} left, {target - w - left} "
                              "right), as dataset_tool.py does")
        self._images = images
        self._labels = [int(v) for v in labels]

    @classmethod
    def accepts(cls, path: str) -> bool:
        return os.path.isfile(path) and _PATTERN.search(os.path.basename(path)) is not None

    @property
    def name(self) -> str:
        prefix = re.sub(r"-?images-idx3-ubyte(\.gz)?$", "", os.path.basename(self.path), flags=re.I)
        return f"mnist-{prefix}" if prefix else "mnist"

    def __len__(self) -> int:
        return len(self._images)

    def labels(self) -> list[int]:
        return list(self._labels)

    @property
    def container(self) -> str:
        return "IDX gzip" if self.path.lower().endswith(".gz") else "IDX"

    def size_on_disk(self) -> int:
        return os.path.getsize(self.path) + os.path.getsize(self.labels_file)

    def records(self) -> Iterator[Record]:
        for i, (img, label) in enumerate(zip(self._images, self._labels, strict=True)):
            yield Record(f"{self.path}[{i}]", img[:, :, None], label)
