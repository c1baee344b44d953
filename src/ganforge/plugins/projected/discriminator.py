"""The projected discriminator (Sauer et al., "Projected GANs Converge Faster", NeurIPS 2021).

``D(img, c)``: 1-channel images are repeated to RGB; images smaller than 224 are resized to 224
(bilinear, ``align_corners=False``) when ``interp224``; the frozen feature network
(:class:`~ganforge.plugins.projected.projector.RandomProjection`) gives four feature maps, and one
spectrally normalised mini-discriminator per map turns it into a logit map. The output concatenates
the flattened maps: ``[N, 64]`` for a 224 input (four 4x4 maps).

State names follow upstream: ``feature_network.scratch.layer{i}_ccm``,
``feature_network.scratch.layer{i}_csm.out_conv``, ``discriminator.mini_discs.{i}.main.{j}.main.{k}``,
``discriminator.mini_discs.{i}.main.{last}.weight_orig`` (and ``cls``/``embed``/``embed_proj`` for the
conditional variant). The backbone (``feature_network.pretrained.*``) is not saved; its identity is
(``feature_network._extra_state``).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ganforge.core.errors import ConfigError
from ganforge.nn.efficientnet_lite import EFFICIENTNET_LITE0, load_efficientnet_lite0
from ganforge.plugins.projected._layers import SNConv2d
from ganforge.plugins.projected.config import feature_input_size, resizes_to_224
from ganforge.plugins.projected.projector import BACKBONE_NAME, RandomProjection

__all__ = ["CHANNEL_TABLE", "DownBlock", "SingleDisc", "MultiScaleD", "ProjectedDiscriminator",
           "build_projected", "weights_source"]

#: Mini-discriminator channels per (nominal) feature size.
CHANNEL_TABLE: dict[int, int] = {4: 512, 8: 512, 16: 256, 32: 128, 64: 64, 128: 64, 256: 32, 512: 16, 1024: 8}


class SeparableConv2d(nn.Module):
    """SN depthwise 3x3 (padding 1) then SN pointwise 1x1, both without bias."""

    def __init__(self, cin: int, cout: int, kernel: int = 3):
        super().__init__()
        self.depthwise = SNConv2d(cin, cin, kernel, groups=cin, bias=False, padding=1)
        self.pointwise = SNConv2d(cin, cout, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(x))


class DownBlock(nn.Module):
    """Halves the size: SN conv4x4 s2 (bias), BN, LReLU(0.2); separable: SN dw3x3 + pw1x1, BN, LReLU,
    AvgPool 2x2."""

    def __init__(self, cin: int, cout: int, separable: bool = False):
        super().__init__()
        if separable:
            self.main = nn.Sequential(SeparableConv2d(cin, cout), nn.BatchNorm2d(cout), nn.LeakyReLU(0.2),
                                      nn.AvgPool2d(2, 2))
        else:
            self.main = nn.Sequential(SNConv2d(cin, cout, 4, 2, 1), nn.BatchNorm2d(cout), nn.LeakyReLU(0.2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x)


class SingleDisc(nn.Module):
    """A mini-discriminator on one feature map ``[N, nc, H, W] -> [N, 1, H/2^k - 3, ...]``.

    Down-blocks from the nominal ``start_sz`` to 8 (channels from :data:`CHANNEL_TABLE`, the first
    ``nc``), then an SN conv4x4 (no padding, no bias) to one channel. Conditional (``c_dim > 0``): the
    last conv gives ``cmap_dim`` channels projected onto an embedding of ``argmax(c)``:
    ``sum(out * cmap) / sqrt(cmap_dim)``.
    """

    def __init__(self, nc: int, start_sz: int, end_sz: int = 8, separable: bool = False, c_dim: int = 0,
                 cmap_dim: int = 64, embedding_dim: int = 128):
        super().__init__()
        if start_sz not in CHANNEL_TABLE:  # as upstream: the closest tabulated size
            start_sz = min(CHANNEL_TABLE, key=lambda s: abs(s - start_sz))
        self.start_sz, self.c_dim, self.cmap_dim, self.separable = start_sz, c_dim, cmap_dim, separable
        nfc = dict(CHANNEL_TABLE)
        nfc[start_sz] = nc
        layers: list[nn.Module] = []
        size = start_sz
        while size > end_sz:
            layers.append(DownBlock(nfc[size], nfc[size // 2], separable))
            size //= 2
        if c_dim:
            self.main = nn.Sequential(*layers)
            self.cls = SNConv2d(nfc[end_sz], cmap_dim, 4, 1, 0, bias=False)
            self.embed = nn.Embedding(c_dim, embedding_dim)
            self.embed_proj = nn.Sequential(nn.Linear(embedding_dim, cmap_dim), nn.LeakyReLU(0.2))
        else:
            layers.append(SNConv2d(nfc[end_sz], 1, 4, 1, 0, bias=False))
            self.main = nn.Sequential(*layers)

    def extra_repr(self) -> str:
        return f"start_sz={self.start_sz}, separable={self.separable}, c_dim={self.c_dim}"

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        if not self.c_dim:
            return self.main(x)
        out = self.cls(self.main(x))  # [N, cmap_dim, h, w]
        cmap = self.embed_proj(self.embed(c.argmax(1)))[:, :, None, None]
        return (out * cmap).sum(dim=1, keepdim=True) * (1 / math.sqrt(self.cmap_dim))


class MultiScaleD(nn.Module):
    """One :class:`SingleDisc` per feature map (``mini_discs['0'..'3']``); logits concatenated ``[N, K]``."""

    def __init__(self, channels: list[int], resolutions: list[int], num_discs: int = 4,
                 separable: bool = False, c_dim: int = 0):
        super().__init__()
        self.num_discs = num_discs
        self.mini_discs = nn.ModuleDict({
            str(i): SingleDisc(nc=cin, start_sz=res, separable=separable, c_dim=c_dim)
            for i, (cin, res) in enumerate(zip(channels[:num_discs], resolutions[:num_discs], strict=True))})

    def forward(self, features: list[torch.Tensor], c: torch.Tensor) -> torch.Tensor:
        logits = [disc(features[int(k)], c).flatten(1) for k, disc in self.mini_discs.items()]
        return torch.cat(logits, dim=1)


def weights_source(cfg: Any) -> Any:
    """The :class:`WeightsSource` of the backbone, with the user's download URL if given."""
    import dataclasses

    if cfg.weights_url:
        return dataclasses.replace(EFFICIENTNET_LITE0, urls=(cfg.weights_url,))
    return EFFICIENTNET_LITE0


