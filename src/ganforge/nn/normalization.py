"""Normalization layers without learned parameters.

``PixelNorm``: Karras et al., "Progressive Growing of GANs for Improved Quality, Stability, and
Variation", ICLR 2018, section 4.2 (https://arxiv.org/abs/1710.10196): each pixel's feature vector
is scaled to unit root-mean-square, ``b = a / sqrt(mean_c(a^2) + eps)``. StyleGAN's mapping network
applies the same operation to the latent ``z`` (a ``[N, C]`` tensor).
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["PixelNorm", "pixel_norm"]


def pixel_norm(x: torch.Tensor, eps: float = 1e-8, dim: int = 1) -> torch.Tensor:
    """``x * rsqrt(mean(x**2, dim) + eps)``; ``x`` is ``[N, C]`` or ``[N, C, H, W]``."""
    return x * torch.rsqrt(x.square().mean(dim=dim, keepdim=True) + eps)


class PixelNorm(nn.Module):
    """Normalise the feature vector of each sample (and pixel) to unit RMS over ``dim`` (channels).

    Args:
        eps: added to the mean square before the reciprocal square root.
        dim: the feature dimension (1 for ``[N, C]`` and ``[N, C, H, W]``).
    """

    def __init__(self, eps: float = 1e-8, dim: int = 1) -> None:
        super().__init__()
        self.eps = float(eps)
        self.dim = int(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: [N, C] or [N, C, H, W]
        return pixel_norm(x, self.eps, self.dim)

    def extra_repr(self) -> str:
        return f"eps={self.eps:g}, dim={self.dim}"
