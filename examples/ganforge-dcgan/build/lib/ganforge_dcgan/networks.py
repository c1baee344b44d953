"""DCGAN networks (Radford et al., 2016) for any power-of-two resolution >= 8."""

from __future__ import annotations

import math
from typing import Literal

import torch
from pydantic import Field
from torch import nn

from ganforge.core.config import ComponentConfig
from ganforge.core.specs import DataInfo


class GeneratorConfig(ComponentConfig):
    name: Literal["dcgan"] = "dcgan"
    z_dim: int = Field(100, ge=1, description="Latent size.")
    width: int = Field(64, ge=4, description="Channels at the output resolution; doubled per halving, up to 8x.")


class DiscriminatorConfig(ComponentConfig):
    name: Literal["dcgan"] = "dcgan"
    width: int = Field(64, ge=4, description="Channels after the first convolution; doubled per halving, up to 8x.")


def _channels(width: int, level: int) -> int:
    return width * min(2 ** level, 8)


class DCGANGenerator(nn.Module):
    """z [N, z_dim] -> 4x4 by a transposed conv, then (upsample x2, BN, ReLU) blocks, tanh output."""

    def __init__(self, cfg: GeneratorConfig, info: DataInfo):
        super().__init__()
        self.z_dim, self.c_dim = cfg.z_dim, 0
        self.img_resolution, self.img_channels = info.resolution, info.channels
        levels = int(math.log2(info.resolution)) - 2  # number of x2 upsamplings after 4x4
        ch = _channels(cfg.width, levels)
        layers: list[nn.Module] = [nn.ConvTranspose2d(cfg.z_dim, ch, 4, 1, 0, bias=False), nn.BatchNorm2d(ch),
                                   nn.ReLU(True)]
        for level in range(levels - 1, 0, -1):
            out = _channels(cfg.width, level)
            layers += [nn.ConvTranspose2d(ch, out, 4, 2, 1, bias=False), nn.BatchNorm2d(out), nn.ReLU(True)]
            ch = out
        layers += [nn.ConvTranspose2d(ch, info.channels, 4, 2, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return self.net(z[:, :, None, None])  # [N, C, H, W] in [-1, 1]


class DCGANDiscriminator(nn.Module):
    """[N, C, H, W] -> (strided conv, leaky ReLU) blocks down to 4x4 -> a 4x4 conv to one logit."""

    def __init__(self, cfg: DiscriminatorConfig, info: DataInfo):
        super().__init__()
        levels = int(math.log2(info.resolution)) - 2
        layers: list[nn.Module] = []
        ch = info.channels
        for level in range(levels):
            out = _channels(cfg.width, level)
            layers += [nn.Conv2d(ch, out, 4, 2, 1), nn.LeakyReLU(0.2)]
            ch = out
        layers.append(nn.Conv2d(ch, 1, 4, 1, 0))
        self.net = nn.Sequential(*layers)

    def forward(self, img: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return self.net(img).flatten(1)[:, 0]  # [N]