class ProjectedDiscriminator(nn.Module):
    """Projected GAN discriminator: ``forward(img [N, C, H, W], c [N, c_dim]) -> logits [N, K]``.

    Args:
        feature_network: a :class:`RandomProjection`.
        interp224: resize inputs to 224x224 first.
        num_discs, separable: mini-discriminators (scales used, separable convolutions).
        c_dim: label size (0: unconditional).
    """

    def __init__(self, feature_network: RandomProjection, interp224: bool, num_discs: int = 4,
                 separable: bool = False, c_dim: int = 0, img_channels: int = 3):
        super().__init__()
        self.interp224, self.c_dim, self.img_channels = interp224, c_dim, img_channels
        self.feature_network = feature_network
        self.discriminator = MultiScaleD(feature_network.CHANNELS, feature_network.RESOLUTIONS, num_discs,
                                         separable, c_dim)

    def extra_repr(self) -> str:
        return f"interp224={self.interp224}, c_dim={self.c_dim}, img_channels={self.img_channels}"

    def forward(self, img: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """``img [N, C, H, W]`` in [-1, 1], ``c [N, c_dim]`` -> ``[N, K]`` (train mode keeps the backbone in
        eval mode: :meth:`RandomProjection.train`)."""
        x = img
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        if self.interp224:
            x = F.interpolate(x, size=224, mode="bilinear", align_corners=False)
        return self.discriminator(self.feature_network(x), c)


def build_projected(cfg: Any, info: Any) -> ProjectedDiscriminator:
    """Factory of the ``projected`` spec: loads the backbone (or random weights when asked)."""
    size = feature_input_size(cfg, info.resolution)
    if size < 128 or size % 32:
        raise ConfigError(f"the feature network needs inputs of at least 128 pixels and a multiple of "
                          f"32; the images are {info.resolution}x{info.resolution} and interp224="
                          f"{cfg.interp224}; leave interp224 unset (auto) or set it to true",
                          "discriminator.interp224")
    if cfg.pretrained:
        source = weights_source(cfg)
        backbone = load_efficientnet_lite0(cfg.weights, allow_download=cfg.allow_download, source=source)
        identity = {"backbone": BACKBONE_NAME, "weights": source.name, "sha256": backbone.weights_sha256}
    else:
        backbone = load_efficientnet_lite0(pretrained=False, seed=cfg.random_seed)
        identity = {"backbone": BACKBONE_NAME, "weights": "random", "seed": cfg.random_seed}
    features = RandomProjection(backbone, identity, cout=cfg.cout, expand=cfg.expand, proj_type=cfg.proj_type)
    return ProjectedDiscriminator(features, resizes_to_224(cfg, info.resolution), num_discs=cfg.num_discs,
                                  separable=cfg.separable, c_dim=info.label_dim, img_channels=info.channels)
