"""A tiny plugin used by the core tests: an 8x8 dataset and small conv G/D.

Loaded with --plugins-dir (so spawned processes load it too)."""

from typing import Literal

import numpy as np
import torch
from pydantic import Field

from ganforge import hookimpl
from ganforge.core.config import ComponentConfig
from ganforge.core.data import ImageDataset
from ganforge.core.specs import DatasetSpec, DiscriminatorSpec, GeneratorSpec


class ToyDataConfig(ComponentConfig):
    name: Literal["toydata"] = "toydata"
    resolution: int = 8
    size: int = 64
    labels: int = Field(0, description="number of classes (0: unconditional)")


class ToyData(ImageDataset):
    def __init__(self, cfg):
        self.cfg = cfg
        rnd = np.random.RandomState(123)
        r = cfg.resolution
        yy, xx = np.mgrid[0:r, 0:r] / r
        imgs = []
        for _ in range(cfg.size):
            a, b, c = rnd.rand(3)
            img = np.stack([np.sin(6 * a * xx + b), np.cos(6 * b * yy + c), (xx * a + yy * c) % 1 * 2 - 1])
            imgs.append(((img + 1) * 127.5).clip(0, 255).astype(np.uint8))
        self._images = np.stack(imgs)
        self._labels = rnd.randint(max(cfg.labels, 1), size=cfg.size) if cfg.labels else None
        super().__init__("toydata", self._images.shape, use_labels=cfg.labels > 0)

    def _load_raw_image(self, i):
        return self._images[i]

    def _load_raw_labels(self):
        return self._labels


class ToyGConfig(ComponentConfig):
    name: Literal["toy"] = "toy"
    z_dim: int = 16
    width: int = 16


class ToyG(torch.nn.Module):
    def __init__(self, cfg, info):
        super().__init__()
        self.z_dim, self.c_dim = cfg.z_dim, info.label_dim
        self.img_resolution, self.img_channels = info.resolution, info.channels
        r = info.resolution
        self.fc = torch.nn.Linear(cfg.z_dim + self.c_dim, cfg.width * r * r // 4)
        self.conv = torch.nn.Conv2d(cfg.width, info.channels, 3, padding=1)
        self.width = cfg.width

    def forward(self, z, c, **kwargs):
        x = self.fc(torch.cat([z, c], dim=1)).view(z.shape[0], self.width, self.img_resolution // 2, -1)
        x = torch.nn.functional.interpolate(torch.nn.functional.leaky_relu(x, 0.2), scale_factor=2)
        return self.conv(x)


class ToyDConfig(ComponentConfig):
    name: Literal["toy"] = "toy"
    width: int = 16


class ToyD(torch.nn.Module):
    def __init__(self, cfg, info):
        super().__init__()
        self.conv = torch.nn.Conv2d(info.channels, cfg.width, 3, padding=1, stride=2)
        r = info.resolution // 2
        self.fc = torch.nn.Linear(cfg.width * r * r, 1 + info.label_dim)

    def forward(self, img, c):
        x = torch.nn.functional.leaky_relu(self.conv(img), 0.2).flatten(1)
        out = self.fc(x)
        return out[:, 0] + (out[:, 1:] * c).sum(1)


@hookimpl
def ganforge_register_datasets():
    return [DatasetSpec(name="toydata", factory=ToyData, config=ToyDataConfig, summary="tiny test data")]


@hookimpl
def ganforge_register_generators():
    return [GeneratorSpec(name="toy", factory=ToyG, config=ToyGConfig, summary="tiny test G", power_of_two=False,
                          conditional=True)]


@hookimpl
def ganforge_register_discriminators():
    return [DiscriminatorSpec(name="toy", factory=ToyD, config=ToyDConfig, summary="tiny test D", power_of_two=False,
                              conditional=True)]
