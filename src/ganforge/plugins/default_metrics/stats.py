"""Feature statistics of an image set, how processes share the work, and the on-disk cache.

A metric reduces a set of feature vectors ``[N, D]`` in one of two ways (often both are asked for):

* **moments** (FID and the EfficientNet proxy): a Gaussian fit, from the running float64 sums
  ``S = sum_i x_i`` and ``G = sum_i x_i x_i^T``: ``mean = S / N``, ``cov = G / N - mean mean^T`` (the
  biased, ``1/N`` covariance of the FID reference code). Batches only add to ``S`` and ``G``, so
  memory does not grow with ``N``;
* **rows** (KID, precision/recall, IS): the vectors themselves, in float32.

:class:`FeatureSet` holds either or both for at most ``limit`` vectors. Real-data sets are cached as
plain ``.npz`` arrays (never pickles).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ganforge.core import distributed as dist

__all__ = ["RunningMoments", "FeatureSet", "gather_rows", "rank_items", "cache_key", "load_cached",
           "save_cached"]


class RunningMoments:
    """Count, sum and Gram matrix of float64 vectors added in batches; mean and covariance on demand."""

    def __init__(self, dim: int) -> None:
        self.count = 0
        self.total = np.zeros([dim], np.float64)  # sum of the vectors
        self.gram = np.zeros([dim, dim], np.float64)  # sum of their outer products

    def update(self, rows: np.ndarray) -> None:
        """Add the vectors ``rows [B, D]`` (any float dtype; accumulated in float64)."""
        rows = rows.astype(np.float64)
        self.count += rows.shape[0]
        self.total += rows.sum(axis=0)
        self.gram += rows.T @ rows

    def mean(self) -> np.ndarray:
        return self.total / self.count

    def covariance(self) -> np.ndarray:
        """The biased (``1/N``) covariance ``G / N - mean mean^T``."""
        mean = self.mean()
        return self.gram / self.count - np.outer(mean, mean)


def _as_rows(batch: np.ndarray | torch.Tensor) -> np.ndarray:
    """A batch of feature vectors as a float32 ``[B, D]`` array on the host."""
    if isinstance(batch, torch.Tensor):
        batch = batch.detach().float().cpu().numpy()
    rows = np.asarray(batch, dtype=np.float32)
    if rows.ndim != 2:
        raise ValueError(f"features must be [batch, dim], got shape {rows.shape}")
    return rows


class FeatureSet:
    """Feature vectors of up to ``limit`` items (all items when None), added batch by batch.

    Args:
        limit: vectors beyond it are ignored (the last batch, or the wrap-around items of
            :func:`rank_items`, may overshoot).
        keep_rows: keep the vectors themselves (float32), for :meth:`rows`.
        keep_moments: keep :class:`RunningMoments`, for :meth:`gaussian`.
    """

    def __init__(self, limit: int | None = None, keep_rows: bool = False, keep_moments: bool = False) -> None:
        self.limit, self.keep_rows, self.keep_moments = limit, keep_rows, keep_moments
        self.count = 0
        self.dim: int | None = None
        self.moments: RunningMoments | None = None
        self._chunks: list[np.ndarray] = []

    @property
    def full(self) -> bool:
        """Whether ``limit`` vectors have been added (never, without a limit)."""
        return self.limit is not None and self.count >= self.limit

    def add(self, batch: np.ndarray | torch.Tensor) -> None:
        """Add ``[B, D]`` vectors (a tensor or an array), as many as still fit under ``limit``."""
        room = None if self.limit is None else max(self.limit - self.count, 0)
        rows = _as_rows(batch)[:room]
        if rows.shape[0] == 0:
            return
        if self.dim is None:
            self.dim = rows.shape[1]
            self.moments = RunningMoments(self.dim) if self.keep_moments else None
        elif rows.shape[1] != self.dim:
            raise ValueError(f"features have {rows.shape[1]} dimensions, earlier ones {self.dim}")
        self.count += rows.shape[0]
        if self.keep_rows:
            self._chunks.append(rows)
        if self.moments is not None:
            self.moments.update(rows)

    def rows(self) -> np.ndarray:
        """All vectors ``[count, dim]`` float32, in the order added."""
        if not self.keep_rows:
            raise ValueError("this FeatureSet was made without keep_rows")
        if not self._chunks:
            return np.zeros([0, self.dim or 0], np.float32)
        return np.concatenate(self._chunks)

    def gaussian(self) -> tuple[np.ndarray, np.ndarray]:
        """``(mean [D], covariance [D, D])`` float64 of the vectors (:class:`RunningMoments`)."""
        if self.moments is None or self.moments.count == 0:
            raise ValueError("no moments: the FeatureSet was made without keep_moments, or is empty")
        return self.moments.mean(), self.moments.covariance()

    # -- persistence (the cache) ---------------------------------------------------------------------
    def to_arrays(self) -> dict[str, np.ndarray]:
        arrays = {"count": np.array(self.count), "dim": np.array(self.dim or 0)}
        if self.keep_rows:
            arrays["rows"] = self.rows()
        if self.moments is not None:
            arrays["moment_sum"], arrays["moment_gram"] = self.moments.total, self.moments.gram
        return arrays

    @classmethod
    def from_arrays(cls, arrays: Any, limit: int | None, keep_rows: bool, keep_moments: bool) -> FeatureSet:
        """The set :meth:`to_arrays` wrote (``KeyError`` when a part that is asked for is missing)."""
        features = cls(limit, keep_rows, keep_moments)
        features.count = int(arrays["count"])
        features.dim = int(arrays["dim"]) or None
        if keep_rows:
            features._chunks = [np.asarray(arrays["rows"], np.float32)]
        if keep_moments:
            features.moments = RunningMoments(features.dim or 0)
            features.moments.count = features.count
            features.moments.total = np.asarray(arrays["moment_sum"], np.float64)
            features.moments.gram = np.asarray(arrays["moment_gram"], np.float64)
        return features


def rank_items(num_items: int, rank: int, world: int) -> list[int]:
    """The items this rank processes: global positions ``rank, rank + world, ...`` wrapped around
    ``num_items``, the same number on every rank. Gathered rank-interleaved, they come back in dataset
    order; the wrap-around extras at the end fall beyond the set's ``limit``."""
    per_rank = -(-num_items // world)  # ceil
    return [position % num_items for position in range(rank, per_rank * world, world)]


def gather_rows(x: torch.Tensor) -> torch.Tensor:
    """``[B, D]`` on every rank -> ``[B * world, D]`` interleaved (row ``i * world + r`` from rank ``r``)."""
    if not dist.is_distributed():
        return x
    world = dist.world_size()
    if torch.distributed.get_backend() == "nccl" and not x.is_cuda:
        x = x.cuda()
    parts = [torch.empty_like(x) for _ in range(world)]
    torch.distributed.all_gather(parts, x.contiguous())
    return torch.stack(parts, dim=1).flatten(0, 1)


def cache_key(payload: dict[str, Any]) -> str:
    """SHA-256 of a JSON description of what the statistics depend on."""
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def load_cached(path: Path, limit: int | None, keep_rows: bool, keep_moments: bool) -> FeatureSet | None:
    """The cached set at ``path``, or None when it is absent, damaged or lacks a part asked for."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            return FeatureSet.from_arrays(data, limit, keep_rows, keep_moments)
    except (OSError, ValueError, KeyError):
        return None  # recomputed


def save_cached(path: Path, features: FeatureSet, meta: dict[str, Any]) -> None:
    """Write ``features`` atomically (temp file + rename) with a JSON description beside the arrays."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, meta=np.array(json.dumps(meta, default=str)), **features.to_arrays())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
