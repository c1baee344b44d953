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


def _geometric(first: float, last: float, t: np.ndarray) -> np.ndarray:
    """``first * (last / first) ** t``: from ``first`` at ``t = 0`` to ``last`` at ``t = 1``."""
    return first * (last / first) ** t


def _next_power_of_two(x: np.ndarray) -> np.ndarray:
    """``2 ** ceil(log2(x))``, the smallest power of two at or above ``x`` (float64)."""
    return np.exp2(np.ceil(np.log2(x)))


@dataclass(frozen=True)
class _Band:
    """The signal one layer outputs (index ``i`` of the module docstring's formulas)."""

    channels: int
    size: int
    sampling_rate: int
    cutoff: float
    half_width: float


def layer_schedule(img_resolution: int, img_channels: int, channel_base: int = 32768, channel_max: int = 512,
                   num_layers: int = 14, num_critical: int = 2, first_cutoff: float = 2,
                   first_stopband: float = 2 ** 2.1, last_stopband_rel: float = 2 ** 0.3,
                   margin_size: int = 10, num_fp16_res: int = 4) -> tuple[InputSpec, list[LayerSpec]]:
    """The input and the ``num_layers + 1`` synthesis layers of a StyleGAN3 generator.

    Arguments are the official ``SynthesisNetwork`` constructor's (module docstring).
    """
    if num_layers <= num_critical:
        raise ValueError(f"num_layers ({num_layers}) must exceed num_critical ({num_critical})")
    index = np.arange(num_layers + 1)
    # t_i climbs linearly to 1 at the first critically sampled layer, then stays there.
    t = np.minimum(index / (num_layers - num_critical), 1)
    cutoffs = _geometric(first_cutoff, img_resolution / 2, t)
    stopbands = _geometric(first_stopband, img_resolution / 2 * last_stopband_rel, t)
    # A layer samples its minimum stopband without aliasing, but never finer than the output image.
    rates = _next_power_of_two(np.minimum(2 * stopbands, img_resolution))
    half_widths = np.maximum(stopbands, rates / 2) - cutoffs
    is_last_two = index >= num_layers - 1
    sizes = np.where(is_last_two, img_resolution, rates + 2 * margin_size)
    widths = np.rint(np.minimum(channel_base / 2 / cutoffs, channel_max))  # fewer channels at higher cutoffs
    widths = np.where(index == num_layers, img_channels, widths)
    bands = [_Band(int(c), int(n), int(r), float(f), float(h))
             for c, n, r, f, h in zip(widths, sizes, rates, cutoffs, half_widths, strict=True)]

    first = bands[0]
    inp = InputSpec(channels=first.channels, size=first.size, sampling_rate=float(rates[0]),
                    bandwidth=first.cutoff)
    layers = []
    for i, (src, dst) in enumerate(zip([first, *bands[:-1]], bands, strict=True)):  # layer 0 reads the input
        layers.append(LayerSpec(
            index=i, in_channels=src.channels, out_channels=dst.channels, in_size=src.size, out_size=dst.size,
            in_sampling_rate=src.sampling_rate, out_sampling_rate=dst.sampling_rate, in_cutoff=src.cutoff,
            out_cutoff=dst.cutoff, in_half_width=src.half_width, out_half_width=dst.half_width,
            is_torgb=i == num_layers, is_critically_sampled=i >= num_layers - num_critical,
            use_fp16=dst.sampling_rate * 2 ** num_fp16_res > img_resolution))
    return inp, layers


def resampling(in_sampling_rate: int, out_sampling_rate: int, is_torgb: bool, lrelu_upsampling: int = 2,
               filter_size: int = 6) -> tuple[int, int, int, int, int]:
    """``(tmp_sampling_rate, up_factor, up_taps, down_factor, down_taps)`` of one layer.

    The nonlinearity runs at ``max(s_in, s_out) * lrelu_upsampling`` (ToRGB: no upsampling, as it
    is linear); a filter has ``filter_size * factor`` taps when its factor exceeds 1, else 1
    (identity). ToRGB has no filters.
    """
    oversampling = 1 if is_torgb else lrelu_upsampling
    tmp = max(in_sampling_rate, out_sampling_rate) * oversampling
    factors = [int(np.rint(tmp / rate)) for rate in (in_sampling_rate, out_sampling_rate)]
    if [in_sampling_rate * factors[0], out_sampling_rate * factors[1]] != [tmp, tmp]:
        raise ValueError(f"sampling rates {in_sampling_rate} -> {out_sampling_rate} are not integer "
                         f"multiples of each other")
    up, down = factors
    up_taps, down_taps = (filter_size * f if f > 1 and not is_torgb else 1 for f in factors)
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
