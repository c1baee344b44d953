"""The layer schedule of StyleGAN3's synthesis network, as pure functions of its constructor arguments.

Karras et al., "Alias-Free Generative Adversarial Networks", NeurIPS 2021
(https://arxiv.org/abs/2106.12423), section 3.3 and figure 4b. With ``N = num_layers`` and
``e_i = min(i / (N - num_critical), 1)`` for ``i = 0..N``:

* cutoff ``f_c,i = first_cutoff * (f_c,N / first_cutoff) ** e_i`` with ``f_c,N = res / 2``;
* minimum stopband ``f_t,i = first_stopband * (f_t,N / first_stopband) ** e_i`` with
  ``f_t,N = res / 2 * last_stopband_rel``;
* sampling rate ``s_i = 2 ** ceil(log2(min(2 f_t,i, res)))``;
* transition half-width ``f_h,i = max(f_t,i, s_i / 2) - f_c,i``;
* size ``s_i + 2 * margin_size``, except the last two layers, which are exactly ``res``;
* channels ``rint(min(channel_base / 2 / f_c,i, channel_max))``, the last one ``img_channels``.

The Fourier-feature input uses layer 0's channels, size, rate and cutoff; layer ``i`` maps layer
``i - 1``'s signal to its own (layer 0 maps from itself). Layers ``i >= N - num_critical`` are
critically sampled and layer ``N`` is the ToRGB layer. Layer names are ``L{i}_{size}_{channels}``,
which is why official weights only load into networks built from the same arguments.

Everything is computed in float64 with numpy, like the official code, so names and filters match.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["LayerSpec", "InputSpec", "layer_schedule", "resampling", "layer_padding"]


@dataclass(frozen=True)
class InputSpec:
    """Geometry of the Fourier-feature input."""

    channels: int
    size: int
    sampling_rate: float
    bandwidth: float


@dataclass(frozen=True)
class LayerSpec:
    """Geometry of synthesis layer ``index`` (input side = the previous layer's output)."""

    index: int
    in_channels: int
    out_channels: int
    in_size: int
    out_size: int
    in_sampling_rate: int
    out_sampling_rate: int
    in_cutoff: float
    out_cutoff: float
    in_half_width: float
    out_half_width: float
    is_torgb: bool
    is_critically_sampled: bool
    use_fp16: bool

    @property
    def name(self) -> str:
        return f"L{self.index}_{self.out_size}_{self.out_channels}"


def layer_schedule(img_resolution: int, img_channels: int, channel_base: int = 32768, channel_max: int = 512,
                   num_layers: int = 14, num_critical: int = 2, first_cutoff: float = 2,
                   first_stopband: float = 2 ** 2.1, last_stopband_rel: float = 2 ** 0.3,
                   margin_size: int = 10, num_fp16_res: int = 4) -> tuple[InputSpec, list[LayerSpec]]:
    """The input and the ``num_layers + 1`` synthesis layers of a StyleGAN3 generator.

    Arguments are the official ``SynthesisNetwork`` constructor's (module docstring).
    """
    if num_layers <= num_critical:
        raise ValueError(f"num_layers ({num_layers}) must exceed num_critical ({num_critical})")
    last_cutoff = img_resolution / 2
    last_stopband = last_cutoff * last_stopband_rel
    exponents = np.minimum(np.arange(num_layers + 1) / (num_layers - num_critical), 1)
    cutoffs = first_cutoff * (last_cutoff / first_cutoff) ** exponents
    stopbands = first_stopband * (last_stopband / first_stopband) ** exponents
    sampling_rates = np.exp2(np.ceil(np.log2(np.minimum(stopbands * 2, img_resolution))))
    half_widths = np.maximum(stopbands, sampling_rates / 2) - cutoffs
    sizes = sampling_rates + margin_size * 2
    sizes[-2:] = img_resolution
    channels = np.rint(np.minimum((channel_base / 2) / cutoffs, channel_max))
    channels[-1] = img_channels

    inp = InputSpec(channels=int(channels[0]), size=int(sizes[0]), sampling_rate=float(sampling_rates[0]),
                    bandwidth=float(cutoffs[0]))
    layers = []
    for i in range(num_layers + 1):
        p = max(i - 1, 0)
        layers.append(LayerSpec(
            index=i, in_channels=int(channels[p]), out_channels=int(channels[i]), in_size=int(sizes[p]),
            out_size=int(sizes[i]), in_sampling_rate=int(sampling_rates[p]),
            out_sampling_rate=int(sampling_rates[i]),
            in_cutoff=float(cutoffs[p]), out_cutoff=float(cutoffs[i]), in_half_width=float(half_widths[p]),
            out_half_width=float(half_widths[i]), is_torgb=i == num_layers,
            is_critically_sampled=i >= num_layers - num_critical,
            use_fp16=bool(sampling_rates[i] * 2 ** num_fp16_res > img_resolution)))
    return inp, layers


def resampling(in_sampling_rate: int, out_sampling_rate: int, is_torgb: bool, lrelu_upsampling: int = 2,
               filter_size: int = 6) -> tuple[int, int, int, int, int]:
    """``(tmp_sampling_rate, up_factor, up_taps, down_factor, down_taps)`` of one layer.

    The nonlinearity runs at ``max(s_in, s_out) * lrelu_upsampling`` (ToRGB: no upsampling, as it
    is linear); a filter has ``filter_size * factor`` taps when its factor exceeds 1, else 1
    (identity). ToRGB has no filters.
    """
    tmp = max(in_sampling_rate, out_sampling_rate) * (1 if is_torgb else lrelu_upsampling)
    up = int(np.rint(tmp / in_sampling_rate))
    down = int(np.rint(tmp / out_sampling_rate))
    if in_sampling_rate * up != tmp or out_sampling_rate * down != tmp:
        raise ValueError(f"sampling rates {in_sampling_rate} -> {out_sampling_rate} are not integer "
                         f"multiples of each other")
    up_taps = filter_size * up if up > 1 and not is_torgb else 1
    down_taps = filter_size * down if down > 1 and not is_torgb else 1
    return tmp, up, up_taps, down, down_taps


def layer_padding(in_size: int, out_size: int, conv_kernel: int, up: int, down: int, up_taps: int,
                  down_taps: int) -> list[int]:
    """Padding ``[x0, x1, y0, y1]`` of the layer's ``filtered_lrelu`` (same on both axes).

    ``total = (out - 1) * down + 1 - (in + k - 1) * up + up_taps + down_taps - 2``: the samples
    needed before downsampling, minus what the upsampled ``k``-full convolution output provides,
    plus what the two filters consume. ``lo = (total + up) // 2`` (the paper's symmetric sample
    positions, appendix C.3), ``hi = total - lo``.
    """
    total = (out_size - 1) * down + 1 - (in_size + conv_kernel - 1) * up + up_taps + down_taps - 2
    lo = (total + up) // 2
    hi = total - lo
    return [int(lo), int(hi), int(lo), int(hi)]
