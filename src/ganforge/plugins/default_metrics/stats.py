"""Feature statistics: running float64 mean/covariance or all features, gathering across processes,
and the on-disk cache of real-data statistics (``.npz``, never pickles)."""

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

__all__ = ["FeatureStats", "gather_rows", "rank_items", "cache_key", "load_cached", "save_cached"]


class FeatureStats:
    """Accumulates features ``[N, D]``: all of them (``capture_all``, float32) and/or running sums for
    the mean and covariance (``capture_mean_cov``, float64). Stops at ``max_items``."""

    def __init__(self, capture_all: bool = False, capture_mean_cov: bool = False, max_items: int | None = None):
        self.capture_all, self.capture_mean_cov, self.max_items = capture_all, capture_mean_cov, max_items
        self.num_items = 0
        self.num_features: int | None = None
        self.all_features: list[np.ndarray] = []
        self.raw_mean: np.ndarray | None = None
        self.raw_cov: np.ndarray | None = None

    def is_full(self) -> bool:
        return self.max_items is not None and self.num_items >= self.max_items

    def append(self, x: np.ndarray | torch.Tensor) -> None:
        if isinstance(x, torch.Tensor):
            x = x.detach().float().cpu().numpy()
        x = np.asarray(x, dtype=np.float32)
        assert x.ndim == 2, x.shape
        if self.max_items is not None:
            x = x[: max(self.max_items - self.num_items, 0)]
        if not len(x):
            return
        if self.num_features is None:
            self.num_features = x.shape[1]
            if self.capture_mean_cov:
                self.raw_mean = np.zeros([x.shape[1]], np.float64)
                self.raw_cov = np.zeros([x.shape[1]] * 2, np.float64)
        self.num_items += len(x)
        if self.capture_all:
            self.all_features.append(x)
        if self.capture_mean_cov:
            x64 = x.astype(np.float64)
            self.raw_mean += x64.sum(axis=0)
            self.raw_cov += x64.T @ x64

    def get_all(self) -> np.ndarray:
        assert self.capture_all
        return np.concatenate(self.all_features) if self.all_features else np.zeros([0, self.num_features or 0],
                                                                                     np.float32)

    def get_mean_cov(self) -> tuple[np.ndarray, np.ndarray]:
        """Mean and (biased, ``1/N``) covariance in float64, as upstream."""
        assert self.capture_mean_cov and self.raw_mean is not None and self.raw_cov is not None
        mean = self.raw_mean / self.num_items
        cov = self.raw_cov / self.num_items - np.outer(mean, mean)
        return mean, cov

    # -- persistence ---------------------------------------------------------------------------------
    def to_arrays(self) -> dict[str, np.ndarray]:
        out = {"num_items": np.array(self.num_items), "num_features": np.array(self.num_features or 0)}
        if self.capture_all:
            out["all"] = self.get_all()
        if self.capture_mean_cov and self.raw_mean is not None:
            out["raw_mean"], out["raw_cov"] = self.raw_mean, self.raw_cov
        return out

    @classmethod
    def from_arrays(cls, arrays: Any, capture_all: bool, capture_mean_cov: bool,
                    max_items: int | None) -> FeatureStats:
        stats = cls(capture_all, capture_mean_cov, max_items)
        stats.num_items = int(arrays["num_items"])
        stats.num_features = int(arrays["num_features"]) or None
        if capture_all:
            stats.all_features = [np.asarray(arrays["all"], np.float32)]
        if capture_mean_cov:
            stats.raw_mean = np.asarray(arrays["raw_mean"], np.float64)
            stats.raw_cov = np.asarray(arrays["raw_cov"], np.float64)
        return stats


def rank_items(num_items: int, rank: int, world: int) -> list[int]:
    """Indices this rank processes: ``(i * world + rank) % num_items`` (equal counts on every rank;
    the gathered order is the dataset order, the wrap-around extras are dropped by ``max_items``)."""
    per_rank = (num_items - 1) // world + 1
    return [(i * world + rank) % num_items for i in range(per_rank)]


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


def load_cached(path: Path, capture_all: bool, capture_mean_cov: bool, max_items: int | None) -> FeatureStats | None:
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            if capture_all and "all" not in data or capture_mean_cov and "raw_mean" not in data:
                return None
            return FeatureStats.from_arrays(data, capture_all, capture_mean_cov, max_items)
    except (OSError, ValueError, KeyError):
        return None  # a damaged cache file is recomputed


def save_cached(path: Path, stats: FeatureStats, meta: dict[str, Any]) -> None:
    """Write ``stats`` atomically (temp file + rename) with a JSON description beside the arrays."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, meta=np.array(json.dumps(meta, default=str)), **stats.to_arrays())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
