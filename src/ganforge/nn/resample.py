"""Up- and downsampling layers selected by name, as compared in the frequency-bias study.

Schwarz et al., "On the Frequency Bias of Generative Models", NeurIPS 2021
(https://arxiv.org/abs/2111.02447), section 4, swaps the resampling operations of a PGGAN generator
and discriminator to see which one causes spectral artefacts:

Upsampling (generator), by an integer ``factor`` (2 in the paper):
    * ``nearest``: nearest-neighbour replication.
    * ``bilinear``: bilinear interpolation, ``align_corners=False``.
    * ``zeros``: zero insertion; input pixel ``(i, j)`` lands on ``(factor*i, factor*j)``, every other
      output pixel is exactly 0 (no rescaling).
    * ``shuffle``: pixel shuffle (sub-pixel convolution); consumes ``factor**2`` times the output
      channels, so the convolution before it must produce that many (:attr:`Upsample.channel_factor`).

Downsampling (discriminator):
    * ``avg``: ``factor x factor`` average pooling.
    * ``stride``: keep every ``factor``-th pixel (the top-left one of each cell).
    * ``blurpool``: reflect-pad by 1, depthwise blur with ``[[1,3,1],[3,9,3],[1,3,1]] / 25``, then
      ``factor x factor`` average pooling (anti-aliased pooling, Zhang, ICML 2019).

These are the cheap, exactly specified variants of the study; FIR-filtered resampling for StyleGAN lives
in ``ganforge.ops``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["UPSAMPLE_MODES", "DOWNSAMPLE_MODES", "BLUR_KERNEL", "Upsample", "Downsample",
           "create_upsample", "create_downsample"]

UPSAMPLE_MODES = ("nearest", "bilinear", "zeros", "shuffle")
DOWNSAMPLE_MODES = ("avg", "stride", "blurpool")

#: Blur of ``blurpool`` (outer product of [1, 3, 1] / 5 with itself).
BLUR_KERNEL = ((1.0, 3.0, 1.0), (3.0, 9.0, 3.0), (1.0, 3.0, 1.0))


class Upsample(nn.Module):
    """Upsample ``[N, C, H, W]`` by ``factor`` with one of :data:`UPSAMPLE_MODES`.

    Output: ``[N, C, factor*H, factor*W]``, or ``[N, C / factor**2, factor*H, factor*W]`` for
    ``shuffle``.
    """

    def __init__(self, mode: str = "nearest", factor: int = 2) -> None:
        super().__init__()
        if mode not in UPSAMPLE_MODES:
            raise ValueError(f"unknown upsampling mode {mode!r}; choose one of {', '.join(UPSAMPLE_MODES)}")
        if int(factor) < 1:
            raise ValueError(f"upsampling factor must be >= 1, got {factor}")
        self.mode = mode
        self.factor = int(factor)

    @property
    def channel_factor(self) -> int:
        """How many input channels make one output channel (``factor**2`` for ``shuffle``, else 1)."""
        return self.factor ** 2 if self.mode == "shuffle" else 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.factor
        if f == 1:
            return x
        if self.mode == "nearest":
            return F.interpolate(x, scale_factor=f, mode="nearest")
        if self.mode == "bilinear":
            return F.interpolate(x, scale_factor=f, mode="bilinear", align_corners=False)
        if self.mode == "shuffle":
            return F.pixel_shuffle(x, f)
        N, C, H, W = x.shape  # zeros: [N, C, H, 1, W, 1] -> pad the unit axes -> [N, C, H, f, W, f]
        x = F.pad(x.reshape(N, C, H, 1, W, 1), (0, f - 1, 0, 0, 0, f - 1))
        return x.reshape(N, C, H * f, W * f)

    def extra_repr(self) -> str:
        return f"mode={self.mode}, factor={self.factor}"


class Downsample(nn.Module):
    """Downsample ``[N, C, H, W]`` to ``[N, C, H/factor, W/factor]`` with one of :data:`DOWNSAMPLE_MODES`."""

    def __init__(self, mode: str = "avg", factor: int = 2) -> None:
        super().__init__()
        if mode not in DOWNSAMPLE_MODES:
            raise ValueError(f"unknown downsampling mode {mode!r}; "
                             f"choose one of {', '.join(DOWNSAMPLE_MODES)}")
        if int(factor) < 1:
            raise ValueError(f"downsampling factor must be >= 1, got {factor}")
        self.mode = mode
        self.factor = int(factor)
        if mode == "blurpool":
            # integer taps (exact in any float type); normalised by 25 in the input's dtype
            kernel = torch.tensor(BLUR_KERNEL)[None, None]  # [1, 1, 3, 3]
            self.register_buffer("kernel", kernel, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.factor
        if self.mode == "stride":
            return x[:, :, ::f, ::f] if f > 1 else x
        if self.mode == "blurpool":
            C = x.shape[1]
            x = F.pad(x, (1, 1, 1, 1), mode="reflect")
            # the kernel is symmetric, so correlation (conv2d) equals convolution
            x = F.conv2d(x, (self.kernel.to(x.dtype) / 25.0).expand(C, 1, 3, 3), groups=C)
        return F.avg_pool2d(x, f) if f > 1 else x

    def extra_repr(self) -> str:
        return f"mode={self.mode}, factor={self.factor}"


def create_upsample(mode: str, factor: int = 2) -> Upsample:
    """Build an :class:`Upsample` layer by name (``nearest``, ``bilinear``, ``zeros``, ``shuffle``)."""
    return Upsample(mode, factor)


def create_downsample(mode: str, factor: int = 2) -> Downsample:
    """Build a :class:`Downsample` layer by name (``avg``, ``stride``, ``blurpool``)."""
    return Downsample(mode, factor)
