"""Equalized-learning-rate linear and convolution layers.

Karras et al., "Progressive Growing of GANs for Improved Quality, Stability, and Variation",
ICLR 2018, section 4.1 (https://arxiv.org/abs/1710.10196): weights are initialised from N(0, 1)
and scaled at *runtime* by the He constant ``gain / sqrt(fan_in)``, so that Adam's per-parameter
step size is the same for every layer. StyleGAN adds ``lr_multiplier``: the stored weight is
initialised as ``N(0, 1) / lr_multiplier`` and multiplied by ``lr_multiplier`` at runtime (the bias
too), which slows that layer's effective learning rate by the same factor.

With ``use_wscale=False`` the layers fall back to a plain He initialisation: the stored weight
already has the standard deviation ``gain / sqrt(fan_in)`` and the runtime weight scale is
``lr_multiplier`` only. Both settings give the same function at initialisation.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["EqualizedLinear", "EqualizedConv2d", "PADDING_MODES"]

#: Padding modes of :class:`EqualizedConv2d` (``torch.nn.Conv2d`` names).
PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def _scales(fan_in: int, gain: float, lr_multiplier: float, use_wscale: bool) -> tuple[float, float]:
    """(init std of the stored weight, runtime weight scale)."""
    he_std = gain / math.sqrt(fan_in)
    if use_wscale:
        return 1.0 / lr_multiplier, he_std * lr_multiplier
    return he_std / lr_multiplier, lr_multiplier


class EqualizedLinear(nn.Module):
    """Fully connected layer with an equalized learning rate.

    Args:
        in_features: size of the input feature vector.
        out_features: size of the output feature vector.
        bias: add a learned bias.
        gain: He gain; the runtime weight scale is ``gain / sqrt(in_features)`` (times
            ``lr_multiplier``). PGGAN uses ``sqrt(2)`` before a leaky ReLU and 1 for linear outputs.
        lr_multiplier: learning-rate multiplier of this layer (StyleGAN's mapping network: 0.01).
        bias_init: initial value of the stored bias (its runtime value is ``bias * lr_multiplier``).
        use_wscale: scale at runtime (True) or fold the He constant into the initialisation (False).

    Shapes: ``[N, in_features] -> [N, out_features]``.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, *, gain: float = 1.0,
                 lr_multiplier: float = 1.0, bias_init: float = 0.0, use_wscale: bool = True) -> None:
        super().__init__()
        self.in_features = int(in_features)
        self.out_features = int(out_features)
        self.gain = float(gain)
        self.lr_multiplier = float(lr_multiplier)
        self.use_wscale = bool(use_wscale)
        init_std, self.weight_gain = _scales(self.in_features, self.gain, self.lr_multiplier, self.use_wscale)
        self.bias_gain = self.lr_multiplier
        self.weight = nn.Parameter(torch.randn(self.out_features, self.in_features) * init_std)
        self.bias = nn.Parameter(torch.full([self.out_features], float(bias_init))) if bias else None

    def effective_weight(self) -> torch.Tensor:
        """The weight as used in the forward pass, ``[out_features, in_features]``."""
        return self.weight * self.weight_gain if self.weight_gain != 1.0 else self.weight

    def effective_bias(self) -> torch.Tensor | None:
        """The bias as used in the forward pass, ``[out_features]`` (None without a bias)."""
        if self.bias is None or self.bias_gain == 1.0:
            return self.bias
        return self.bias * self.bias_gain

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: [N, in_features]
        return F.linear(x, self.effective_weight(), self.effective_bias())

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}, gain={self.gain:g}, lr_multiplier={self.lr_multiplier:g}, "
                f"use_wscale={self.use_wscale}")


class EqualizedConv2d(nn.Module):
    """2-D convolution with an equalized learning rate.

    Args:
        in_channels: input channels.
        out_channels: output channels.
        kernel_size: square kernel size.
        bias: add a learned per-channel bias.
        stride: convolution stride.
        padding: padding on each side (default ``kernel_size // 2``, which keeps the size at stride 1).
        padding_mode: ``'zeros'``, ``'reflect'``, ``'replicate'`` or ``'circular'`` (as
            ``torch.nn.Conv2d``); non-zero modes pad explicitly before an unpadded convolution.
        gain: He gain; the runtime weight scale is ``gain / sqrt(in_channels * kernel_size**2)``.
        lr_multiplier: learning-rate multiplier of this layer (weight and bias).
        bias_init: initial value of the stored bias.
        use_wscale: scale at runtime (True) or fold the He constant into the initialisation (False).

    Shapes: ``[N, in_channels, H, W] -> [N, out_channels, H', W']``.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, bias: bool = True, *,
                 stride: int = 1, padding: int | None = None, padding_mode: str = "zeros", gain: float = 1.0,
                 lr_multiplier: float = 1.0, bias_init: float = 0.0, use_wscale: bool = True) -> None:
        super().__init__()
        if padding_mode not in PADDING_MODES:
            raise ValueError(f"padding_mode must be one of {PADDING_MODES}, got {padding_mode!r}")
        self.in_channels = int(in_channels)
        self.out_channels = int(out_channels)
        self.kernel_size = int(kernel_size)
        self.stride = int(stride)
        self.padding = self.kernel_size // 2 if padding is None else int(padding)
        self.padding_mode = padding_mode
        self.gain = float(gain)
        self.lr_multiplier = float(lr_multiplier)
        self.use_wscale = bool(use_wscale)
        fan_in = self.in_channels * self.kernel_size ** 2
        init_std, self.weight_gain = _scales(fan_in, self.gain, self.lr_multiplier, self.use_wscale)
        self.bias_gain = self.lr_multiplier
        shape = (self.out_channels, self.in_channels, self.kernel_size, self.kernel_size)
        self.weight = nn.Parameter(torch.randn(shape) * init_std)
        self.bias = nn.Parameter(torch.full([self.out_channels], float(bias_init))) if bias else None

    def effective_weight(self) -> torch.Tensor:
        """The weight as used in the forward pass, ``[out, in, k, k]``."""
        return self.weight * self.weight_gain if self.weight_gain != 1.0 else self.weight

    def effective_bias(self) -> torch.Tensor | None:
        """The bias as used in the forward pass, ``[out]`` (None without a bias)."""
        if self.bias is None or self.bias_gain == 1.0:
            return self.bias
        return self.bias * self.bias_gain

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: [N, in_channels, H, W]
        padding = self.padding
        if padding and self.padding_mode != "zeros":
            x = F.pad(x, (padding,) * 4, mode=self.padding_mode)
            padding = 0
        return F.conv2d(x, self.effective_weight(), self.effective_bias(), stride=self.stride,
                        padding=padding)

    def extra_repr(self) -> str:
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}, padding={self.padding}")
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s + (f", bias={self.bias is not None}, gain={self.gain:g}, "
                    f"lr_multiplier={self.lr_multiplier:g}, use_wscale={self.use_wscale}")
