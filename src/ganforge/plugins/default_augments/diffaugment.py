"""DiffAugment: differentiable augmentation of every image the discriminator sees.

Zhao et al., "Differentiable Augmentation for Data-Efficient GAN Training", NeurIPS 2020
(arXiv:2006.10738); the policy ``color,translation,cutout`` is the one Projected GAN applies to real
and generated images. Every transform is applied with probability 1 and its own random parameters per
sample, and is differentiable with respect to the images (also twice, for R1). Images are
``[N, C, H, W]``, nominally in [-1, 1].

- ``color``: brightness ``x + U(-0.5, 0.5)``; saturation ``(x - mean_c) * U(0, 2) + mean_c`` around
  the per-pixel channel mean; contrast ``(x - mean) * U(0.5, 1.5) + mean`` around the image mean.
- ``translation``: integer shifts ``ty, tx`` uniform in ``[-round(r * H), round(r * H)]`` (r = 0.125):
  ``out[i, j] = x[i + ty, j + tx]``, zero where that falls outside the image.
- ``cutout``: a square of side ``round(r * H)`` (r = 0.2) with a uniformly drawn centre is set to
  zero (clipped at the border).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import nn

__all__ = ["DiffAugment", "rand_brightness", "rand_saturation", "rand_contrast", "rand_translation",
           "rand_cutout"]


def _uniform(x: torch.Tensor) -> torch.Tensor:
    return torch.rand(x.shape[0], 1, 1, 1, device=x.device, dtype=x.dtype)


def rand_brightness(x: torch.Tensor) -> torch.Tensor:
    return x + (_uniform(x) - 0.5)


def rand_saturation(x: torch.Tensor) -> torch.Tensor:
    mean = x.mean(dim=1, keepdim=True)
    return (x - mean) * (_uniform(x) * 2) + mean


def rand_contrast(x: torch.Tensor) -> torch.Tensor:
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (_uniform(x) + 0.5) + mean


def _half_up(size: int, ratio: float) -> int:
    return int(size * ratio + 0.5)


def rand_translation(x: torch.Tensor, ratio: float = 0.125) -> torch.Tensor:
    """Shift each image by its own integer offset, filling with zeros."""
    n, c, h, w = x.shape
    sy, sx = _half_up(h, ratio), _half_up(w, ratio)
    ty = torch.randint(-sy, sy + 1, (n, 1, 1), device=x.device)
    tx = torch.randint(-sx, sx + 1, (n, 1, 1), device=x.device)
    iy = torch.arange(h, device=x.device).view(1, h, 1) + ty  # [N, H, 1] source rows
    ix = torch.arange(w, device=x.device).view(1, 1, w) + tx  # [N, 1, W] source columns
    valid = (iy >= 0) & (iy < h) & (ix >= 0) & (ix < w)  # [N, H, W]
    index = (iy.clamp(0, h - 1) * w + ix.clamp(0, w - 1)).view(n, 1, h * w).expand(n, c, h * w)
    out = x.reshape(n, c, h * w).gather(2, index).view(n, c, h, w)
    return out * valid.unsqueeze(1).to(x.dtype)


def rand_cutout(x: torch.Tensor, ratio: float = 0.2) -> torch.Tensor:
    """Zero a square of side ``round(ratio * size)`` per image (its centre anywhere in the image)."""
    n, _, h, w = x.shape
    ch, cw = _half_up(h, ratio), _half_up(w, ratio)
    if ch == 0 or cw == 0:
        return x
    oy = torch.randint(0, h + (1 - ch % 2), (n, 1, 1), device=x.device) - ch // 2  # top row of the square
    ox = torch.randint(0, w + (1 - cw % 2), (n, 1, 1), device=x.device) - cw // 2
    ys = torch.arange(h, device=x.device).view(1, h, 1)
    xs = torch.arange(w, device=x.device).view(1, 1, w)
    inside = (ys >= oy) & (ys < oy + ch) & (xs >= ox) & (xs < ox + cw)  # [N, H, W]
    return x * (~inside).unsqueeze(1).to(x.dtype)


class DiffAugment(nn.Module):
    """Apply the transforms of ``policy`` in order: ``[N, C, H, W] -> [N, C, H, W]``.

    Args:
        policy: names among ``color``, ``translation``, ``cutout``.
        translation_ratio: largest shift as a fraction of the size (0.125).
        cutout_ratio: side of the zeroed square as a fraction of the size (0.2).
    """

    def __init__(self, policy: Iterable[str] = ("color", "translation", "cutout"),
                 translation_ratio: float = 0.125, cutout_ratio: float = 0.2):
        super().__init__()
        self.policy = tuple(policy)
        unknown = sorted(set(self.policy) - {"color", "translation", "cutout"})
        if unknown:
            raise ValueError(f"unknown DiffAugment policy {unknown}; expected color, translation, cutout")
        self.translation_ratio, self.cutout_ratio = translation_ratio, cutout_ratio

    def extra_repr(self) -> str:
        return (f"policy={','.join(self.policy)}, translation_ratio={self.translation_ratio}, "
                f"cutout_ratio={self.cutout_ratio}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for name in self.policy:
            if name == "color":
                x = rand_contrast(rand_saturation(rand_brightness(x)))
            elif name == "translation":
                x = rand_translation(x, self.translation_ratio)
            else:
                x = rand_cutout(x, self.cutout_ratio)
        return x


def build_diffaugment(cfg: Any, info: Any) -> DiffAugment:
    """Factory of the ``diffaugment`` spec."""
    return DiffAugment(cfg.policy, translation_ratio=cfg.translation_ratio, cutout_ratio=cfg.cutout_ratio)
