"""Where features come from: real datasets (cached), image folders/zips (cached), generators (never cached).

Every function runs on every rank: each rank processes items ``(i * world + rank) % N`` and the
features are gathered, so all ranks end with the same statistics in dataset order.
"""

from __future__ import annotations

import hashlib
import io
import os
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ganforge.core import distributed as dist
from ganforge.core.errors import ConfigError, DataError
from ganforge.core.flags import cache_dir
from ganforge.plugins.default_metrics.detectors import Detector
from ganforge.plugins.default_metrics.stats import FeatureSet, cache_key, gather_rows, load_cached, rank_items, \
    save_cached

__all__ = ["real_dataset_config", "dataset_fingerprint", "real_stats", "generator_stats", "ImageSet",
           "imageset_stats", "to_uint8_nchw", "Progress"]

Progress = Callable[[str, int], Callable[[int], None]]  # (description, total) -> advance(n)
_IMAGE_EXT = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff", ".gif", ".ppm"}


def _no_progress(desc: str, total: int) -> Callable[[int], None]:
    return lambda n: None


def to_uint8_nchw(img: torch.Tensor) -> torch.Tensor:
    """Generator output in [-1, 1] -> uint8 ``[N, C, H, W]`` with upstream's ``(x * 127.5 + 128).clamp(0, 255)``."""
    return (img.float() * 127.5 + 128).clamp(0, 255).to(torch.uint8)


# ---------------------------------------------------------------------------------------------
# Real datasets
# ---------------------------------------------------------------------------------------------

def real_dataset_config(dataset_config: Any, cfg: Any, G: Any = None) -> Any:
    """The dataset config adjusted as upstream's metrics do: no ``max_size`` subset, x-flip per the
    metric (``real_xflip``), labels when G is conditional, resolution matching G where settable."""
    if dataset_config is None:
        raise ConfigError("this metric needs real images; give --data (or train with a dataset)", "--data")
    fields = type(dataset_config).model_fields
    update: dict[str, Any] = {}
    if "max_size" in fields:
        update["max_size"] = None
    xflip = getattr(cfg, "real_xflip", False)
    if "xflip" in fields and xflip is not None:
        update["xflip"] = bool(xflip)
    if G is not None and "use_labels" in fields:
        update["use_labels"] = int(getattr(G, "c_dim", 0)) > 0
    if G is not None and "resolution" in fields and getattr(dataset_config, "resolution", None) is not None:
        update["resolution"] = int(G.img_resolution)
    return dataset_config.model_copy(update=update)


def _path_fingerprint(path: Path, h: Any) -> None:
    if path.is_dir():
        for f in sorted(p for p in path.rglob("*") if p.is_file()):
            st = f.stat()
            h.update(f"{f.relative_to(path).as_posix()}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    elif path.is_file():
        st = path.stat()
        h.update(f"{path.name}|{st.st_size}|{st.st_mtime_ns}\n".encode())
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as z:
                for info in sorted(z.infolist(), key=lambda i: i.filename):
                    h.update(f"{info.filename}|{info.file_size}|{info.CRC}\n".encode())


def dataset_fingerprint(dataset_config: Any = None, path: str | os.PathLike[str] | None = None) -> str:
    """SHA-256 over the dataset config and, for file-backed data, the names, sizes and modification
    times of its files (and the CRCs a zip records). Procedural datasets are keyed by config alone."""
    h = hashlib.sha256()
    if dataset_config is not None:
        h.update(dataset_config.model_dump_json().encode())
        path = path or getattr(dataset_config, "path", None)
    if path:
        _path_fingerprint(Path(path), h)
    return h.hexdigest()


def _cached(key_payload: dict[str, Any], name: str, det: Detector, use_cache: bool, limit: int | None,
            keep_rows: bool, keep_moments: bool, compute: Callable[[], FeatureSet]) -> tuple[FeatureSet, str]:
    """Load the features from the cache or compute them (rank 0 writes; the others wait)."""
    if not use_cache:
        return compute(), "off"
    key = cache_key({**key_payload, "detector": det.id, "detector_sha256": det.sha256, "dtype": det.dtype,
                     "keep_rows": keep_rows, "keep_moments": keep_moments, "limit": limit})
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in name)[:40]
    path = cache_dir("metrics") / f"{safe}-{det.kind}-{key[:32]}.npz"
    features = load_cached(path, limit, keep_rows, keep_moments)
    hit = dist.broadcast_object(features is not None)
    if hit and features is not None:
        return features, "hit"
    features = compute()
    if dist.rank() == 0:
        save_cached(path, features, {**key_payload, "detector": det.id, "created": time.time()})
    dist.barrier()
    return features, "miss"


