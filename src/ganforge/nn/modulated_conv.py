"""Modulated (and demodulated) convolution of StyleGAN2.

Karras et al., "Analyzing and Improving the Image Quality of StyleGAN", CVPR 2020
(https://arxiv.org/abs/1912.04958), section 2.2: each sample's style scales the input channels of
the shared weight (modulation), and the result is rescaled per output channel to unit expected
norm (demodulation, ``rsqrt(sum w'^2 + 1e-8)``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from ganforge.ops import conv2d_resample, fma

__all__ = ["modulated_conv2d"]


def modulated_conv2d(
    x: torch.Tensor,  # [N, I, H, W]
    weight: torch.Tensor,  # [O, I, kh, kw]
    styles: torch.Tensor,  # [N, I]
    noise: torch.Tensor | None = None,  # broadcastable to [N, O, H', W']
    up: int = 1,
    down: int = 1,
    padding: int | Sequence[int] = 0,
    resample_filter: torch.Tensor | None = None,
    demodulate: bool = True,
    flip_weight: bool = True,
    fused_modconv: bool = True,
) -> torch.Tensor:
    """Convolve ``x`` with ``weight`` modulated per sample by ``styles``.

    Args:
        x: input ``[N, I, H, W]``.
        weight: shared weight ``[O, I, kh, kw]``.
        styles: per-sample input-channel scales ``[N, I]``.
        noise: added after the convolution (and demodulation), or None.
        up, down, padding, resample_filter, flip_weight: as in
            :func:`ganforge.ops.conv2d_resample`.
        demodulate: normalise each output channel's effective weight to unit L2 norm.
        fused_modconv: True: one grouped convolution with per-sample weights; False: scale the
            activations before and after one shared convolution (same result, different speed
            and memory trade-off; demodulation and noise then fuse into one ``fma``).

    Returns:
        ``[N, O, H', W']`` in the dtype of ``x``.
    """
    n = x.shape[0]
    out_ch, in_ch, kh, kw = weight.shape
    if x.ndim != 4 or x.shape[1] != in_ch:
        raise ValueError(f"modulated_conv2d: x must be [N, {in_ch}, H, W], got {tuple(x.shape)}")
    if styles.shape != (n, in_ch):
        raise ValueError(f"modulated_conv2d: styles must be [{n}, {in_ch}], got {tuple(styles.shape)}")

    # In fp16 the modulated weights can overflow: shrink weight and styles first. Demodulation
    # divides both scales out again, so the result is unchanged.
    if x.dtype == torch.float16 and demodulate:
        weight = weight * (1 / math.sqrt(in_ch * kh * kw) / weight.abs().amax(dim=[1, 2, 3], keepdim=True))
        styles = styles / styles.abs().amax(dim=1, keepdim=True)

    w = dcoefs = None
    if demodulate or fused_modconv:
        w = weight.unsqueeze(0) * styles.reshape(n, 1, in_ch, 1, 1)  # [N, O, I, kh, kw]
    if demodulate:
        assert w is not None
        dcoefs = (w.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt()  # [N, O]

    if not fused_modconv:
        x = x * styles.to(x.dtype).reshape(n, in_ch, 1, 1)
        x = conv2d_resample(x, weight.to(x.dtype), f=resample_filter, up=up, down=down, padding=padding,
                            flip_weight=flip_weight)
        if dcoefs is not None:
            scale = dcoefs.to(x.dtype).reshape(n, out_ch, 1, 1)
            return fma(x, scale, noise.to(x.dtype)) if noise is not None else x * scale
        return x + noise.to(x.dtype) if noise is not None else x

    assert w is not None
    if dcoefs is not None:
        w = w * dcoefs.reshape(n, out_ch, 1, 1, 1)
    # The batch becomes the groups of one convolution: [1, N*I, H, W] * [N*O, I, kh, kw].
    x = x.reshape(1, n * in_ch, *x.shape[2:])
    x = conv2d_resample(x, w.reshape(n * out_ch, in_ch, kh, kw).to(x.dtype), f=resample_filter, up=up,
                        down=down, padding=padding, groups=n, flip_weight=flip_weight)
    x = x.reshape(n, out_ch, *x.shape[2:])
    return x + noise.to(x.dtype) if noise is not None else x
