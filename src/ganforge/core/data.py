"""Dataset base class and sampling shared by every dataset plugin.

A dataset yields ``(image, label)`` pairs: ``image`` is a ``uint8`` array ``[C, H, W]``,
``label`` a ``float32`` array ``[label_dim]`` (empty when unconditional). The training loop converts
images with ``x / 127.5 - 1``.

Subclasses implement three methods: ``_load_raw_image(raw_idx)``, ``_load_raw_labels()`` and
``close()`` if they hold files open. Subsets (``max_size``), x-flip mirroring and label handling
(integers become one-hot vectors, lists become float vectors) happen here, the same way for all.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch

from ganforge.core.errors import DataError
from ganforge.core.specs import DataInfo

__all__ = ["ImageDataset", "InfiniteSampler", "labels_to_array", "subset_indices"]


def labels_to_array(labels: Sequence[Any] | None, n: int, source: str = "dataset.json") -> np.ndarray | None:
    """Convert raw labels to an array: integers -> int64 ``[n]``, lists -> float32 ``[n, D]``.

    Raises DataError naming ``source`` when labels are missing, mixed or of the wrong count.
    """
    if labels is None:
        return None
    if len(labels) != n:
        raise DataError(f"has {len(labels)} labels for {n} images", source)
    if n == 0:
        return np.zeros([0], dtype=np.int64)
    if all(isinstance(v, int | np.integer) and not isinstance(v, bool) for v in labels):
        arr = np.asarray(labels, dtype=np.int64)
        if arr.min() < 0:
            raise DataError(f"class labels must be >= 0, found {int(arr.min())}", source)
        return arr
    if all(isinstance(v, list | tuple) for v in labels):
        widths = {len(v) for v in labels}
        if len(widths) != 1:
            raise DataError(f"label vectors have different lengths {sorted(widths)}", source)
        try:
            return np.asarray(labels, dtype=np.float32)
        except (TypeError, ValueError) as exc:
            raise DataError(f"label vectors must contain numbers ({exc})", source) from None
    raise DataError("labels must be all integers (class indices) or all lists of numbers (vectors)", source)


def subset_indices(n: int, max_size: int | None, seed: int) -> np.ndarray:
    """Sorted int64 raw indices of a seeded random subset of at most ``max_size`` of ``n`` items (all
    of them when ``max_size`` is None or not smaller than ``n``)."""
    if max_size is None or n <= max_size:
        return np.arange(n, dtype=np.int64)
    chosen = np.random.RandomState(seed % (1 << 31)).permutation(n)[:max_size]
    return np.sort(chosen).astype(np.int64)


class ImageDataset(torch.utils.data.Dataset):
    """Base class of image datasets.

    Item ``i`` of a dataset of ``K`` kept raw images is raw image ``subset[i % K]``, mirrored when
    ``i >= K`` (the second copy that ``xflip`` adds).

    Args:
        name: short name (used in run directory names).
        raw_shape: ``[N, C, H, W]`` of the raw images (before subsetting and mirroring).
        max_size: keep a random (seeded) subset of at most this many images, in sorted order.
        use_labels: return labels (else empty label vectors).
        xflip: double the dataset with horizontally mirrored copies.
        random_seed: seed of the subset choice.
    """

    def __init__(self, name: str, raw_shape: Sequence[int], max_size: int | None = None,
                 use_labels: bool = False, xflip: bool = False, random_seed: int = 0):
        self._name = name
        self._raw_shape = list(raw_shape)
        if len(self._raw_shape) != 4:
            raise ValueError(f"raw_shape must be [N, C, H, W], got {raw_shape}")
        self._use_labels = use_labels
        # Private state is name-mangled (``__``) so that subclasses may use any attribute names.
        self.__subset = subset_indices(self._raw_shape[0], max_size, random_seed)
        self.__copies = 2 if xflip else 1  # the plain images, then (with xflip) their mirror images

    # -- subclass interface ----------------------------------------------------------------------
    def _load_raw_image(self, raw_idx: int) -> np.ndarray:  # uint8 [C, H, W]
        raise NotImplementedError

    def _load_raw_labels(self) -> np.ndarray | None:  # int64 [N] or float32 [N, D] or None
        raise NotImplementedError

    def close(self) -> None:
        pass

    # -- items and labels ----------------------------------------------------------------------------
    def _locate(self, idx: int) -> tuple[int, bool]:
        """``(raw index, mirrored)`` of item ``idx`` (negative indices count from the end)."""
        copy, position = divmod(range(len(self))[idx], self.__subset.size)
        return int(self.__subset[position]), copy == 1

    @functools.cached_property
    def __labels(self) -> np.ndarray:
        """The raw labels, loaded once: int64 ``[N]`` classes, float32 ``[N, D]``, or ``[N, 0]`` (none)."""
        labels = self._load_raw_labels() if self._use_labels else None
        if labels is None:
            return np.zeros([self._raw_shape[0], 0], dtype=np.float32)
        assert labels.shape[0] == self._raw_shape[0]
        return labels

    @functools.cached_property
    def __label_shape(self) -> list[int]:
        if self.__labels.dtype == np.int64:  # class indices, one-hot over 0..max
            return [int(self.__labels.max()) + 1 if self.__labels.size else 0]
        return list(self.__labels.shape[1:])

    @property
    def label_shape(self) -> list[int]:
        return list(self.__label_shape)

    @property
    def label_dim(self) -> int:
        return int(math.prod(self.label_shape))

    @property
    def has_labels(self) -> bool:
        return any(x != 0 for x in self.label_shape)

    def get_label(self, idx: int) -> np.ndarray:
        """The label of item ``idx`` as float32 ``[label_dim]`` (a class index becomes one-hot)."""
        raw = self.__labels[self._locate(idx)[0]]
        if raw.dtype == np.int64:
            return (np.arange(self.label_dim) == raw).astype(np.float32)
        return raw.astype(np.float32, copy=True)

    def class_index(self, idx: int) -> int | None:
        """Integer class of item ``idx`` (None without integer labels); used to group grids."""
        if self.__labels.dtype != np.int64 or self.__labels.ndim != 1:
            return None
        return int(self.__labels[self._locate(idx)[0]])

    def __len__(self) -> int:
        return int(self.__subset.size * self.__copies)

    def __getitem__(self, idx: int) -> tuple[np.ndarray, np.ndarray]:
        raw_idx, mirrored = self._locate(idx)
        image = self._load_raw_image(raw_idx)
        if not (isinstance(image, np.ndarray) and image.dtype == np.uint8):
            raise TypeError(f"{type(self).__name__}._load_raw_image must return a uint8 ndarray")
        expected = tuple(self._raw_shape[1:])
        if image.shape != expected:
            raise DataError(f"image {idx} has shape {image.shape}, expected {expected}", self._name)
        if mirrored:
            image = np.flip(image, axis=2)  # [C, H, W]: mirror the width
        return np.ascontiguousarray(image), self.get_label(idx)

    # -- metadata ----------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self._name

    @property
    def image_shape(self) -> list[int]:
        return list(self._raw_shape[1:])

    @property
    def num_channels(self) -> int:
        return self._raw_shape[1]

    @property
    def resolution(self) -> int:
        assert self._raw_shape[2] == self._raw_shape[3]
        return self._raw_shape[2]

    @property
    def info(self) -> DataInfo:
        return DataInfo(resolution=self.resolution, channels=self.num_channels, label_dim=self.label_dim,
                        name=self.name)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(name={self._name!r}, len={len(self)}, shape={self.image_shape}, "
                f"label_dim={self.label_dim})")


class InfiniteSampler(torch.utils.data.Sampler[int]):
    """An endless, resumable sampler of dataset indices.

    The global order is a pure function of ``(seed, position)``: epoch ``e`` is a permutation drawn
    from ``RandomState(seed + e)``. Positions are dealt to ranks in blocks of ``block`` (the per-rank
    batch): rank ``r`` of ``R`` takes global positions ``k*block*R + r*block + j`` (``j < block``) for
    its ``k``-th block. So, per iteration, the union over ranks is the same whatever the number of
    processes, each rank sees a contiguous slice of the global batch, and a run resumed at position
    ``start`` sees exactly what it would have seen.

    Args:
        size: dataset length.
        rank, num_replicas: this process and the number of processes.
        shuffle: permute each epoch (else sequential).
        seed: seed of the permutations.
        start: global position to start at (``batch_idx * batch_size`` on resume).
        block: items per rank per global step (``batch // num_replicas``); 1 interleaves.
    """

    def __init__(self, size: int, rank: int = 0, num_replicas: int = 1, shuffle: bool = True, seed: int = 0,
                 start: int = 0, block: int = 1):
        if size <= 0:
            raise DataError("the dataset is empty")
        if not 0 <= rank < num_replicas:
            raise ValueError(f"rank {rank} out of range for {num_replicas} replicas")
        if block < 1:
            raise ValueError(f"block must be >= 1, got {block}")
        self.size, self.rank, self.num_replicas = size, rank, num_replicas
        self.shuffle, self.seed, self.start, self.block = shuffle, seed, start, block

    def _epoch_order(self, epoch: int) -> np.ndarray:
        if not self.shuffle:
            return np.arange(self.size)
        return np.random.RandomState((self.seed + epoch) % (1 << 31)).permutation(self.size)

    def position(self, j: int) -> int:
        """Global position of this rank's ``j``-th item."""
        k, i = divmod(j, self.block)
        return self.start + k * self.block * self.num_replicas + self.rank * self.block + i

    def __iter__(self) -> Iterator[int]:
        epoch, order = -1, None
        j = 0
        while True:
            e, i = divmod(self.position(j), self.size)
            if e != epoch:
                epoch, order = e, self._epoch_order(e)
            assert order is not None
            yield int(order[i])
            j += 1
