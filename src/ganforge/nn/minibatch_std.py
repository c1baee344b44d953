"""Minibatch standard deviation layer.

Karras et al., "Progressive Growing of GANs for Improved Quality, Stability, and Variation",
ICLR 2018, section 3 (https://arxiv.org/abs/1710.10196), in the generalised form of StyleGAN2
(Karras et al., CVPR 2020): the batch is split into groups of ``G = min(group_size, N)`` samples;
sample ``n`` belongs to group ``n % (N // G)`` (as a reshape to ``[G, N // G, ...]`` gives). The
channels are split into ``num_channels`` equal slices. For each group and slice, the standard deviation
over the group is taken per feature and pixel, then averaged over the slice's channels and the pixels.
The ``num_channels`` statistics of a sample's group are appended to it as constant feature maps.
PGGAN uses ``num_channels=1``.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["MinibatchStd"]


class MinibatchStd(nn.Module):
    """Append the within-group standard deviation as ``num_channels`` extra feature maps.

    Args:
        group_size: samples per group; clamped to the batch size. The batch size must be divisible
            by the clamped group size.
        num_channels: number of statistics (channel slices); must divide the input channels.
        eps: added to the variance before the square root.

    Shapes: ``[N, C, H, W] -> [N, C + num_channels, H, W]``.
    """

    def __init__(self, group_size: int, num_channels: int = 1, eps: float = 1e-8) -> None:
        super().__init__()
        if group_size < 1 or num_channels < 1:
            raise ValueError(f"group_size and num_channels must be >= 1, got {group_size} and {num_channels}")
        self.group_size = int(group_size)
        self.num_channels = int(num_channels)
        self.eps = float(eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        N, C, H, W = x.shape  # [N, C, H, W]
        G = min(self.group_size, N)
        F = self.num_channels
        if N % G:
            raise ValueError(f"MinibatchStd: the batch size {N} is not divisible by the group size {G} "
                             f"(min(group_size={self.group_size}, batch)); use a batch size that is a "
                             f"multiple of {G} or change the group size")
        if C % F:
            raise ValueError(f"MinibatchStd: {C} channels cannot be split into num_channels={F} slices")
        y = x.reshape(G, -1, F, C // F, H, W)  # [G, M, F, c, H, W]
        y = y - y.mean(dim=0)  # [G, M, F, c, H, W]
        y = y.square().mean(dim=0)  # [M, F, c, H, W]
        y = (y + self.eps).sqrt()  # [M, F, c, H, W]
        y = y.mean(dim=(2, 3, 4))  # [M, F]
        y = y.reshape(-1, F, 1, 1).repeat(G, 1, H, W)  # [N, F, H, W]
        return torch.cat([x, y], dim=1)  # [N, C + F, H, W]

    def extra_repr(self) -> str:
        return f"group_size={self.group_size}, num_channels={self.num_channels}"
