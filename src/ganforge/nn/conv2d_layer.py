"""StyleGAN2's convolution layer: equalized learning rate, FIR up/downsampling, bias, activation, clamp.

Karras et al., "Analyzing and Improving the Image Quality of StyleGAN", CVPR 2020
(https://arxiv.org/abs/1912.04958). Used by the StyleGAN2 discriminator (``fromrgb``, ``conv0``,
``conv1``, ``skip``, the epilogue's ``conv``) and by the resnet generator's ``skip`` connections.

The stored weight ``[out, in, k, k]`` is N(0, 1) and scaled at runtime by ``1 / sqrt(in * k^2)``; the
bias starts at 0. Resampling uses :func:`ganforge.ops.conv2d_resample` with the ``[1, 3, 3, 1]`` filter
(stored as the ``resample_filter`` buffer, as upstream); the output goes through
:func:`ganforge.ops.bias_act` with the activation's default gain times ``gain`` and an optional clamp
``conv_clamp * gain``. ``trainable=False`` stores weight and bias as buffers (Freeze-D, Mo et al.,
https://arxiv.org/abs/2002.10964): same state-dict names, never updated by the optimiser.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from ganforge.nn.fully_connected import set_weight_and_bias
from ganforge.ops import ACTIVATIONS, bias_act, conv2d_resample, setup_filter

__all__ = ["Conv2dLayer", "resample_filter_buffer"]


def resample_filter_buffer(taps: Sequence[float]) -> torch.Tensor:
    """The normalised 2-D FIR filter ``[k, k]`` of 1-D ``taps``, on the default device (so a network can be
    built on the ``meta`` device to check its structure without allocating anything)."""
    return setup_filter(list(taps), device=torch.get_default_device())


class Conv2dLayer(nn.Module):
    """``act(conv2d_resample(x, W / sqrt(in k^2)) + b) * act_gain * gain``, clamped.

    Args:
        in_channels, out_channels, kernel_size: convolution shape (padding ``kernel_size // 2``).
        bias: add a learned bias.
        activation: a :data:`ganforge.ops.ACTIVATIONS` name.
        up, down: integer resampling factors (FIR filtered).
        resample_filter: 1-D taps of the resampling filter (outer product, normalised).
        conv_clamp: clamp the output to ``+-conv_clamp * gain`` (None: no clamp).
        channels_last: store the weight in channels_last layout (fp16 on CUDA).
        trainable: False: weight and bias are buffers (frozen).

    Shapes: ``[N, in, H, W] -> [N, out, H * up / down, W * up / down]``.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, bias: bool = True,
                 activation: str = "linear", up: int = 1, down: int = 1,
                 resample_filter: Sequence[float] = (1, 3, 3, 1), conv_clamp: float | None = None,
                 channels_last: bool = False, trainable: bool = True) -> None:
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; choose from {', '.join(ACTIVATIONS)}")
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.kernel_size = int(kernel_size)
        self.activation = activation
        self.up, self.down = int(up), int(down)
        self.conv_clamp = conv_clamp
        self.trainable = bool(trainable)
        self.register_buffer("resample_filter", resample_filter_buffer(resample_filter))
        self.padding = self.kernel_size // 2
        self.weight_gain = 1 / math.sqrt(self.in_channels * self.kernel_size ** 2)
        self.act_gain = ACTIVATIONS[activation].def_gain
        memory_format = torch.channels_last if channels_last else torch.contiguous_format
        weight = torch.randn([out_channels, in_channels, kernel_size, kernel_size])
        weight = weight.to(memory_format=memory_format)
        bias_t = torch.zeros([out_channels]) if bias else None
        set_weight_and_bias(self, weight, bias_t, trainable)

    def forward(self, x: torch.Tensor, gain: float = 1) -> torch.Tensor:
        # x: [N, in_channels, H, W]
        w = self.weight * self.weight_gain
        b = self.bias.to(x.dtype) if self.bias is not None else None
        flip_weight = self.up == 1  # upstream convolves (not correlates) when upsampling
        x = conv2d_resample(x, w.to(x.dtype), f=self.resample_filter, up=self.up, down=self.down,
                            padding=self.padding, flip_weight=flip_weight)
        act_clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        return bias_act(x, b, act=self.activation, gain=self.act_gain * gain, clamp=act_clamp)

    def extra_repr(self) -> str:
        return (f"in_channels={self.in_channels}, out_channels={self.out_channels}, "
                f"kernel_size={self.kernel_size}, activation={self.activation}, up={self.up}, "
                f"down={self.down}, conv_clamp={self.conv_clamp}, trainable={self.trainable}")
