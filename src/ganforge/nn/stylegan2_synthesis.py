"""StyleGAN2 synthesis network: modulated convolutions with noise, ToRGB, orig/skip/resnet blocks.

Karras et al., "Analyzing and Improving the Image Quality of StyleGAN", CVPR 2020
(https://arxiv.org/abs/1912.04958): weight demodulation (section 2.2), the skip/resnet architectures
(section 4.1, figure 7), noise inputs; mixed precision and ``conv_clamp`` from StyleGAN2-ADA
(https://arxiv.org/abs/2006.06676, appendix D).

Layout (the official names, so official weights load with ``strict=True``): blocks ``b4 ... b{res}``;
``b4`` holds a learned ``const [C, 4, 4]`` and ``conv1``; later blocks ``conv0`` (2x upsampling) and
``conv1``; ``torgb`` in every block for ``skip`` and only in the last for ``orig``/``resnet``; ``skip``
(1x1, up 2, no bias) in resnet blocks. Each block consumes ``num_conv + num_torgb`` ws; consecutive
blocks overlap by one w (a block's ToRGB shares its w with the next block's ``conv0``), so
``num_ws = 2 * log2(res) - 2``.

Mixed precision: blocks at the ``num_fp16_res`` highest resolutions (at least 8x8) compute in fp16 on
CUDA; on any other device, or with ``force_fp32``, everything is fp32. The image path (ToRGB sums) is
always fp32.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from ganforge.nn.conv2d_layer import Conv2dLayer, resample_filter_buffer
from ganforge.nn.fully_connected import FullyConnectedLayer
from ganforge.nn.modulated_conv import modulated_conv2d
from ganforge.ops import ACTIVATIONS, bias_act, upsample2d

__all__ = ["SynthesisLayer", "ToRGBLayer", "SynthesisBlock", "SynthesisNetwork", "NOISE_MODES",
           "ARCHITECTURES", "block_dtype"]

NOISE_MODES = ("random", "const", "none")
ARCHITECTURES = ("orig", "skip", "resnet")
_SQRT_HALF = math.sqrt(0.5)


def block_dtype(use_fp16: bool, device: torch.device, force_fp32: bool = False) -> torch.dtype:
    """fp16 only for fp16 blocks on CUDA (CPU convolutions in fp16 are slow or unsupported)."""
    return torch.float16 if use_fp16 and not force_fp32 and device.type == "cuda" else torch.float32


class SynthesisLayer(nn.Module):
    """Modulated 3x3 convolution + noise + bias + lrelu.

    Args:
        in_channels, out_channels: convolution shape.
        w_dim: size of w; ``affine`` maps w to the ``in_channels`` styles (bias init 1).
        resolution: output resolution (noise maps are ``[resolution, resolution]``).
        kernel_size: convolution kernel size.
        up: 1 or 2 (FIR-filtered upsampling before the convolution).
        use_noise: add per-pixel noise scaled by the learned scalar ``noise_strength`` (init 0).
        activation: a :data:`ganforge.ops.ACTIVATIONS` name.
        resample_filter: 1-D FIR taps for upsampling.
        conv_clamp: clamp outputs to ``+-conv_clamp * gain`` (None: no clamp).
        channels_last: store the weight channels_last (fp16 on CUDA).

    Forward: ``x [N, in, res/up, res/up]``, ``w [N, w_dim]`` -> ``[N, out, res, res]``. The weight has no
    runtime gain: demodulation normalises each output channel.
    """

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, kernel_size: int = 3,
                 up: int = 1, use_noise: bool = True, activation: str = "lrelu",
                 resample_filter: Sequence[float] = (1, 3, 3, 1), conv_clamp: float | None = None,
                 channels_last: bool = False) -> None:
        super().__init__()
        self.in_channels, self.out_channels, self.w_dim = int(in_channels), int(out_channels), int(w_dim)
        self.resolution, self.up = int(resolution), int(up)
        self.use_noise = bool(use_noise)
        self.activation = activation
        self.conv_clamp = conv_clamp
        self.register_buffer("resample_filter", resample_filter_buffer(resample_filter))
        self.padding = kernel_size // 2
        self.act_gain = ACTIVATIONS[activation].def_gain
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.weight = nn.Parameter(torch.randn([out_channels, in_channels, kernel_size, kernel_size])
                                   .to(memory_format=memory_format))
        if use_noise:
            self.register_buffer("noise_const", torch.randn([resolution, resolution]))
            self.noise_strength = nn.Parameter(torch.zeros([]))
        self.bias = nn.Parameter(torch.zeros([out_channels]))

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise_mode: str = "random",
                fused_modconv: bool = True, gain: float = 1) -> torch.Tensor:
        if noise_mode not in NOISE_MODES:
            raise ValueError(f"noise_mode must be one of {NOISE_MODES}, got {noise_mode!r}")
        in_res = self.resolution // self.up
        if x.shape[1:] != (self.in_channels, in_res, in_res):
            raise ValueError(f"SynthesisLayer: x must be [N, {self.in_channels}, {in_res}, {in_res}], "
                             f"got {tuple(x.shape)}")
        styles = self.affine(w)  # [N, in_channels]
        noise = None
        if self.use_noise and noise_mode == "random":
            shape = [x.shape[0], 1, self.resolution, self.resolution]
            noise = torch.randn(shape, device=x.device) * self.noise_strength
        if self.use_noise and noise_mode == "const":
            noise = self.noise_const * self.noise_strength
        x = modulated_conv2d(x, self.weight, styles, noise=noise, up=self.up, padding=self.padding,
                             resample_filter=self.resample_filter, flip_weight=self.up == 1,
                             fused_modconv=fused_modconv)
        act_clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        return bias_act(x, self.bias.to(x.dtype), act=self.activation, gain=self.act_gain * gain,
                        clamp=act_clamp)

    def extra_repr(self) -> str:
        return (f"in_channels={self.in_channels}, out_channels={self.out_channels}, w_dim={self.w_dim}, "
                f"resolution={self.resolution}, up={self.up}, use_noise={self.use_noise}, "
                f"activation={self.activation}, conv_clamp={self.conv_clamp}")


class ToRGBLayer(nn.Module):
    """Modulated 1x1 convolution to image channels, without demodulation; styles are scaled by
    ``1 / sqrt(in * k^2)`` (the layer's equalized-lr gain). ``[N, in, H, W] -> [N, out, H, W]``."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, kernel_size: int = 1,
                 conv_clamp: float | None = None, channels_last: bool = False) -> None:
        super().__init__()
        self.in_channels, self.out_channels, self.w_dim = int(in_channels), int(out_channels), int(w_dim)
        self.conv_clamp = conv_clamp
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.weight = nn.Parameter(torch.randn([out_channels, in_channels, kernel_size, kernel_size])
                                   .to(memory_format=memory_format))
        self.bias = nn.Parameter(torch.zeros([out_channels]))
        self.weight_gain = 1 / math.sqrt(in_channels * kernel_size ** 2)

    def forward(self, x: torch.Tensor, w: torch.Tensor, fused_modconv: bool = True) -> torch.Tensor:
        styles = self.affine(w) * self.weight_gain
        x = modulated_conv2d(x, self.weight, styles, demodulate=False, fused_modconv=fused_modconv)
        return bias_act(x, self.bias.to(x.dtype), clamp=self.conv_clamp)

    def extra_repr(self) -> str:
        return f"in_channels={self.in_channels}, out_channels={self.out_channels}, w_dim={self.w_dim}"


