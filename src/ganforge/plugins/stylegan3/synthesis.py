"""StyleGAN3's synthesis network: Fourier-feature input, alias-free layers, the layer schedule.

Karras et al., "Alias-Free Generative Adversarial Networks", NeurIPS 2021
(https://arxiv.org/abs/2106.12423). The network treats every feature map as samples of a
continuous, band-limited signal: the input is a set of Fourier features of bounded bandwidth
(section 3.1), each layer's nonlinearity runs at twice the layer's sampling rate between a
windowed-sinc upsampling and a low-pass downsampling filter (``filtered_lrelu``, section 3.2),
and cutoffs grow geometrically over the layers (:mod:`.schedule`). Names of parameters and
buffers follow the official implementation, so its weights load strictly.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from ganforge.ops import filtered_lrelu
from ganforge.plugins.stylegan3.filters import design_lowpass_filter
from ganforge.plugins.stylegan3.layers import FullyConnectedLayer
from ganforge.plugins.stylegan3.schedule import LayerSpec, layer_padding, layer_schedule, resampling

__all__ = ["SynthesisInput", "SynthesisLayer", "SynthesisNetwork", "modulated_conv2d", "disc_frequencies"]


def modulated_conv2d(
    x: torch.Tensor,  # [N, I, H, W]
    w: torch.Tensor,  # [O, I, k, k]
    s: torch.Tensor,  # [N, I]
    demodulate: bool = True,
    padding: int = 0,
    input_gain: torch.Tensor | None = None,  # [] or [N, I]
    fused: bool | None = None,
) -> torch.Tensor:
    """StyleGAN3's modulated convolution.

    With demodulation, the weight is first normalised by its RMS per output channel and the styles
    by their RMS over the whole batch (both cancel under demodulation; they keep fp16 in range),
    then modulated ``w'_nio.. = w_oi.. s_ni``, demodulated per output channel
    (``rsqrt(sum w'^2 + 1e-8)``) and scaled per input channel by ``input_gain``
    (``rsqrt(magnitude_ema)``).

    Args:
        fused: True: one grouped convolution with per-sample weights (the official formulation,
            used on CUDA); False: scale the input channels, run one shared convolution and scale the
            output channels (the same function; on CPU a batched convolution is much faster than
            a grouped one). None: fused on CUDA and for a single sample, else split. Both keep the
            channels_last layout of ``x`` on CPU.

    Returns:
        ``[N, O, H + 2 * padding - k + 1, W + 2 * padding - k + 1]`` in ``x``'s dtype.
    """
    n = x.shape[0]
    out_ch, in_ch, kh, kw = w.shape
    if fused is None:
        fused = x.device.type != "cpu" or n == 1
    # Everything is folded into per-(sample, output, input) factors so the weight is read twice and
    # the activations are never rescaled for a single sample.
    out_scale = None  # [N, O]
    if demodulate:
        w2 = w.square().sum(dim=[2, 3])  # [O, I]
        w_rms_inv = (w2.sum(dim=1) / (in_ch * kh * kw)).rsqrt()  # [O]
        s = s * s.square().mean().rsqrt()
        dcoefs = (w_rms_inv.square().unsqueeze(0) * (s.square() @ w2.t()) + 1e-8).rsqrt()  # [N, O]
        out_scale = w_rms_inv.unsqueeze(0) * dcoefs
    in_scale = s if input_gain is None else s * input_gain.expand(n, in_ch)  # [N, I]
    if not fused:
        x = x * in_scale.to(x.dtype).reshape(n, in_ch, 1, 1)
        x = torch.nn.functional.conv2d(x, w.to(x.dtype), padding=padding)
        return x if out_scale is None else x * out_scale.to(x.dtype).reshape(n, out_ch, 1, 1)
    factor = in_scale.unsqueeze(1) if out_scale is None else out_scale.unsqueeze(2) * in_scale.unsqueeze(1)
    w = w.unsqueeze(0) * factor.reshape(n, -1, in_ch, 1, 1)  # [N, O, I, k, k]
    if n == 1:  # no reshape: it would lose the channels_last layout of x
        return torch.nn.functional.conv2d(x, w[0].to(x.dtype), padding=padding)
    x = x.reshape(1, n * in_ch, *x.shape[2:])
    w = w.reshape(n * out_ch, in_ch, kh, kw).to(x.dtype)
    x = torch.nn.functional.conv2d(x, w, padding=padding, groups=n)
    return x.reshape(n, out_ch, *x.shape[2:])


def disc_frequencies(channels: int, bandwidth: float) -> torch.Tensor:
    """``[channels, 2]`` random frequencies spread uniformly over the disc of radius ``bandwidth``.

    From one Gaussian draw ``g ~ N(0, I_2)`` per channel: ``g / |g|`` is a uniform direction and
    ``u = exp(-|g|^2 / 2)`` is uniform on (0, 1], so a radius ``bandwidth * sqrt(u)`` (density
    proportional to the radius) makes the point uniform over the disc:
    ``f = g / (|g| * exp(|g|^2 / 4)) * bandwidth``. Uses the global torch RNG (one ``randn``).
    """
    g = torch.randn([channels, 2])
    length = (g * g).sum(dim=1, keepdim=True).sqrt()  # |g|
    inv_sqrt_u = length.square().exp().pow(0.25)  # exp(|g|^2 / 4) = 1 / sqrt(u)
    return g / (length * inv_sqrt_u) * bandwidth


def _rotation_translation(c: torch.Tensor, s: torch.Tensor, tx: torch.Tensor,
                          ty: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``([N, 3, 3] rotation by (c, s), [N, 3, 3] translation by (-tx, -ty))`` in homogeneous form."""
    zero, one = torch.zeros_like(c), torch.ones_like(c)

    def rows(*values: torch.Tensor) -> torch.Tensor:
        return torch.stack(values, dim=1).reshape(-1, 3, 3)

    rotation = rows(c, -s, zero, s, c, zero, zero, zero, one)
    translation = rows(one, zero, -tx, zero, one, -ty, zero, zero, one)
    return rotation, translation


class SynthesisInput(torch.nn.Module):
    """Fourier features of bounded bandwidth, rotated and translated by w and the user transform.

    Buffers: ``freqs [C, 2]`` (random directions, radii spread over the disc of radius
    ``bandwidth``), ``phases [C]`` in [-0.5, 0.5), ``transform [3, 3]`` (identity; the *inverse* of
    the user's image transform, written by ``gan generate --translate/--rotate``). Parameters:
    ``weight [C, C]`` (a learned channel mix) and ``affine`` (w -> rotation ``(r_c, r_s)`` and
    translation ``(t_x, t_y)``, initialised to the identity).

    Coordinates: the output spans ``size`` samples at ``sampling_rate`` samples per unit; the final
    image is one unit wide, so a transform translation of ``t`` moves the image by ``t * res``
    output pixels.

    Shapes: ``w [N, w_dim] -> [N, C, size, size]``.
    """

    def __init__(self, w_dim: int, channels: int, size: int, sampling_rate: float, bandwidth: float) -> None:
        super().__init__()
        self.w_dim, self.channels, self.size = int(w_dim), int(channels), int(size)
        self.sampling_rate, self.bandwidth = float(sampling_rate), float(bandwidth)
        # The draw order (frequencies, phases, channel mix, affine) fixes what a seed builds; the
        # buffer order (transform, freqs, phases) is the official state dict's.
        freqs = disc_frequencies(self.channels, self.bandwidth)
        phases = torch.rand([self.channels]) - 0.5
        self.weight = torch.nn.Parameter(torch.randn([self.channels, self.channels]))
        self.affine = FullyConnectedLayer(self.w_dim, 4, weight_init=0, bias_init=[1, 0, 0, 0])
        for name, value in (("transform", torch.eye(3, 3)), ("freqs", freqs), ("phases", phases)):
            self.register_buffer(name, value)

    def transformed_frequencies(self, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(freqs [N, C, 2], phases [N, C], amplitudes [N, C])`` after the w and user transforms.

        ``affine(w) = (r_c, r_s, t_x, t_y)``, with ``(r_c, r_s)`` scaled to unit length, gives the
        inverse of the image's rotation and translation; applied before the user's ``transform``
        it maps output coordinates ``x`` to ``A x + b``, which turns ``sin(2 pi (f.x + phi))`` into
        frequencies ``f A`` and phases ``phi + f.b``.
        """
        params = self.affine(w)
        rotation_length = params[:, :2].norm(dim=1, keepdim=True)  # |(r_c, r_s)|, divides all four
        rotation, translation = _rotation_translation(*(params / rotation_length).unbind(dim=1))
        mapping = rotation @ translation @ self.transform.unsqueeze(0)  # [N, 3, 3]
        linear, offset = mapping[:, :2, :2], mapping[:, :2, 2:]
        base = self.freqs.unsqueeze(0)  # [1, C, 2]
        phases = self.phases.unsqueeze(0) + (base @ offset).squeeze(2)
        freqs = base @ linear
        # Frequencies a user rotation or scale pushed past the band are faded out, not aliased.
        overshoot = (freqs.norm(dim=2) - self.bandwidth) / (self.sampling_rate / 2 - self.bandwidth)
        return freqs, phases, (1 - overshoot).clamp(0, 1)

    def sampling_grid(self, device: Any = None) -> torch.Tensor:
        """``[size, size, 2]`` (x, y) sample positions, ``(j + 0.5 - size / 2) / sampling_rate``."""
        theta = torch.zeros(1, 2, 3, device=device)
        theta[0, 0, 0] = theta[0, 1, 1] = 0.5 * self.size / self.sampling_rate
        return torch.nn.functional.affine_grid(theta, [1, 1, self.size, self.size], align_corners=False)[0]

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        freqs, phases, amplitudes = self.transformed_frequencies(w)
        grid = self.sampling_grid(w.device)  # [H, W, 2]
        x = torch.einsum("hwk,nck->nhwc", grid, freqs) + phases[:, None, None, :]
        x = torch.sin(x * (2 * math.pi)) * amplitudes[:, None, None, :]  # [N, H, W, C]
        x = x @ (self.weight / math.sqrt(self.channels)).t()
        return x.permute(0, 3, 1, 2)  # [N, C, H, W], channels_last in memory

    def extra_repr(self) -> str:
        return (f"w_dim={self.w_dim}, channels={self.channels}, size={self.size}, "
                f"sampling_rate={self.sampling_rate:g}, bandwidth={self.bandwidth:g}")


class SynthesisLayer(torch.nn.Module):
    """Modulated convolution followed by a filtered leaky ReLU (or the linear ToRGB layer).

    Parameters: ``weight [O, I, k, k]``, ``bias [O]``, ``affine`` (w -> styles, bias 1).
    Buffers: ``magnitude_ema`` (running mean of the input's squared magnitude; its ``rsqrt``
    normalises the input), ``up_filter`` and ``down_filter`` (None, i.e. absent from the state dict,
    when the factor is 1).

    Args:
        spec: the layer's geometry (:func:`.schedule.layer_schedule`).
        w_dim: w size.
        conv_kernel: 3 (StyleGAN3-T) or 1 (StyleGAN3-R); always 1 for ToRGB.
        filter_size: taps per unit of resampling factor (6).
        lrelu_upsampling: oversampling of the nonlinearity (2).
        use_radial_filters: radial jinc downsampling filters in non-critical layers (R).
        conv_clamp: clamp activations to +-conv_clamp (None: off).
        magnitude_ema_beta: decay of ``magnitude_ema``.

    Shapes: ``x [N, I, in_size, in_size]``, ``w [N, w_dim]`` -> ``[N, O, out_size, out_size]``.
    """

    def __init__(self, spec: LayerSpec, w_dim: int, conv_kernel: int = 3, filter_size: int = 6,
                 lrelu_upsampling: int = 2, use_radial_filters: bool = False, conv_clamp: float | None = 256,
                 magnitude_ema_beta: float = 0.999) -> None:
        super().__init__()
        self.spec = spec
        self.w_dim = int(w_dim)
        self.is_torgb, self.use_fp16 = spec.is_torgb, spec.use_fp16
        self.is_critically_sampled = spec.is_critically_sampled
        self.in_channels, self.out_channels = spec.in_channels, spec.out_channels
        self.in_size, self.out_size = spec.in_size, spec.out_size
        self.conv_kernel = 1 if spec.is_torgb else int(conv_kernel)
        self.conv_clamp = conv_clamp
        self.magnitude_ema_beta = float(magnitude_ema_beta)

        self.affine = FullyConnectedLayer(self.w_dim, self.in_channels, bias_init=1)
        self.weight = torch.nn.Parameter(torch.randn([self.out_channels, self.in_channels, self.conv_kernel,
                                                      self.conv_kernel]))
        self.bias = torch.nn.Parameter(torch.zeros([self.out_channels]))
        self.register_buffer("magnitude_ema", torch.ones([]))
        # ToRGB is not demodulated: its styles carry the weight's equalized-lr gain instead.
        fan_in = self.in_channels * self.conv_kernel ** 2
        self.torgb_style_gain = 1 / np.sqrt(fan_in) if self.is_torgb else None

        tmp, self.up_factor, self.up_taps, self.down_factor, self.down_taps = resampling(
            spec.in_sampling_rate, spec.out_sampling_rate, spec.is_torgb, lrelu_upsampling, filter_size)
        self.tmp_sampling_rate = tmp
        self.down_radial = bool(use_radial_filters and not spec.is_critically_sampled)
        self.register_buffer("up_filter", design_lowpass_filter(
            self.up_taps, spec.in_cutoff, spec.in_half_width * 2, tmp))
        self.register_buffer("down_filter", design_lowpass_filter(
            self.down_taps, spec.out_cutoff, spec.out_half_width * 2, tmp, radial=self.down_radial))
        self.padding = layer_padding(spec.in_size, spec.out_size, self.conv_kernel, self.up_factor,
                                     self.down_factor, self.up_taps, self.down_taps)

    @torch.no_grad()
    def _track_magnitude(self, x: torch.Tensor) -> None:
        """``magnitude_ema <- lerp(mean(x^2), magnitude_ema, magnitude_ema_beta)`` (float32)."""
        mean_square = torch.mean(torch.square(x.float()))
        self.magnitude_ema.copy_(torch.lerp(mean_square, self.magnitude_ema, self.magnitude_ema_beta))

    def forward(self, x: torch.Tensor, w: torch.Tensor, force_fp32: bool = False,
                update_emas: bool = False) -> torch.Tensor:
        if update_emas:
            self._track_magnitude(x)
        styles = self.affine(w)
        if self.torgb_style_gain is not None:
            styles = styles * self.torgb_style_gain
        fp16 = self.use_fp16 and not force_fp32 and x.device.type == "cuda"
        dtype = torch.float16 if fp16 else torch.float32
        x = modulated_conv2d(x.to(dtype), self.weight, styles, demodulate=not self.is_torgb,
                             padding=self.conv_kernel - 1, input_gain=self.magnitude_ema.rsqrt())
        gain, slope = (1.0, 1.0) if self.is_torgb else (math.sqrt(2), 0.2)
        return filtered_lrelu(x, fu=self.up_filter, fd=self.down_filter, b=self.bias.to(x.dtype),
                              up=self.up_factor, down=self.down_factor, padding=self.padding, gain=gain,
                              slope=slope, clamp=self.conv_clamp)

    def extra_repr(self) -> str:
        s = self.spec
        return (f"w_dim={self.w_dim}, is_torgb={self.is_torgb}, "
                f"is_critically_sampled={self.is_critically_sampled}, use_fp16={self.use_fp16}, "
                f"in_sampling_rate={s.in_sampling_rate:g}, out_sampling_rate={s.out_sampling_rate:g}, "
                f"in_cutoff={s.in_cutoff:g}, out_cutoff={s.out_cutoff:g}, "
                f"in_half_width={s.in_half_width:g}, out_half_width={s.out_half_width:g}, "
                f"in_size={self.in_size}, out_size={self.out_size}, in_channels={self.in_channels}, "
                f"out_channels={self.out_channels}, conv_kernel={self.conv_kernel}, up={self.up_factor}, "
                f"down={self.down_factor}, radial={self.down_radial}")


class SynthesisNetwork(torch.nn.Module):
    """ws ``[N, num_layers + 2, w_dim]`` -> image ``[N, img_channels, res, res]`` (float32).

    ``ws[:, 0]`` drives the input's transform, ``ws[:, i + 1]`` layer ``L{i}``. The output is
    multiplied by ``output_scale``. Schedule arguments as :func:`.schedule.layer_schedule`; layer
    arguments (``conv_kernel``, ``filter_size``, ``lrelu_upsampling``, ``use_radial_filters``,
    ``conv_clamp``, ``magnitude_ema_beta``) as :class:`SynthesisLayer`.
    """

    #: Forward options (``ganforge.core.options``); ``noise_mode`` is accepted and ignored.
    forward_options = frozenset({"noise_mode", "force_fp32", "update_emas"})

    def __init__(self, w_dim: int, img_resolution: int, img_channels: int, channel_base: int = 32768,
                 channel_max: int = 512, num_layers: int = 14, num_critical: int = 2, first_cutoff: float = 2,
                 first_stopband: float = 2 ** 2.1, last_stopband_rel: float = 2 ** 0.3, margin_size: int = 10,
                 output_scale: float = 0.25, num_fp16_res: int = 4, **layer_kwargs: Any) -> None:
        super().__init__()
        self.w_dim = int(w_dim)
        self.img_resolution, self.img_channels = int(img_resolution), int(img_channels)
        self.num_layers, self.num_critical = int(num_layers), int(num_critical)
        self.num_ws = self.num_layers + 2
        self.margin_size, self.output_scale = int(margin_size), float(output_scale)
        self.num_fp16_res = int(num_fp16_res)
        inp, layers = layer_schedule(self.img_resolution, self.img_channels, channel_base, channel_max,
                                     num_layers, num_critical, first_cutoff, first_stopband,
                                     last_stopband_rel, margin_size, num_fp16_res)
        self.input = SynthesisInput(self.w_dim, inp.channels, inp.size, inp.sampling_rate, inp.bandwidth)
        self.layer_names: list[str] = []
        for spec in layers:
            setattr(self, spec.name, SynthesisLayer(spec, self.w_dim, **layer_kwargs))
            self.layer_names.append(spec.name)

    def forward(self, ws: torch.Tensor, force_fp32: bool = False, update_emas: bool = False,
                **_ignored: Any) -> torch.Tensor:
        if ws.ndim != 3 or ws.shape[1:] != (self.num_ws, self.w_dim):
            raise ValueError(f"synthesis: ws must be [N, {self.num_ws}, {self.w_dim}], got {tuple(ws.shape)}")
        ws_list = ws.to(torch.float32).unbind(dim=1)
        x = self.input(ws_list[0])
        for name, w in zip(self.layer_names, ws_list[1:], strict=True):
            x = getattr(self, name)(x, w, force_fp32=force_fp32, update_emas=update_emas)
        if self.output_scale != 1:
            x = x * self.output_scale
        return x.to(torch.float32).contiguous()

    def extra_repr(self) -> str:
        return (f"w_dim={self.w_dim}, num_ws={self.num_ws}, img_resolution={self.img_resolution}, "
                f"img_channels={self.img_channels}, num_layers={self.num_layers}, "
                f"num_critical={self.num_critical}, "
                f"margin_size={self.margin_size}, num_fp16_res={self.num_fp16_res}")
