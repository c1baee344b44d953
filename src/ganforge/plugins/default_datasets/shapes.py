"""The ``shapes`` dataset: procedural coloured shapes, the built-in default (no files needed).

Each image has a smooth two-colour gradient background, zero to two small shapes (none in half of
the images), and one large "main" shape drawn on top: a circle (class 0), a square (1) or a
triangle (2), with random size, position, rotation and a bright colour. Edges are anti-aliased
analytically: each pixel's coverage is ``clip(0.5 - d, 0, 1)`` where ``d`` is the signed distance
(in pixels) from the pixel centre to the shape outline, which is what supersampling converges to for
straight edges.

Image ``i`` depends only on ``(seed, i)``: its random numbers come from a counter-based hash
(SplitMix64) of the seed and the index, so the first 100 images are the same whatever ``size`` is.
The whole set is rendered at once with vectorised numpy and kept in memory.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from ganforge.core.data import ImageDataset
from ganforge.plugins.default_datasets.configs import ShapesConfig

__all__ = ["ShapesDataset", "render_shapes", "make_shapes", "CLASSES"]

#: Class index -> name of the main shape.
CLASSES = ("circle", "square", "triangle")

_DRAWS = 40  # random numbers per image (fixed, so adding draws never shifts other images)
_SLOTS = 3  # shapes per image at most; the last slot is the main shape
# equal-area sizes: square inradius = s*sqrt(pi)/2, triangle inradius = s*sqrt(pi/(3*sqrt(3)))
_INRADIUS = (1.0, math.sqrt(math.pi) / 2, math.sqrt(math.pi / (3 * math.sqrt(3))))
# distance from the centre to the farthest point, relative to s
_EXTENT = (1.0, math.sqrt(math.pi) / 2 * math.sqrt(2), 2 * math.sqrt(math.pi / (3 * math.sqrt(3))))
_LUMA = np.asarray([0.299, 0.587, 0.114], dtype=np.float32)  # ITU-R 601, as Pillow's RGB -> L
_MIN_LUMA = 0.6  # shapes are at least this bright in grey; backgrounds at most 0.45


def _uniform(seed: int, index: np.ndarray, n: int) -> np.ndarray:
    """``float64 [len(index), n]`` in [0, 1): SplitMix64 of (seed, index, draw); pure per index."""
    with np.errstate(over="ignore"):
        z = (np.uint64(seed) * np.uint64(0x9E3779B97F4A7C15)) ^ np.uint64(0xD1B54A32D192ED03)
        z = z + index.astype(np.uint64)[:, None] * np.uint64(n) + np.arange(n, dtype=np.uint64)[None, :]
        z = z * np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))


def _hsv_to_rgb(h: np.ndarray, s: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Vectorised HSV (all in [0, 1]) -> RGB ``[..., 3]``."""
    k = (np.stack([5.0, 3.0, 1.0])[:, None] + h[None, :] * 6.0) % 6.0  # [3, N]
    rgb = v[None] - v[None] * s[None] * np.clip(np.minimum(k, 4.0 - k), 0.0, 1.0)
    return rgb.T.astype(np.float32)


def _signed_distance(kind: int, dx: np.ndarray, dy: np.ndarray, size: np.ndarray,
                     rot: np.ndarray) -> np.ndarray:
    """Signed distance (pixels, negative inside) of a circle/square/triangle of size ``s`` at the origin.

    ``dx, dy``: ``[B, R, R]`` offsets from the centre; ``size, rot``: ``[B, 1, 1]``.
    """
    if kind == 0:
        return np.sqrt(dx * dx + dy * dy) - size
    sides = 4 if kind == 1 else 3
    d = None
    for k in range(sides):  # regular polygon = intersection of half-planes
        phi = rot + 2.0 * math.pi * k / sides
        proj = dx * np.cos(phi) + dy * np.sin(phi)
        d = proj if d is None else np.maximum(d, proj)
    return d - size * _INRADIUS[kind]


