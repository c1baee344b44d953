"""PGGAN discriminator with the downsampling and padding variants of the frequency-bias testbeds.

Karras et al., "Progressive Growing of GANs for Improved Quality, Stability, and Variation",
ICLR 2018 (https://arxiv.org/abs/1710.10196), table 2; variants from Schwarz et al., "On the
Frequency Bias of Generative Models", NeurIPS 2021 (https://arxiv.org/abs/2111.02447).

Layout for an ``R x R`` input (``nf(r) = min(fmaps_base // r, fmaps_max) // divide_channels_by``)::

    img [N, C, R, R]
    fromrgb  1x1 conv, lrelu     (bR only; every block has one when progressive)  [N, nf(R), R, R]
    bR:  conv0 3x3 conv, lrelu                                              [N, nf(R), R, R]
         conv1 3x3 conv, lrelu -> downsample (mode)                         [N, nf(R/2), R/2, R/2]
    ...  b8
    b4:  minibatch stddev (group size clamped to N)                         [N, nf(4) + 1, 4, 4]
         conv  3x3 conv, lrelu                                              [N, nf(4), 4, 4]
         fc    dense, lrelu                                                 [N, nf(2)]
         out   dense, linear, gain 1                                        [N, 1 + c_dim]
    logits = out[:, 0] + sum(out[:, 1:] * c, dim=1)                         [N]

The conditional head is a projection: PGGAN's D has ``1 + label_size`` outputs; here the label vector
``c`` weights the ``c_dim`` class outputs (with a one-hot ``c`` this picks the class's output and adds
it to the unconditional one). All layers use the equalized learning rate with gain sqrt(2) (1 for
``out``); the 3x3 convolutions pad with ``padding_mode``.

Progressive growing (``progressive=True``): the blocks finer than the current ``lod`` are skipped and
the image is average-pooled to their input size (the 2x2 box filter of the original, the adjoint of the
generator's nearest upsampling); at a fractional lod the features entering the first full block are
``lerp(block(fromrgb(img)), fromrgb_coarse(avgpool2(img)), lod - floor(lod))``.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ganforge.core.specs import DataInfo
from ganforge.nn.equalized import EqualizedConv2d, EqualizedLinear
from ganforge.nn.minibatch_std import MinibatchStd
from ganforge.nn.resample import create_downsample
from ganforge.plugins.pggan._common import LRELU_GAIN, channel_counts, check_resolution
from ganforge.plugins.pggan._progressive import ProgressiveMixin

__all__ = ["PGGANDiscriminator", "build_discriminator"]


class _FromRGB(EqualizedConv2d):
    """1x1 convolution from image channels to features, then lrelu."""

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        # img: [N, img_channels, H, W]
        return F.leaky_relu(super().forward(img), 0.2, inplace=True)  # [N, C, H, W]


class _Block(nn.Module):
    """One resolution above 4x4: [fromrgb], conv0, conv1, downsample."""

    def __init__(self, in_channels: int, out_channels: int, img_channels: int, *, fromrgb: bool,
                 downsampling: str, padding_mode: str, use_wscale: bool) -> None:
        super().__init__()
        conv: dict[str, Any] = dict(gain=LRELU_GAIN, use_wscale=use_wscale)
        self.fromrgb = _FromRGB(img_channels, in_channels, 1, **conv) if fromrgb else None
        self.conv0 = EqualizedConv2d(in_channels, in_channels, 3, padding_mode=padding_mode, **conv)
        self.conv1 = EqualizedConv2d(in_channels, out_channels, 3, padding_mode=padding_mode, **conv)
        self.down = create_downsample(downsampling)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: [N, C_in, H, W]
        x = F.leaky_relu(self.conv0(x), 0.2, inplace=True)
        x = F.leaky_relu(self.conv1(x), 0.2, inplace=True)
        return self.down(x)  # [N, C_out, H/2, W/2]


class _Epilogue(nn.Module):
    """The 4x4 block: [fromrgb], minibatch stddev, conv, fc, out (``1 + c_dim`` outputs)."""

    def __init__(self, channels: int, hidden: int, num_outputs: int, img_channels: int, *, fromrgb: bool,
                 mbstd_group_size: int, padding_mode: str, use_wscale: bool) -> None:
        super().__init__()
        conv: dict[str, Any] = dict(gain=LRELU_GAIN, use_wscale=use_wscale)
        self.fromrgb = _FromRGB(img_channels, channels, 1, **conv) if fromrgb else None
        self.mbstd = MinibatchStd(mbstd_group_size, num_channels=1) if mbstd_group_size > 0 else None
        extra = 1 if self.mbstd is not None else 0
        self.conv = EqualizedConv2d(channels + extra, channels, 3, padding_mode=padding_mode, **conv)
        self.fc = EqualizedLinear(channels * 16, hidden, **conv)
        self.out = EqualizedLinear(hidden, num_outputs, gain=1.0, use_wscale=use_wscale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: [N, C, 4, 4]
        if self.mbstd is not None:
            x = self.mbstd(x)  # [N, C + 1, 4, 4]
        x = F.leaky_relu(self.conv(x), 0.2, inplace=True)  # [N, C, 4, 4]
        x = F.leaky_relu(self.fc(x.flatten(1)), 0.2, inplace=True)  # [N, hidden]
        return self.out(x)  # [N, 1 + c_dim]


class PGGANDiscriminator(ProgressiveMixin, nn.Module):
    """PGGAN discriminator; see the module docstring for the layout.

    Args:
        c_dim: label size (0: unconditional); conditional logits use the projection head.
        img_resolution: input resolution (power of two, 8..1024).
        img_channels: input channels.
        fmaps_base, fmaps_max, divide_channels_by: channel table ``nf(r)``.
        downsampling: ``avg``, ``stride`` or ``blurpool`` (:mod:`ganforge.nn.resample`).
        padding_mode: padding of the 3x3 convolutions.
        mbstd_group_size: minibatch-stddev group size (0: no such layer).
        use_wscale: equalized learning rate.
        progressive, lod_training_kimg, lod_transition_kimg: progressive growing and its schedule.
    """

    def __init__(self, *, c_dim: int, img_resolution: int, img_channels: int, fmaps_base: int = 16384,
                 fmaps_max: int = 512, divide_channels_by: int = 1, downsampling: str = "avg",
                 padding_mode: str = "zeros", mbstd_group_size: int = 16, use_wscale: bool = True,
                 progressive: bool = False, lod_training_kimg: float = 600,
                 lod_transition_kimg: float = 600) -> None:
        super().__init__()
        log2 = check_resolution(img_resolution, "discriminator")
        self.c_dim = int(c_dim)
        self.img_resolution = int(img_resolution)
        self.img_channels = int(img_channels)
        self.downsampling = downsampling
        self.padding_mode = padding_mode
        self.block_resolutions = [2 ** i for i in range(log2, 1, -1)]  # R, ..., 8, 4
        self._init_progressive(progressive, len(self.block_resolutions) - 1, lod_training_kimg,
                               lod_transition_kimg)
        nf = channel_counts(img_resolution, fmaps_base, fmaps_max, divide_channels_by, "discriminator")
        for res in self.block_resolutions:
            fromrgb = progressive or res == img_resolution
            if res > 4:
                block: nn.Module = _Block(nf[res], nf[res // 2], img_channels, fromrgb=fromrgb,
                                          downsampling=downsampling, padding_mode=padding_mode,
                                          use_wscale=use_wscale)
            else:
                block = _Epilogue(nf[4], nf[2], 1 + self.c_dim, img_channels, fromrgb=fromrgb,
                                  mbstd_group_size=mbstd_group_size, padding_mode=padding_mode,
                                  use_wscale=use_wscale)
            setattr(self, f"b{res}", block)

    @classmethod
    def from_config(cls, cfg: Any, info: DataInfo) -> PGGANDiscriminator:
        """Build from a :class:`~ganforge.plugins.pggan.config.PGGANDiscriminatorConfig` and the data."""
        return cls(c_dim=info.label_dim, img_resolution=info.resolution, img_channels=info.channels,
                   fmaps_base=cfg.fmaps_base, fmaps_max=cfg.fmaps_max,
                   divide_channels_by=cfg.divide_channels_by, downsampling=cfg.downsampling,
                   padding_mode=cfg.padding_mode, mbstd_group_size=cfg.mbstd_group_size,
                   use_wscale=cfg.use_wscale, progressive=cfg.progressive,
                   lod_training_kimg=cfg.lod_training_kimg, lod_transition_kimg=cfg.lod_transition_kimg)

    def blocks(self) -> list[nn.Module]:
        """Blocks from full resolution down to the 4x4 epilogue."""
        return [getattr(self, f"b{res}") for res in self.block_resolutions]

    def forward(self, img: torch.Tensor, c: torch.Tensor | None = None, lod: float | None = None,
                **opts: Any) -> torch.Tensor:
        """Score images.

        Args:
            img: images ``[N, img_channels, img_resolution, img_resolution]``.
            c: labels ``[N, c_dim]`` (ignored when ``c_dim == 0``).
            lod: level of detail to run at (default: the ``lod`` buffer; only progressive networks
                accept a non-zero value).
            **opts: options of other discriminators; ignored.

        Returns:
            Logits ``[N]``.
        """
        R = self.img_resolution
        if img.ndim != 4 or tuple(img.shape[1:]) != (self.img_channels, R, R):
            raise ValueError(f"img must be [N, {self.img_channels}, {R}, {R}], got {list(img.shape)}")
        if self.c_dim and (c is None or c.shape != (img.shape[0], self.c_dim)):
            got = None if c is None else list(c.shape)
            raise ValueError(f"c must be [N, {self.c_dim}] with N = {img.shape[0]}, got {got}")
        lod = self._resolve_lod(lod)
        skip = int(lod)  # blocks finer than floor(lod) are not run
        frac = lod - skip
        blocks = self.blocks()[skip:]
        if skip:
            img = F.avg_pool2d(img, 2 ** skip)  # [N, C, R / 2^skip, R / 2^skip]
        x = blocks[0](blocks[0].fromrgb(img))
        if frac > 0:  # fade-in: the coarser path still has weight frac
            x = torch.lerp(x, blocks[1].fromrgb(F.avg_pool2d(img, 2)), frac)
        for block in blocks[1:]:
            x = block(x)
        out = x  # [N, 1 + c_dim]
        if self.c_dim:
            return out[:, 0] + (out[:, 1:] * c.to(out.dtype)).sum(dim=1)
        return out[:, 0]

    def process_reals(self, img: torch.Tensor) -> torch.Tensor:
        """Make real images look like the generator's output at the current ``lod`` (PGGAN, figure 2).

        Reals are reduced to the finest active resolution (2x2 box filter), blended during a fade-in
        with their 2x-coarser version (``lerp(x, up2(avgpool2(x)), lod - floor(lod))``, the mirror of the
        generator's blend), and upsampled (nearest) back to full size. Identity at ``lod = 0`` and when
        not progressive. The training loop applies it to real batches before augmentation.

        Args:
            img: real images ``[N, C, R, R]``.
        """
        lod = self._resolve_lod(None)
        if lod == 0.0:
            return img
        skip = int(lod)
        frac = lod - skip
        x = F.avg_pool2d(img, 2 ** skip) if skip else img  # [N, C, R / 2^skip, R / 2^skip]
        if frac > 0:
            x = torch.lerp(x, F.interpolate(F.avg_pool2d(x, 2), scale_factor=2, mode="nearest"), frac)
        return F.interpolate(x, scale_factor=2 ** skip, mode="nearest") if skip else x

    def extra_repr(self) -> str:
        return (f"c_dim={self.c_dim}, img_resolution={self.img_resolution}, "
                f"img_channels={self.img_channels}, downsampling={self.downsampling}, "
                f"padding_mode={self.padding_mode}, {self._progress_repr()}")


def build_discriminator(cfg: Any, info: DataInfo) -> PGGANDiscriminator:
    """Discriminator factory: ``factory(cfg, info) -> nn.Module``."""
    return PGGANDiscriminator.from_config(cfg, info)
