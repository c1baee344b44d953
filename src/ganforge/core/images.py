"""Image conversion and grids, with the official StyleGAN conventions.

Two conversions exist upstream and both are kept, each where upstream uses it:

- :func:`to_uint8` — generation tools (``gen_images.py``, metrics): ``(x * 127.5 + 128).clamp(0, 255)``
  then truncation to uint8, so the same network gives the same PNG bytes in both tools.
- :func:`grid_to_uint8` — training snapshots (``reals.png``, ``fakes*.png``):
  ``rint((x - lo) * 255 / (hi - lo))`` clipped.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image

__all__ = ["to_uint8", "grid_to_uint8", "tile", "save_png", "save_image_grid", "grid_size_for"]


def to_uint8(img: torch.Tensor) -> torch.Tensor:
    """``[N, C, H, W]`` float in [-1, 1] -> ``[N, H, W, C]`` uint8, as the official generation tools."""
    return (img.permute(0, 2, 3, 1) * 127.5 + 128).clamp(0, 255).to(torch.uint8)


def grid_to_uint8(img: np.ndarray | torch.Tensor, drange: Sequence[float] = (-1, 1)) -> np.ndarray:
    """Float images ``[N, C, H, W]`` in ``drange`` -> uint8, as the official snapshot grids."""
    if isinstance(img, torch.Tensor):
        img = img.detach().float().cpu().numpy()
    lo, hi = drange
    img = np.asarray(img, dtype=np.float32)
    img = np.rint((img - lo) * (255 / (hi - lo)))
    return np.clip(img, 0, 255).astype(np.uint8)


def tile(images: np.ndarray, grid_size: tuple[int, int]) -> np.ndarray:
    """uint8 ``[N, C, H, W]`` -> one ``[gh*H, gw*W, C]`` image, row-major."""
    gw, gh = grid_size
    n, c, h, w = images.shape
    if n < gw * gh:
        pad = np.zeros([gw * gh - n, c, h, w], dtype=images.dtype)
        images = np.concatenate([images, pad])
    images = images[: gw * gh].reshape(gh, gw, c, h, w).transpose(0, 3, 1, 4, 2)
    return images.reshape(gh * h, gw * w, c)


def save_png(path: str | os.PathLike[str], image: np.ndarray) -> None:
    """Save ``[H, W, C]`` uint8 (C = 1 or 3) as PNG."""
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    mode = "L" if image.ndim == 2 else "RGB"
    if image.ndim == 3 and image.shape[2] not in (3,):
        raise ValueError(f"cannot save an image with {image.shape[2]} channels as PNG")
    Image.fromarray(image, mode).save(path)


def save_image_grid(images: np.ndarray | torch.Tensor, path: str | os.PathLike[str], grid_size: tuple[int, int],
                    drange: Sequence[float] = (-1, 1)) -> None:
    """Save float images ``[N, C, H, W]`` (in ``drange``) or uint8 images as one PNG grid."""
    if isinstance(images, torch.Tensor):
        images = images.detach().cpu().numpy()
    if images.dtype != np.uint8:
        images = grid_to_uint8(images, drange)
    save_png(path, tile(images, grid_size))


def grid_size_for(resolution: int, override: tuple[int, int] | None = None) -> tuple[int, int]:
    """Grid columns x rows: the official ``clip(7680 // W, 7, 32) x clip(4320 // H, 4, 32)``."""
    if override is not None:
        return int(override[0]), int(override[1])
    return int(np.clip(7680 // resolution, 7, 32)), int(np.clip(4320 // resolution, 4, 32))
