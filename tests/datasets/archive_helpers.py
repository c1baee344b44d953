"""Files in the formats dataset_tool.py reads, made by the tests: a CIFAR-10 python tarball (with
Python 2 style pickles, byte for byte as cPickle wrote them), MNIST IDX gzip files and an LSUN-style LMDB."""

from __future__ import annotations

import gzip
import io
import struct
import tarfile
from pathlib import Path

import numpy as np
from PIL import Image


# ------------------------------------------------------------------------------------------------
# A Python 2 cPickle (protocol 2) writer for the structure of a CIFAR batch
# ------------------------------------------------------------------------------------------------

def _py2_str(b: bytes) -> bytes:
    """A Python 2 ``str``: SHORT_BINSTRING or BINSTRING (Python 3 reads it as str/bytes by encoding)."""
    if len(b) < 256:
        return b"U" + bytes([len(b)]) + b
    return b"T" + struct.pack("<i", len(b)) + b


def _int(v: int) -> bytes:
    if 0 <= v < 256:
        return b"K" + bytes([v])
    if 0 <= v < 65536:
        return b"M" + struct.pack("<H", v)
    return b"J" + struct.pack("<i", v)


def _uint8_array(arr: np.ndarray) -> bytes:
    """``numpy.core.multiarray._reconstruct(ndarray, (0,), 'b')`` then BUILD with (1, shape, dtype, False, raw)."""
    out = b"cnumpy.core.multiarray\n_reconstruct\nq\x01cnumpy\nndarray\nq\x02" + _int(0) + b"\x85" + _py2_str(b"b")
    out += b"\x87R("  # TUPLE3, REDUCE, MARK (state tuple)
    out += _int(1) + b"(" + b"".join(_int(s) for s in arr.shape) + b"t"
    out += b"cnumpy\ndtype\n" + _py2_str(b"u1") + _int(0) + _int(1) + b"\x87R"
    out += b"(" + _int(3) + _py2_str(b"|") + b"NNN" + b"J\xff\xff\xff\xff" * 2 + _int(0) + b"tb"  # dtype BUILD
    out += b"\x89" + _py2_str(arr.tobytes()) + b"tb"  # False, raw bytes; TUPLE; BUILD
    return out


def py2_pickle_batch(data: np.ndarray, labels: list[int], batch_label: str, filenames: list[str]) -> bytes:
    """What CIFAR-10's ``data_batch_N`` holds, written as Python 2's cPickle.dump(protocol=2) writes it."""
    out = b"\x80\x02}q\x00("
    out += _py2_str(b"data") + _uint8_array(data)
    out += _py2_str(b"labels") + b"]" + b"(" + b"".join(_int(v) for v in labels) + b"e"
    out += _py2_str(b"batch_label") + _py2_str(batch_label.encode())
    out += _py2_str(b"filenames") + b"](" + b"".join(_py2_str(f.encode()) for f in filenames) + b"e"
    return out + b"u."


def cifar_images(n: int, seed: int = 0) -> tuple[np.ndarray, list[int]]:
    """``n`` random 32x32 RGB images ``[n, 32, 32, 3]`` and class labels 0-9."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8), [int(v) for v in rng.integers(0, 10, n)]


def write_cifar10(path: Path, per_batch: int = 3, seed: int = 0, *, batches: int = 5,
                  batch_bytes=None) -> tuple[np.ndarray, list[int]]:
    """A ``cifar-10-python.tar.gz`` with ``batches`` training batches of ``per_batch`` images (and a test
    batch that must be left out); returns the training images ``[N, 32, 32, 3]`` and labels in order."""
    images, labels = cifar_images(per_batch * batches, seed)
    with tarfile.open(path, "w:gz") as tar:
        def add(name: str, data: bytes) -> None:
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))

        for b in range(batches):
            sl = slice(b * per_batch, (b + 1) * per_batch)
            planes = images[sl].transpose(0, 3, 1, 2).reshape(per_batch, 3072)  # R plane, G plane, B plane
            raw = (batch_bytes or py2_pickle_batch)(planes, labels[sl], f"training batch {b + 1} of 5",
                                                    [f"img_{b}_{i}.png" for i in range(per_batch)])
            add(f"data_batch_{b + 1}", raw)
        test_imgs, test_labels = cifar_images(2, seed + 99)
        add("test_batch", py2_pickle_batch(test_imgs.transpose(0, 3, 1, 2).reshape(2, 3072), test_labels,
                                           "testing batch 1 of 1", ["t0.png", "t1.png"]))
        add("batches.meta", b"\x80\x02}q\x00.")
    return images, labels


# ------------------------------------------------------------------------------------------------
# MNIST IDX
# ------------------------------------------------------------------------------------------------

def write_mnist(folder: Path, n: int = 5, seed: int = 0, prefix: str = "train", *, compress: bool = True,
                labels: bool = True) -> tuple[Path, np.ndarray, list[int]]:
    """``<prefix>-images-idx3-ubyte.gz`` and ``<prefix>-labels-idx1-ubyte.gz``: ``n`` 28x28 digits."""
    rng = np.random.default_rng(seed)
    imgs = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    labs = [int(v) for v in rng.integers(0, 10, n)]
    suffix = ".gz" if compress else ""
    opener = gzip.open if compress else open
    folder.mkdir(parents=True, exist_ok=True)
    images_path = folder / f"{prefix}-images-idx3-ubyte{suffix}"
    with opener(images_path, "wb") as f:
        f.write(struct.pack(">IIII", 0x803, n, 28, 28) + imgs.tobytes())
    if labels:
        with opener(folder / f"{prefix}-labels-idx1-ubyte{suffix}", "wb") as f:
            f.write(struct.pack(">II", 0x801, n) + bytes(labs))
    return images_path, imgs, labs


# ------------------------------------------------------------------------------------------------
# LSUN LMDB
# ------------------------------------------------------------------------------------------------

def encoded(arr: np.ndarray, fmt: str) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format=fmt, **({"lossless": True} if fmt == "WEBP" else {"quality": 95}))
    return buf.getvalue()


def write_lsun(folder: Path, n: int = 4, size: tuple[int, int] = (48, 32), seed: int = 0,
               bad: dict[int, bytes] | None = None) -> list[np.ndarray]:
    """An LSUN-style LMDB folder: keys are 40-hex-digit ids, values WebP (lossless) or JPEG images of
    ``size`` (W, H); returns the images in key order. ``bad`` replaces the values of some entries."""
    import lmdb

    rng = np.random.default_rng(seed)
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w] / max(w, h)
    images = []  # smooth colour gradients (what JPEG keeps well), different per image
    for _ in range(n):
        a, b, c = rng.uniform(0, 255, (3, 3))
        images.append(np.clip(a + (b - a) * xx[..., None] + (c - a) * yy[..., None], 0, 255).astype(np.uint8))
    env = lmdb.open(str(folder), map_size=1 << 24, subdir=True)
    with env.begin(write=True) as txn:
        for i, img in enumerate(images):
            key = f"{i:040x}".encode()
            value = (bad or {}).get(i) or encoded(img, "WEBP" if i % 2 == 0 else "JPEG")
            txn.put(key, value)
    env.close()
    return images