class SynthesisBlock(nn.Module):
    """One resolution of the synthesis network.

    Args:
        in_channels: channels of the previous block (0: the first block, which starts from ``const``).
        out_channels: channels of this block.
        w_dim: size of w.
        resolution: output resolution of the block.
        img_channels: image channels (ToRGB output).
        is_last: the last block (always has ToRGB).
        architecture: ``'orig'`` (ToRGB at the end only), ``'skip'`` (ToRGB per block, images upsampled
            and summed), ``'resnet'`` (residual blocks, both branches scaled by ``sqrt(0.5)``).
        resample_filter: FIR taps for upsampling.
        conv_clamp: clamp of the convolution outputs (None: off).
        use_fp16: compute this block in fp16 (CUDA only).
        fp16_channels_last: channels_last layout in fp16.
        fused_modconv_default: True, False, or ``'inference_only'`` (fused in eval mode only).
        **layer_kwargs: more :class:`SynthesisLayer` arguments (``kernel_size``, ``use_noise``,
            ``activation``).

    Forward: ``x [N, in, res/2, res/2]`` (None for the first block), ``img [N, C, res/2, res/2]`` or
    None, ``ws [N, num_conv + num_torgb, w_dim]`` -> ``(x [N, out, res, res], img [N, C, res, res] float32
    or None)``.
    """

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, img_channels: int,
                 is_last: bool, architecture: str = "skip", resample_filter: Sequence[float] = (1, 3, 3, 1),
                 conv_clamp: float | None = 256, use_fp16: bool = False, fp16_channels_last: bool = False,
                 fused_modconv_default: bool | str = True, **layer_kwargs) -> None:
        if architecture not in ARCHITECTURES:
            raise ValueError(f"architecture must be one of {ARCHITECTURES}, got {architecture!r}")
        if fused_modconv_default not in (True, False, "inference_only"):
            raise ValueError(f"fused_modconv_default must be True, False or 'inference_only', "
                             f"got {fused_modconv_default!r}")
        super().__init__()
        self.in_channels, self.out_channels, self.w_dim = int(in_channels), int(out_channels), int(w_dim)
        self.resolution, self.img_channels = int(resolution), int(img_channels)
        self.is_last = bool(is_last)
        self.architecture = architecture
        self.use_fp16 = bool(use_fp16)
        self.channels_last = bool(use_fp16 and fp16_channels_last)
        self.fused_modconv_default = fused_modconv_default
        self.register_buffer("resample_filter", resample_filter_buffer(resample_filter))
        self.num_conv = 0
        self.num_torgb = 0
        if in_channels == 0:
            self.const = nn.Parameter(torch.randn([out_channels, resolution, resolution]))
        else:
            self.conv0 = SynthesisLayer(in_channels, out_channels, w_dim, resolution, up=2,
                                        resample_filter=resample_filter, conv_clamp=conv_clamp,
                                        channels_last=self.channels_last, **layer_kwargs)
            self.num_conv += 1
        self.conv1 = SynthesisLayer(out_channels, out_channels, w_dim, resolution, conv_clamp=conv_clamp,
                                    channels_last=self.channels_last, **layer_kwargs)
        self.num_conv += 1
        if is_last or architecture == "skip":
            self.torgb = ToRGBLayer(out_channels, img_channels, w_dim, conv_clamp=conv_clamp,
                                    channels_last=self.channels_last)
            self.num_torgb += 1
        if in_channels != 0 and architecture == "resnet":
            self.skip = Conv2dLayer(in_channels, out_channels, kernel_size=1, bias=False, up=2,
                                    resample_filter=resample_filter, channels_last=self.channels_last)

    def forward(self, x: torch.Tensor | None, img: torch.Tensor | None, ws: torch.Tensor,
                force_fp32: bool = False, fused_modconv: bool | str | None = None, update_emas: bool = False,
                noise_mode: str = "random") -> tuple[torch.Tensor, torch.Tensor | None]:
        del update_emas  # no running statistics in StyleGAN2 blocks
        want = self.num_conv + self.num_torgb
        if ws.ndim != 3 or ws.shape[1] != want or ws.shape[2] != self.w_dim:
            raise ValueError(f"SynthesisBlock b{self.resolution}: ws must be [N, {want}, {self.w_dim}], "
                             f"got {tuple(ws.shape)}")
        w_iter = iter(ws.unbind(dim=1))
        dtype = block_dtype(self.use_fp16, ws.device, force_fp32)
        memory_format = torch.channels_last if self.channels_last and dtype == torch.float16 else \
            torch.contiguous_format
        if fused_modconv is None:
            fused_modconv = self.fused_modconv_default
        if fused_modconv == "inference_only":
            fused_modconv = not self.training
        fused = bool(fused_modconv)

        if self.in_channels == 0:
            x = self.const.to(dtype=dtype, memory_format=memory_format)
            x = x.unsqueeze(0).repeat([ws.shape[0], 1, 1, 1])  # [N, C, 4, 4]
        else:
            assert x is not None
            x = x.to(dtype=dtype, memory_format=memory_format)

        if self.in_channels == 0:
            x = self.conv1(x, next(w_iter), fused_modconv=fused, noise_mode=noise_mode)
        elif self.architecture == "resnet":
            y = self.skip(x, gain=_SQRT_HALF)
            x = self.conv0(x, next(w_iter), fused_modconv=fused, noise_mode=noise_mode)
            x = self.conv1(x, next(w_iter), fused_modconv=fused, noise_mode=noise_mode, gain=_SQRT_HALF)
            x = y.add_(x)
        else:
            x = self.conv0(x, next(w_iter), fused_modconv=fused, noise_mode=noise_mode)
            x = self.conv1(x, next(w_iter), fused_modconv=fused, noise_mode=noise_mode)

        if img is not None:
            img = upsample2d(img, self.resample_filter)
        if self.is_last or self.architecture == "skip":
            y = self.torgb(x, next(w_iter), fused_modconv=fused)
            y = y.to(dtype=torch.float32, memory_format=torch.contiguous_format)
            img = img.add_(y) if img is not None else y
        return x, img

    def extra_repr(self) -> str:
        return (f"resolution={self.resolution}, architecture={self.architecture}, use_fp16={self.use_fp16}, "
                f"fused_modconv_default={self.fused_modconv_default}")


