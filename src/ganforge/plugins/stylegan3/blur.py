"""StyleGAN3-R's blur of everything the discriminator sees early in training.

Karras et al., "Alias-Free Generative Adversarial Networks", NeurIPS 2021, appendix (training of
StyleGAN3-R): the images D sees (real and fake) are blurred with a Gaussian-like filter whose width
starts at ``blur_init_sigma`` pixels and falls linearly to 0 over ``blur_fade_kimg``. The filter has
taps ``2^-(x / sigma)^2`` for ``|x| <= floor(3 sigma)``, normalised to sum 1, applied separably with
zero padding (the output keeps the input size).

The generator exposes the schedule through ``d_input_transform(cur_nimg)`` (a protocol of
``ganforge.core.protocols``), so the loss applies it to every D pass without knowing what it is.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

__all__ = ["BlurSchedule", "blur_taps", "blur_images"]


def blur_taps(sigma: float, dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu") -> torch.Tensor:
    """The normalised 1-D filter of width ``sigma`` (empty when it would have a single tap)."""
    half = math.floor(sigma * 3)
    if half <= 0:
        return torch.ones(1, dtype=dtype, device=device)
    offsets = torch.arange(-half, half + 1, device=device, dtype=torch.float32)
    taps = torch.exp2(-(offsets / sigma).square())
    return (taps / taps.sum()).to(dtype)


def blur_images(img: torch.Tensor, sigma: float) -> torch.Tensor:
    """Blur ``img [N, C, H, W]`` with :func:`blur_taps` along x, then y; identity for sigma < 1/3."""
    taps = blur_taps(sigma, img.dtype, img.device)
    half = (taps.numel() - 1) // 2
    if half == 0:
        return img
    channels = img.shape[1]
    along_x = taps.view(1, 1, 1, -1).repeat(channels, 1, 1, 1)  # [C, 1, 1, K] depthwise
    along_y = taps.view(1, 1, -1, 1).repeat(channels, 1, 1, 1)  # [C, 1, K, 1]
    padded = F.pad(img, [half] * 4)
    return F.conv2d(F.conv2d(padded, along_x, groups=channels), along_y, groups=channels)


@dataclass(frozen=True)
class BlurSchedule:
    """Sigma ``init_sigma * max(1 - kimg / fade_kimg, 0)``; off when either is 0."""

    init_sigma: float = 0.0
    fade_kimg: float = 0.0

    def sigma_at(self, cur_nimg: int) -> float:
        if self.fade_kimg <= 0 or self.init_sigma <= 0:
            return 0.0
        remaining = max(1 - cur_nimg / (self.fade_kimg * 1e3), 0.0)
        return remaining * self.init_sigma

    def transform(self, cur_nimg: int) -> Callable[[torch.Tensor], torch.Tensor] | None:
        """The blur to apply at ``cur_nimg`` images, or None once it has faded out."""
        sigma = self.sigma_at(cur_nimg)
        if math.floor(sigma * 3) <= 0:
            return None
        return lambda img: blur_images(img, sigma)
