"""The StyleGAN2 discriminator: orig/skip/resnet blocks, minibatch std, conditional projection, Freeze-D.

Karras et al., "Analyzing and Improving the Image Quality of StyleGAN", CVPR 2020
(https://arxiv.org/abs/1912.04958), figure 7 (resnet D); the projection of the label embedding as in
Miyato & Koyama, "cGANs with Projection Discriminator", ICLR 2018, in the form of StyleGAN2-ADA
(https://arxiv.org/abs/2006.06676): the output head produces ``cmap_dim`` features, the label goes
through a mapping network to ``cmap``, and the logit is ``sum(x * cmap) / sqrt(cmap_dim)``. Freeze-D:
Mo et al., https://arxiv.org/abs/2002.10964 (the first ``freeze_layers`` convolution layers become
buffers).

Layout (official names): blocks ``b{res} ... b8`` (each ``fromrgb`` when first or in ``skip``,
``conv0`` 3x3, ``conv1`` 3x3 with 2x downsampling, ``skip`` 1x1 downsampling without bias in ``resnet``),
``mapping`` when conditional, and the epilogue ``b4`` (``fromrgb`` in skip, minibatch std, ``conv``,
``fc``, ``out``). The epilogue always runs in fp32.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from ganforge.nn.conv2d_layer import Conv2dLayer, resample_filter_buffer
from ganforge.nn.fully_connected import FullyConnectedLayer
from ganforge.nn.mapping import MappingNetwork
from ganforge.nn.minibatch_std import MinibatchStd
from ganforge.nn.stylegan2_synthesis import ARCHITECTURES, block_dtype
from ganforge.ops import downsample2d

__all__ = ["DiscriminatorBlock", "DiscriminatorEpilogue", "StyleGAN2Discriminator"]

_SQRT_HALF = math.sqrt(0.5)


class DiscriminatorBlock(nn.Module):
    """One resolution of the discriminator: ``res -> res / 2``.

    Args:
        in_channels: channels from the previous block (0: the first block, which reads the image).
        tmp_channels: channels inside the block (must equal ``in_channels`` unless first).
        out_channels: output channels.
        resolution: input resolution.
        img_channels: image channels.
        first_layer_idx: index of this block's first layer in the whole D (for Freeze-D).
        architecture: ``'orig'``, ``'skip'`` (every block reads a downsampled image) or ``'resnet'``.
        activation, resample_filter, conv_clamp: layer options.
        use_fp16, fp16_channels_last: mixed precision (CUDA only).
        freeze_layers: layers with index below this are frozen (buffers).

    Layers are counted in the order fromrgb, conv0, conv1, skip (``num_layers`` after construction).
    """

    def __init__(self, in_channels: int, tmp_channels: int, out_channels: int, resolution: int,
                 img_channels: int, first_layer_idx: int, architecture: str = "resnet",
                 activation: str = "lrelu",
                 resample_filter: Sequence[float] = (1, 3, 3, 1), conv_clamp: float | None = None,
                 use_fp16: bool = False, fp16_channels_last: bool = False, freeze_layers: int = 0) -> None:
        if in_channels not in (0, tmp_channels):
            raise ValueError(f"in_channels must be 0 or tmp_channels ({tmp_channels}), got {in_channels}")
        if architecture not in ARCHITECTURES:
            raise ValueError(f"architecture must be one of {ARCHITECTURES}, got {architecture!r}")
        super().__init__()
        self.in_channels, self.resolution = int(in_channels), int(resolution)
        self.img_channels = int(img_channels)
        self.first_layer_idx = int(first_layer_idx)
        self.architecture = architecture
        self.use_fp16 = bool(use_fp16)
        self.channels_last = bool(use_fp16 and fp16_channels_last)
        self.register_buffer("resample_filter", resample_filter_buffer(resample_filter))
        self.num_layers = 0

        def trainable() -> Iterator[bool]:
            while True:
                idx = self.first_layer_idx + self.num_layers
                self.num_layers += 1
                yield idx >= freeze_layers

        flags = trainable()
        common: dict[str, Any] = {"activation": activation, "conv_clamp": conv_clamp,
                                  "channels_last": self.channels_last}
        if in_channels == 0 or architecture == "skip":
            self.fromrgb = Conv2dLayer(img_channels, tmp_channels, kernel_size=1, trainable=next(flags),
                                       **common)
        self.conv0 = Conv2dLayer(tmp_channels, tmp_channels, kernel_size=3, trainable=next(flags), **common)
        self.conv1 = Conv2dLayer(tmp_channels, out_channels, kernel_size=3, down=2, trainable=next(flags),
                                 resample_filter=resample_filter, **common)
        if architecture == "resnet":
            self.skip = Conv2dLayer(tmp_channels, out_channels, kernel_size=1, bias=False, down=2,
                                    trainable=next(flags), resample_filter=resample_filter,
                                    channels_last=self.channels_last)

    def forward(self, x: torch.Tensor | None, img: torch.Tensor | None,
                force_fp32: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``x [N, in, res, res]`` or None, ``img [N, C, res, res]`` or None -> ``(x [N, out, res/2, res/2],
        img [N, C, res/2, res/2] (skip) or None)``."""
        ref = x if x is not None else img
        assert ref is not None
        dtype = block_dtype(self.use_fp16, ref.device, force_fp32)
        memory_format = torch.channels_last if self.channels_last and dtype == torch.float16 else \
            torch.contiguous_format
        if x is not None:
            x = x.to(dtype=dtype, memory_format=memory_format)
        if self.in_channels == 0 or self.architecture == "skip":
            if img is None or img.shape[1:] != (self.img_channels, self.resolution, self.resolution):
                got = None if img is None else tuple(img.shape)
                raise ValueError(f"DiscriminatorBlock b{self.resolution}: img must be "
                                 f"[N, {self.img_channels}, {self.resolution}, {self.resolution}], got {got}")
            img = img.to(dtype=dtype, memory_format=memory_format)
            y = self.fromrgb(img)
            x = x + y if x is not None else y
            img = downsample2d(img, self.resample_filter) if self.architecture == "skip" else None
        assert x is not None
        if self.architecture == "resnet":
            y = self.skip(x, gain=_SQRT_HALF)
            x = self.conv0(x)
            x = self.conv1(x, gain=_SQRT_HALF)
            x = y.add_(x)
        else:
            x = self.conv1(self.conv0(x))
        return x, img

    def extra_repr(self) -> str:
        return (f"resolution={self.resolution}, architecture={self.architecture}, use_fp16={self.use_fp16}, "
                f"first_layer_idx={self.first_layer_idx}, num_layers={self.num_layers}")