def _render_chunk(u: np.ndarray, res: int) -> tuple[np.ndarray, np.ndarray]:
    """Render ``B`` images from their draws ``u [B, _DRAWS]``: ``float32 [B, R, R, 3]`` in [0, 1] and
    ``int64 [B]`` main-shape classes."""
    b = u.shape[0]
    u = u.astype(np.float32)
    coords = (np.arange(res, dtype=np.float32) + 0.5)
    ys, xs = coords[None, :, None], coords[None, None, :]

    # background: dull gradient between two related colours, in a random direction
    hue = u[:, 0]
    c1 = _hsv_to_rgb(hue, 0.15 + 0.45 * u[:, 1], 0.10 + 0.35 * u[:, 2])
    c2 = _hsv_to_rgb((hue + 0.3 * (u[:, 3] - 0.5)) % 1.0, 0.15 + 0.45 * u[:, 4], 0.10 + 0.35 * u[:, 5])
    ang = (2.0 * math.pi * u[:, 6])[:, None, None]
    t = 0.5 + ((xs - res / 2) * np.cos(ang) + (ys - res / 2) * np.sin(ang)) / res
    t = np.clip(t, 0.0, 1.0)[..., None]  # [B, R, R, 1]
    img = c1[:, None, None, :] * (1.0 - t) + c2[:, None, None, :] * t

    n_extra = (u[:, 7] > 0.5).astype(np.int64) + (u[:, 7] > 0.85)  # 0, 1 or 2 small shapes (50, 35, 15 %)
    classes = np.zeros(b, dtype=np.int64)
    for slot in range(_SLOTS):
        p = u[:, 8 + 8 * slot: 16 + 8 * slot]
        main = slot == _SLOTS - 1
        kind = np.minimum((p[:, 0] * 3).astype(np.int64), 2)
        size = res * ((0.2 + 0.12 * p[:, 1]) if main else (0.07 + 0.06 * p[:, 1]))
        extent = size * np.asarray(_EXTENT, dtype=np.float32)[kind]
        lo = np.minimum(extent + 1.0, res / 2) if main else np.zeros_like(extent)
        cx = lo + (res - 2 * lo) * p[:, 2]
        cy = lo + (res - 2 * lo) * p[:, 3]
        rot = 2.0 * math.pi * p[:, 4]
        color = _hsv_to_rgb(p[:, 5], 0.55 + 0.45 * p[:, 6], 0.75 + 0.25 * p[:, 7])
        luma = color @ _LUMA
        lift = np.clip((_MIN_LUMA - luma) / (1.0 - luma), 0.0, 1.0)[:, None]
        color = color + (1.0 - color) * lift  # towards white until the grey version stands out
        active = np.ones(b, bool) if main else (slot < n_extra)
        if main:
            classes = kind
        for k in range(3):
            idx = np.nonzero(active & (kind == k))[0]
            if idx.size == 0:
                continue
            col = lambda a: a[idx, None, None]  # noqa: E731
            d = _signed_distance(k, xs - col(cx), ys - col(cy), col(size), col(rot))
            alpha = np.clip(0.5 - d, 0.0, 1.0)[..., None]
            img[idx] = img[idx] * (1.0 - alpha) + color[idx, None, None, :] * alpha
    return img, classes


@functools.lru_cache(maxsize=4)
def render_shapes(resolution: int, size: int, channels: int = 3,
                  seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Render the whole dataset: ``uint8 [N, C, R, R]`` images and ``int64 [N]`` main-shape classes.

    Cached: the arrays are read-only and shared by every dataset with the same arguments.
    """
    images = np.empty([size, channels, resolution, resolution], dtype=np.uint8)
    classes = np.empty([size], dtype=np.int64)
    chunk = max(1, (1 << 21) // (resolution * resolution))
    for start in range(0, size, chunk):
        stop = min(size, start + chunk)
        u = _uniform(seed, np.arange(start, stop), _DRAWS)
        rgb, cls = _render_chunk(u, resolution)
        if channels == 1:
            rgb = (rgb @ _LUMA)[..., None]
        images[start:stop] = np.rint(np.clip(rgb, 0.0, 1.0) * 255.0).astype(np.uint8).transpose(0, 3, 1, 2)
        classes[start:stop] = cls
    images.flags.writeable = False
    classes.flags.writeable = False
    return images, classes


class ShapesDataset(ImageDataset):
    """Procedural shapes (see the module docstring); ``len = size`` (``2 * size`` with xflip)."""

    def __init__(self, resolution: int = 32, size: int = 4096, channels: int = 3, seed: int = 0,
                 use_labels: bool = False, xflip: bool = False):
        self._images, self._classes = render_shapes(resolution, size, channels, seed)
        super().__init__(name=f"shapes{resolution}", raw_shape=self._images.shape, use_labels=use_labels,
                         xflip=xflip)

    def _load_raw_image(self, raw_idx: int) -> np.ndarray:
        return self._images[raw_idx].copy()  # the cache is read-only; torch wants writable arrays

    def _load_raw_labels(self) -> np.ndarray:
        return np.array(self._classes)

    @property
    def label_shape(self) -> list[int]:
        # always three classes, even in a small set that happens to lack one of them
        return [len(CLASSES)] if self._use_labels else [0]


def make_shapes(cfg: ShapesConfig) -> ShapesDataset:
    """Factory of the ``shapes`` dataset."""
    return ShapesDataset(resolution=cfg.resolution, size=cfg.size, channels=cfg.channels, seed=cfg.seed,
                         use_labels=cfg.use_labels, xflip=cfg.xflip)