def _run(items_per_rank: list[int], load_batch: Callable[[list[int]], torch.Tensor], fn: Callable[[torch.Tensor],
         torch.Tensor], features: FeatureSet, batch: int, advance: Callable[[int], None]) -> FeatureSet:
    for start in range(0, len(items_per_rank), batch):
        images = load_batch(items_per_rank[start:start + batch])
        feats = gather_rows(fn(images))
        features.add(feats)
        advance(len(feats))
        if features.full:
            break
    return features


def real_stats(dataset_config: Any, det: Detector, fn: Callable[[torch.Tensor], torch.Tensor], cfg: Any, *,
               keep_rows: bool = False, keep_moments: bool = False, max_items: int | None = None,
               progress: Progress = _no_progress) -> tuple[FeatureSet, dict[str, Any]]:
    """Features of a real dataset (cached). Returns the :class:`FeatureSet` and provenance facts."""
    from ganforge.core.registry import get_registry

    spec = get_registry().get("dataset", dataset_config.name)
    dataset = spec.build(dataset_config)
    try:
        n = len(dataset) if max_items is None else min(len(dataset), max_items)
        fingerprint = dataset_fingerprint(dataset_config)

        def compute() -> FeatureSet:
            features = FeatureSet(n, keep_rows, keep_moments)
            items = rank_items(n, dist.rank(), dist.world_size())
            subset = torch.utils.data.Subset(dataset, items)
            loader = torch.utils.data.DataLoader(subset, batch_size=cfg.batch_detector, shuffle=False,
                                                 num_workers=cfg.data_workers)
            batches: Iterator[Any] = iter(loader)
            return _run(items, lambda idx: torch.as_tensor(next(batches)[0]), fn, features, cfg.batch_detector,
                        progress(f"real images ({dataset_config.name})", n))

        features, cache = _cached({"dataset": dataset_config.model_dump(mode="json"), "fingerprint": fingerprint,
                                   "fn": fn.__name__}, dataset_config.name, det, cfg.cache, n, keep_rows,
                                  keep_moments, compute)
    finally:
        if hasattr(dataset, "close"):
            dataset.close()
    return features, {"dataset": dataset_config.name, "dataset_hash": fingerprint, "num_real": features.count,
                      "stats_cache": cache}


# ---------------------------------------------------------------------------------------------
# Generators
# ---------------------------------------------------------------------------------------------

_BLOCK = 1024


def latent_block(seed: int, block: int, z_dim: int, num_labels: int) -> tuple[np.ndarray, np.ndarray]:
    """Latents and label indices of global samples ``block*1024 ... block*1024+1023``: a pure function of
    ``(seed, block)``, so results do not depend on the number of processes."""
    rng = np.random.default_rng([int(seed), int(block)])
    z = rng.standard_normal((_BLOCK, z_dim), dtype=np.float64).astype(np.float32)
    labels = rng.integers(0, max(num_labels, 1), _BLOCK)
    return z, labels


def generator_stats(G: torch.nn.Module, det: Detector, fn: Callable[[torch.Tensor], torch.Tensor], cfg: Any, *,
                    seed: int, device: torch.device, dataset_config: Any = None, keep_rows: bool = False,
                    keep_moments: bool = False, progress: Progress = _no_progress) -> FeatureSet:
    """Features of ``cfg.num_gen`` generated images (never cached).

    Sample ``i`` uses ``z`` and a dataset label drawn by :func:`latent_block`; G is called in batches
    of ``batch_gen``; images are converted as upstream and passed to the detector in batches of
    ``batch_detector``. Torch's RNG (noise inputs) is seeded with ``seed + rank``.
    """
    n = cfg.num_gen
    c_dim = int(getattr(G, "c_dim", 0))
    labels_source = None
    if c_dim > 0:
        from ganforge.core.registry import get_registry

        data_cfg = real_dataset_config(dataset_config, cfg, G)
        labels_source = get_registry().get("dataset", data_cfg.name).build(data_cfg)
    num_labels = len(labels_source) if labels_source is not None else 1
    features = FeatureSet(n, keep_rows, keep_moments)
    items = rank_items(n, dist.rank(), dist.world_size())
    cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def sample(i: int) -> tuple[np.ndarray, np.ndarray]:
        block, row = divmod(i, _BLOCK)
        if block not in cache:
            cache.clear()
            cache[block] = latent_block(seed, block, int(G.z_dim), num_labels)
        z, lab = cache[block]
        c = labels_source.get_label(int(lab[row])) if labels_source is not None else np.zeros([c_dim], np.float32)
        return z[row], c

    from ganforge.core.options import call_network

    def load_batch(idx: list[int]) -> torch.Tensor:
        zs, cs = zip(*(sample(i) for i in idx), strict=True)
        z = torch.from_numpy(np.stack(zs)).to(device)
        c = torch.from_numpy(np.stack(cs).astype(np.float32)).to(device)
        out = []
        with torch.no_grad():
            for zz, cc in zip(z.split(cfg.batch_gen), c.split(cfg.batch_gen), strict=True):
                out.append(to_uint8_nchw(call_network(G, zz, cc)))
        return torch.cat(out)

    fork_devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=fork_devices):
        torch.manual_seed(seed + dist.rank())
        try:
            _run(items, load_batch, fn, features, cfg.batch_detector, progress("generated images", n))
        finally:
            if labels_source is not None and hasattr(labels_source, "close"):
                labels_source.close()
    return features