class DiscriminatorEpilogue(nn.Module):
    """The 4x4 head: (fromrgb in skip), minibatch std, 3x3 conv, fc, out; optional label projection.

    Args:
        in_channels: channels at 4x4.
        cmap_dim: size of the label embedding (0: unconditional, ``out`` has one output).
        resolution: 4.
        img_channels, architecture, activation, conv_clamp: as the blocks.
        mbstd_group_size: minibatch-std group size (clamped to the batch).
        mbstd_num_channels: minibatch-std statistics (0: no minibatch std).

    Forward: ``x [N, C, 4, 4]``, ``img`` (skip) and ``cmap [N, cmap_dim]`` -> logits ``[N, 1]`` float32.
    """

    def __init__(self, in_channels: int, cmap_dim: int, resolution: int, img_channels: int,
                 architecture: str = "resnet", mbstd_group_size: int = 4, mbstd_num_channels: int = 1,
                 activation: str = "lrelu", conv_clamp: float | None = None) -> None:
        if architecture not in ARCHITECTURES:
            raise ValueError(f"architecture must be one of {ARCHITECTURES}, got {architecture!r}")
        super().__init__()
        self.in_channels, self.cmap_dim = int(in_channels), int(cmap_dim)
        self.resolution, self.img_channels = int(resolution), int(img_channels)
        self.architecture = architecture
        if architecture == "skip":
            self.fromrgb = Conv2dLayer(img_channels, in_channels, kernel_size=1, activation=activation)
        self.mbstd = MinibatchStd(mbstd_group_size, mbstd_num_channels) if mbstd_num_channels > 0 else None
        self.conv = Conv2dLayer(in_channels + mbstd_num_channels, in_channels, kernel_size=3,
                                activation=activation, conv_clamp=conv_clamp)
        self.fc = FullyConnectedLayer(in_channels * resolution ** 2, in_channels, activation=activation)
        self.out = FullyConnectedLayer(in_channels, 1 if cmap_dim == 0 else cmap_dim)

    def forward(self, x: torch.Tensor, img: torch.Tensor | None, cmap: torch.Tensor | None) -> torch.Tensor:
        x = x.to(dtype=torch.float32, memory_format=torch.contiguous_format)
        if self.architecture == "skip":
            assert img is not None
            x = x + self.fromrgb(img.to(dtype=torch.float32, memory_format=torch.contiguous_format))
        if self.mbstd is not None:
            x = self.mbstd(x)
        x = self.conv(x)
        x = self.fc(x.flatten(1))
        x = self.out(x)  # [N, 1] or [N, cmap_dim]
        if self.cmap_dim > 0:
            if cmap is None or cmap.shape != (x.shape[0], self.cmap_dim):
                raise ValueError(f"DiscriminatorEpilogue: cmap must be [N, {self.cmap_dim}]")
            x = (x * cmap).sum(dim=1, keepdim=True) * (1 / np.sqrt(self.cmap_dim))
        return x

    def extra_repr(self) -> str:
        return f"resolution={self.resolution}, architecture={self.architecture}, cmap_dim={self.cmap_dim}"


