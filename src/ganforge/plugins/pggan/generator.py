"""PGGAN generator with the upsampling and padding variants of the frequency-bias testbeds.

Karras et al., "Progressive Growing of GANs for Improved Quality, Stability, and Variation",
ICLR 2018 (https://arxiv.org/abs/1710.10196), table 2; variants from Schwarz et al., "On the
Frequency Bias of Generative Models", NeurIPS 2021 (https://arxiv.org/abs/2111.02447).

Layout for an ``R x R`` output (``nf(r) = min(fmaps_base // r, fmaps_max) // divide_channels_by``)::

    z [N, z_dim] -> pixel norm -> (concat c [N, c_dim] -> pixel norm)        [N, z_dim + c_dim]
    b4:   fc     dense -> [N, nf(4), 4, 4], bias, lrelu, pixel norm            (a 4x4 conv on 1x1, padding 3)
          conv1  3x3 conv, lrelu, pixel norm                                  [N, nf(4) * k, 4, 4]
    b8:   conv0  upsample (mode) -> 3x3 conv, lrelu, pixel norm              [N, nf(8), 8, 8]
          conv1  3x3 conv, lrelu, pixel norm                                  [N, nf(8) * k, 8, 8]
    ...   bR: conv1 has nf(R) channels (k = 1)
    torgb 1x1 conv (gain 1, linear) after bR, and after every block when progressive  [N, C, r, r]

``k = 4`` for ``upsampling='shuffle'`` (the pixel shuffle in the next block divides the channels by 4),
else 1. Every convolution's input is pixel-normalised, as in the original; the 3x3 convolutions pad with
``padding_mode``. Weights use the equalized learning rate with gain sqrt(2) (sqrt(2)/4 for the dense
layer, as the original, and 1 for ToRGB).

Progressive growing (``progressive=True``): the blocks finer than the current ``lod`` are skipped;
at a fractional lod the image is the blend ``lerp(up2(torgb_coarse), torgb_fine, ceil(lod) - lod)``;
the result is always upsampled (nearest) to ``R x R``.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ganforge.core.specs import DataInfo
from ganforge.nn.equalized import EqualizedConv2d, EqualizedLinear
from ganforge.nn.normalization import pixel_norm
from ganforge.nn.resample import create_upsample
from ganforge.plugins.pggan._common import LRELU_GAIN, channel_counts, check_resolution
from ganforge.plugins.pggan._progressive import ProgressiveMixin

__all__ = ["PGGANGenerator", "build_generator"]


class _InputLayer(nn.Module):
    """Latent to a 4x4 feature map: dense (no bias) -> per-channel bias -> lrelu -> pixel norm.

    Equivalent to PGGAN's 4x4 convolution with padding 3 applied to the latent as a 1x1 image.
    """

    def __init__(self, in_features: int, out_channels: int, use_wscale: bool) -> None:
        super().__init__()
        self.out_channels = out_channels
        self.fc = EqualizedLinear(in_features, out_channels * 16, bias=False, gain=LRELU_GAIN / 4,
                                  use_wscale=use_wscale)
        self.bias = nn.Parameter(torch.zeros(out_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: [N, in_features], pixel-normalised
        x = self.fc(x).reshape(-1, self.out_channels, 4, 4)  # [N, C, 4, 4]
        x = F.leaky_relu(x + self.bias.reshape(1, -1, 1, 1), 0.2, inplace=True)
        return pixel_norm(x)

    def extra_repr(self) -> str:
        return f"out_shape=({self.out_channels}, 4, 4)"


class _ConvLayer(nn.Module):
    """[upsample] -> 3x3 conv -> lrelu -> pixel norm.

    With ``fused=True`` nearest upsampling and the zero-padded convolution run as one stride-2
    transposed convolution whose 4x4 kernel sums the 3x3 kernel over the four 2x2 phase shifts.
    """

    def __init__(self, in_channels: int, out_channels: int, *, upsampling: str | None, padding_mode: str,
                 use_wscale: bool, fused: bool = False) -> None:
        super().__init__()
        self.fused = bool(fused and upsampling is not None)
        if self.fused and (upsampling != "nearest" or padding_mode != "zeros"):
            raise ValueError("fused upsampling needs upsampling='nearest' and padding_mode='zeros'")
        self.up = create_upsample(upsampling) if upsampling is not None and not self.fused else None
        self.conv = EqualizedConv2d(in_channels, out_channels, 3, padding_mode=padding_mode, gain=LRELU_GAIN,
                                    use_wscale=use_wscale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: [N, C_in * channel_factor, H, W] (pixel-normalised)
        if self.fused:
            w = F.pad(self.conv.effective_weight(), (1, 1, 1, 1))  # [out, in, 5, 5]
            w = w[:, :, 1:, 1:] + w[:, :, :-1, 1:] + w[:, :, 1:, :-1] + w[:, :, :-1, :-1]  # [out, in, 4, 4]
            # a transposed convolution scatters with the kernel, the correlation gathers: flip it
            w = w.flip([2, 3]).transpose(0, 1)  # [in, out, 4, 4]
            x = F.conv_transpose2d(x, w, self.conv.effective_bias(), stride=2, padding=1)
        else:
            if self.up is not None:
                x = self.up(x)  # [N, C_in, 2H, 2W]
            x = self.conv(x)
        return pixel_norm(F.leaky_relu(x, 0.2, inplace=True))  # [N, C_out, H', W']

    def extra_repr(self) -> str:
        return "fused_upsample=True" if self.fused else ""


class _Block(nn.Module):
    """One resolution: conv0 (input layer at 4x4, else upsample + conv), conv1, optional torgb."""

    def __init__(self, conv0: nn.Module, conv1: nn.Module, torgb: nn.Module | None) -> None:
        super().__init__()
        self.conv0 = conv0
        self.conv1 = conv1
        self.torgb = torgb

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv1(self.conv0(x))


class PGGANGenerator(ProgressiveMixin, nn.Module):
    """PGGAN generator; see the module docstring for the layout.

    Args:
        z_dim: latent size.
        c_dim: label size (0: unconditional). The label is concatenated to the normalised latent.
        img_resolution: output resolution (power of two, 8..1024).
        img_channels: output channels.
        fmaps_base, fmaps_max, divide_channels_by: channel table ``nf(r)``.
        upsampling: ``nearest``, ``bilinear``, ``zeros`` or ``shuffle`` (:mod:`ganforge.nn.resample`).
        padding_mode: padding of the 3x3 convolutions.
        use_wscale: equalized learning rate.
        final_tanh: apply tanh to the output.
        fused_scale: fuse nearest upsampling into a transposed convolution.
        progressive, lod_training_kimg, lod_transition_kimg: progressive growing and its schedule.
    """

    def __init__(self, *, z_dim: int, c_dim: int, img_resolution: int, img_channels: int,
                 fmaps_base: int = 16384, fmaps_max: int = 512, divide_channels_by: int = 1,
                 upsampling: str = "nearest", padding_mode: str = "zeros", use_wscale: bool = True,
                 final_tanh: bool = False, fused_scale: bool = False, progressive: bool = False,
                 lod_training_kimg: float = 600, lod_transition_kimg: float = 600) -> None:
        super().__init__()
        log2 = check_resolution(img_resolution, "generator")
        self.z_dim = int(z_dim)
        self.c_dim = int(c_dim)
        self.img_resolution = int(img_resolution)
        self.img_channels = int(img_channels)
        self.upsampling = upsampling
        self.padding_mode = padding_mode
        self.final_tanh = bool(final_tanh)
        self.block_resolutions = [2 ** i for i in range(2, log2 + 1)]
        self._init_progressive(progressive, len(self.block_resolutions) - 1, lod_training_kimg,
                               lod_transition_kimg)
        nf = channel_counts(img_resolution, fmaps_base, fmaps_max, divide_channels_by, "generator")
        channel_factor = create_upsample(upsampling).channel_factor
        common: dict[str, Any] = dict(padding_mode=padding_mode, use_wscale=use_wscale)
        for res in self.block_resolutions:
            out = nf[res] * (channel_factor if res < img_resolution else 1)
            if res == 4:
                conv0: nn.Module = _InputLayer(self.z_dim + self.c_dim, nf[4], use_wscale)
            else:
                conv0 = _ConvLayer(nf[res // 2], nf[res], upsampling=upsampling, fused=fused_scale, **common)
            conv1 = _ConvLayer(nf[res], out, upsampling=None, **common)
            torgb = None
            if progressive or res == img_resolution:
                torgb = EqualizedConv2d(out, img_channels, 1, gain=1.0, use_wscale=use_wscale)
            setattr(self, f"b{res}", _Block(conv0, conv1, torgb))

    @classmethod
    def from_config(cls, cfg: Any, info: DataInfo) -> PGGANGenerator:
        """Build from a :class:`~ganforge.plugins.pggan.config.PGGANGeneratorConfig` and the data."""
        return cls(z_dim=cfg.z_dim, c_dim=info.label_dim, img_resolution=info.resolution,
                   img_channels=info.channels, fmaps_base=cfg.fmaps_base, fmaps_max=cfg.fmaps_max,
                   divide_channels_by=cfg.divide_channels_by, upsampling=cfg.upsampling,
                   padding_mode=cfg.padding_mode, use_wscale=cfg.use_wscale, final_tanh=cfg.final_tanh,
                   fused_scale=cfg.fused_scale, progressive=cfg.progressive,
                   lod_training_kimg=cfg.lod_training_kimg, lod_transition_kimg=cfg.lod_transition_kimg)

    def blocks(self) -> list[_Block]:
        """Blocks from 4x4 to full resolution."""
        return [getattr(self, f"b{res}") for res in self.block_resolutions]

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None, lod: float | None = None,
                **opts: Any) -> torch.Tensor:
        """Generate images.

        Args:
            z: latents ``[N, z_dim]``.
            c: labels ``[N, c_dim]`` (ignored when ``c_dim == 0``).
            lod: level of detail to run at (default: the ``lod`` buffer; only progressive networks
                accept a non-zero value).
            **opts: options of other generators (``truncation_psi``, ``noise_mode``, ...); ignored.

        Returns:
            Images ``[N, img_channels, img_resolution, img_resolution]``, nominally in [-1, 1].
        """
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"z must be [N, {self.z_dim}], got {list(z.shape)}")
        lod = self._resolve_lod(lod)
        x = pixel_norm(z)  # [N, z_dim]
        if self.c_dim:
            if c is None or c.shape != (z.shape[0], self.c_dim):
                got = None if c is None else list(c.shape)
                raise ValueError(f"c must be [N, {self.c_dim}] with N = {z.shape[0]}, got {got}")
            x = pixel_norm(torch.cat([x, c.to(x.dtype)], dim=1))  # [N, z_dim + c_dim]
        skip = int(lod)  # blocks finer than floor(lod) are not run
        frac = lod - skip
        blocks = self.blocks()[: len(self.block_resolutions) - skip]
        prev = x
        for block in blocks:
            prev, x = x, block(x)
        img = blocks[-1].torgb(x)  # [N, C, r, r]
        if frac > 0:  # fade-in: the coarser block's image, upsampled, still has weight frac
            coarse = F.interpolate(blocks[-2].torgb(prev), scale_factor=2, mode="nearest")
            img = torch.lerp(coarse, img, 1.0 - frac)
        if skip:
            img = F.interpolate(img, scale_factor=2 ** skip, mode="nearest")  # [N, C, R, R]
        return torch.tanh(img) if self.final_tanh else img

    def extra_repr(self) -> str:
        return (f"z_dim={self.z_dim}, c_dim={self.c_dim}, img_resolution={self.img_resolution}, "
                f"img_channels={self.img_channels}, upsampling={self.upsampling}, "
                f"padding_mode={self.padding_mode}, final_tanh={self.final_tanh}, {self._progress_repr()}")


def build_generator(cfg: Any, info: DataInfo) -> PGGANGenerator:
    """Generator factory: ``factory(cfg, info) -> nn.Module``."""
    return PGGANGenerator.from_config(cfg, info)