# ---------------------------------------------------------------------------------------------
# Image sets (gan metrics compare)
# ---------------------------------------------------------------------------------------------

class ImageSet:
    """Images of a folder (recursive) or zip, any sizes, read as uint8 ``[C, H, W]`` (RGB or grey)."""

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)
        self._zip: zipfile.ZipFile | None = None
        if self.path.is_dir():
            self.names = sorted(p.relative_to(self.path).as_posix() for p in self.path.rglob("*")
                                if p.is_file() and p.suffix.lower() in _IMAGE_EXT)
        elif self.path.is_file() and zipfile.is_zipfile(self.path):
            with zipfile.ZipFile(self.path) as z:
                self.names = sorted(n for n in z.namelist() if Path(n).suffix.lower() in _IMAGE_EXT)
        else:
            raise DataError("is not a folder or a zip file of images", str(self.path))
        if not self.names:
            raise DataError("contains no images (png, jpg, webp, bmp, tif, ...)", str(self.path))

    def __len__(self) -> int:
        return len(self.names)

    def _bytes(self, name: str) -> bytes:
        if self.path.is_dir():
            return (self.path / name).read_bytes()
        if self._zip is None:
            self._zip = zipfile.ZipFile(self.path)
        return self._zip.read(name)

    def __getitem__(self, i: int) -> np.ndarray:
        from PIL import Image

        name = self.names[i]
        try:
            with Image.open(io.BytesIO(self._bytes(name))) as img:
                img = img.convert("L" if img.mode in ("L", "I;16", "I", "1") else "RGB")
                arr = np.asarray(img)
        except Exception as exc:
            raise DataError(f"cannot read image {name!r} ({type(exc).__name__}: {exc})", str(self.path)) from None
        return arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()
            self._zip = None


def imageset_stats(path: str | os.PathLike[str], det: Detector, fn: Callable[[torch.Tensor], torch.Tensor], cfg: Any,
                   *, keep_rows: bool = False, keep_moments: bool = False, max_items: int | None = None,
                   progress: Progress = _no_progress) -> tuple[FeatureSet, dict[str, Any]]:
    """Features of an image folder or zip (cached by content). Images of different sizes are fine:
    each is resized by the detector; a batch holds images of one size."""
    images = ImageSet(path)
    n = len(images) if max_items is None else min(len(images), max_items)
    fingerprint = dataset_fingerprint(path=path)

    def fn_grouped(batch: list[np.ndarray]) -> torch.Tensor:
        out: list[torch.Tensor] = []
        start = 0
        for i in range(1, len(batch) + 1):
            if i == len(batch) or batch[i].shape != batch[start].shape:
                out.append(fn(torch.from_numpy(np.stack(batch[start:i]))).cpu())
                start = i
        return torch.cat(out)

    def compute() -> FeatureSet:
        features = FeatureSet(n, keep_rows, keep_moments)
        items = rank_items(n, dist.rank(), dist.world_size())
        return _run(items, lambda idx: [images[i] for i in idx], fn_grouped, features,  # type: ignore[arg-type, misc]
                    cfg.batch_detector, progress(f"images ({Path(path).name})", n))

    try:
        features, cache = _cached({"imageset": str(Path(path).resolve()), "fingerprint": fingerprint,
                                   "fn": fn.__name__}, Path(path).name, det, cfg.cache, n, keep_rows,
                                  keep_moments, compute)
    finally:
        images.close()
    return features, {"dataset": str(path), "dataset_hash": fingerprint, "num_items": features.count,
                      "stats_cache": cache}