class StyleGAN2Discriminator(nn.Module):
    """``D(img, c) -> logits [N, 1]``.

    Args:
        c_dim: label size (0: unconditional).
        img_resolution: input resolution (power of two, >= 8).
        img_channels: input channels.
        architecture: ``'orig'``, ``'skip'`` or ``'resnet'``.
        channel_base, channel_max: channels at resolution ``r``: ``min(channel_base // r, channel_max)``.
        num_fp16_res: blocks at the N highest resolutions (at least 8x8) use fp16 on CUDA.
        conv_clamp: clamp of the convolution outputs (None: off).
        cmap_dim: label embedding size (default: the channels at 4x4).
        block_kwargs: :class:`DiscriminatorBlock` arguments (``freeze_layers``, ``activation``, ...).
        mapping_kwargs: arguments of the label mapping network (``num_layers``, ``lr_multiplier``, ...).
        epilogue_kwargs: :class:`DiscriminatorEpilogue` arguments (``mbstd_group_size``, ...).
    """

    def __init__(self, c_dim: int, img_resolution: int, img_channels: int, architecture: str = "resnet",
                 channel_base: int = 32768, channel_max: int = 512, num_fp16_res: int = 4,
                 conv_clamp: float | None = 256, cmap_dim: int | None = None,
                 block_kwargs: dict[str, Any] | None = None, mapping_kwargs: dict[str, Any] | None = None,
                 epilogue_kwargs: dict[str, Any] | None = None) -> None:
        if img_resolution < 8 or img_resolution & (img_resolution - 1):
            raise ValueError(f"img_resolution must be a power of two >= 8, got {img_resolution}")
        super().__init__()
        self.c_dim, self.img_resolution = int(c_dim), int(img_resolution)
        self.img_channels = int(img_channels)
        self.img_resolution_log2 = int(math.log2(img_resolution))
        self.block_resolutions = [2 ** i for i in range(self.img_resolution_log2, 2, -1)]
        channels = {res: min(channel_base // res, channel_max) for res in self.block_resolutions + [4]}
        fp16_resolution = max(2 ** (self.img_resolution_log2 + 1 - num_fp16_res), 8)
        if cmap_dim is None:
            cmap_dim = channels[4]
        if c_dim == 0:
            cmap_dim = 0
        self.cmap_dim = int(cmap_dim)
        common = {"img_channels": img_channels, "architecture": architecture, "conv_clamp": conv_clamp}
        layer_idx = 0
        for res in self.block_resolutions:
            in_channels = channels[res] if res < img_resolution else 0
            block = DiscriminatorBlock(in_channels, channels[res], channels[res // 2], resolution=res,
                                       first_layer_idx=layer_idx, use_fp16=res >= fp16_resolution,
                                       **(block_kwargs or {}), **common)
            setattr(self, f"b{res}", block)
            layer_idx += block.num_layers
        if c_dim > 0:
            self.mapping = MappingNetwork(z_dim=0, c_dim=c_dim, w_dim=cmap_dim, num_ws=None, w_avg_beta=None,
                                          **(mapping_kwargs or {}))
        self.b4 = DiscriminatorEpilogue(channels[4], cmap_dim=cmap_dim, resolution=4,
                                        **(epilogue_kwargs or {}), **common)

    def forward(self, img: torch.Tensor, c: torch.Tensor | None, update_emas: bool = False,
                force_fp32: bool = False) -> torch.Tensor:
        """``img [N, C, H, W]`` in [-1, 1], ``c [N, c_dim]`` -> logits ``[N, 1]`` float32."""
        del update_emas  # no running statistics
        want = (self.img_channels, self.img_resolution, self.img_resolution)
        if img.ndim != 4 or img.shape[1:] != want:
            raise ValueError(f"StyleGAN2Discriminator: img must be [N, {', '.join(map(str, want))}], "
                             f"got {tuple(img.shape)}")
        x = None
        for res in self.block_resolutions:
            x, img = getattr(self, f"b{res}")(x, img, force_fp32=force_fp32)
        cmap = self.mapping(None, c) if self.c_dim > 0 else None
        return self.b4(x, img, cmap)

    def extra_repr(self) -> str:
        return (f"c_dim={self.c_dim}, img_resolution={self.img_resolution}, "
                f"img_channels={self.img_channels}, cmap_dim={self.cmap_dim}")