class SynthesisNetwork(nn.Module):
    """Blocks ``b4 ... b{img_resolution}`` turning ws into an image.

    Args:
        w_dim: size of w.
        img_resolution: output resolution (power of two, >= 4).
        img_channels: output channels.
        channel_base, channel_max: a block at resolution ``r`` has ``min(channel_base // r, channel_max)``
            channels.
        num_fp16_res: blocks at the N highest resolutions (never below 8x8) use fp16 on CUDA.
        **block_kwargs: :class:`SynthesisBlock` arguments (architecture, conv_clamp, ...).

    Forward: ``ws [N, num_ws, w_dim]`` -> ``[N, img_channels, res, res]`` float32, nominally in [-1, 1]
    (not clamped).
    """

    #: Forward options (``ganforge.core.options``).
    forward_options = frozenset({"noise_mode", "force_fp32", "fused_modconv", "update_emas"})

    def __init__(self, w_dim: int, img_resolution: int, img_channels: int, channel_base: int = 32768,
                 channel_max: int = 512, num_fp16_res: int = 4, **block_kwargs) -> None:
        if img_resolution < 4 or img_resolution & (img_resolution - 1):
            raise ValueError(f"img_resolution must be a power of two >= 4, got {img_resolution}")
        super().__init__()
        self.w_dim, self.img_resolution = int(w_dim), int(img_resolution)
        self.img_channels = int(img_channels)
        self.img_resolution_log2 = int(math.log2(img_resolution))
        self.num_fp16_res = int(num_fp16_res)
        self.block_resolutions = [2 ** i for i in range(2, self.img_resolution_log2 + 1)]
        channels = {res: min(channel_base // res, channel_max) for res in self.block_resolutions}
        fp16_resolution = max(2 ** (self.img_resolution_log2 + 1 - num_fp16_res), 8)
        self.num_ws = 0
        for res in self.block_resolutions:
            in_channels = channels[res // 2] if res > 4 else 0
            block = SynthesisBlock(in_channels, channels[res], w_dim=w_dim, resolution=res,
                                   img_channels=img_channels, is_last=res == img_resolution,
                                   use_fp16=res >= fp16_resolution, **block_kwargs)
            self.num_ws += block.num_conv
            if res == img_resolution:
                self.num_ws += block.num_torgb
            setattr(self, f"b{res}", block)

    def forward(self, ws: torch.Tensor, noise_mode: str = "random", force_fp32: bool = False,
                fused_modconv: bool | str | None = None, update_emas: bool = False) -> torch.Tensor:
        if ws.ndim != 3 or ws.shape[1:] != (self.num_ws, self.w_dim):
            raise ValueError(f"SynthesisNetwork: ws must be [N, {self.num_ws}, {self.w_dim}], "
                             f"got {tuple(ws.shape)}")
        ws = ws.to(torch.float32)
        x = img = None
        w_idx = 0
        for res in self.block_resolutions:
            block = getattr(self, f"b{res}")
            cur_ws = ws.narrow(1, w_idx, block.num_conv + block.num_torgb)
            w_idx += block.num_conv
            x, img = block(x, img, cur_ws, force_fp32=force_fp32, fused_modconv=fused_modconv,
                           update_emas=update_emas, noise_mode=noise_mode)
        assert img is not None
        return img

    def extra_repr(self) -> str:
        return (f"w_dim={self.w_dim}, num_ws={self.num_ws}, img_resolution={self.img_resolution}, "
                f"img_channels={self.img_channels}, num_fp16_res={self.num_fp16_res}")
