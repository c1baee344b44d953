"""Low-pass filter design of the alias-free generator.

Karras et al., "Alias-Free Generative Adversarial Networks", NeurIPS 2021
(https://arxiv.org/abs/2106.12423), section 3.2 and appendix C: every layer's up- and downsampling
filters are Kaiser-windowed sinc low-pass filters whose cutoff ``f_c`` and transition half-width
``f_h`` follow the layer schedule (:mod:`.schedule`). StyleGAN3-R replaces the separable
downsampling filter of its non-critical layers with a radially symmetric one: a jinc
(``J1(2 pi f_c r) / (pi r)``, the 2-D Fourier transform of a disc) windowed by the outer product of
two 1-D Kaiser windows.

The official networks keep these filters as float32 buffers; so do we (``up_filter``,
``down_filter``), and an identity filter is ``None`` (absent from the state dict).
"""

from __future__ import annotations

import numpy as np
import scipy.signal
import scipy.special
import torch

__all__ = ["design_lowpass_filter", "kaiser_sinc", "radial_jinc", "jinc", "kaiser_for_transition",
           "frequency_response"]


def kaiser_sinc(numtaps: int, cutoff: float, width: float, fs: float) -> np.ndarray:
    """Separable Kaiser-windowed sinc, ``[numtaps]`` float64, taps summing to 1.

    ``scipy.signal.firwin`` picks the Kaiser ``beta`` from the transition ``width`` (the full width,
    ``2 f_h``) and normalises the response at DC to 1.

    Args:
        numtaps: number of taps (>= 2).
        cutoff: -6 dB frequency ``f_c`` in the units of ``fs``.
        width: transition width ``2 f_h`` in the units of ``fs``.
        fs: sampling rate the filter runs at.
    """
    return scipy.signal.firwin(numtaps=numtaps, cutoff=cutoff, width=width, fs=fs)


def jinc(r: np.ndarray, cutoff: float) -> np.ndarray:
    """``J1(2 pi f_c r) / (pi r)``, the ideal radial low-pass of cutoff ``f_c``: the 2-D inverse
    Fourier transform of the disc of radius ``f_c``. At ``r = 0`` it takes its limit ``f_c``
    (``J1(z) ~ z / 2``)."""
    pi_r = np.pi * r
    with np.errstate(divide="ignore", invalid="ignore"):
        response = scipy.special.j1(2 * cutoff * pi_r) / pi_r
    return np.where(r == 0, cutoff, response)


def kaiser_for_transition(numtaps: int, width: float, fs: float) -> np.ndarray:
    """The symmetric 1-D Kaiser window of ``numtaps`` taps whose ``beta`` reaches the stopband
    attenuation a transition band of ``width`` allows (``kaiser_atten`` with the width relative
    to Nyquist, ``fs / 2``; then ``kaiser_beta``)."""
    attenuation_db = scipy.signal.kaiser_atten(numtaps, width / (fs / 2))
    return np.kaiser(numtaps, scipy.signal.kaiser_beta(attenuation_db))


def radial_jinc(numtaps: int, cutoff: float, width: float, fs: float) -> np.ndarray:
    """Radially symmetric jinc low-pass, ``[numtaps, numtaps]`` float64, taps summing to 1.

    Taps sit at ``(k - (numtaps - 1) / 2) / fs`` on both axes; the jinc is sampled at their
    distance from the centre and windowed by the outer product of two
    :func:`kaiser_for_transition` windows. The official filters have even ``numtaps`` (no tap at
    ``r = 0``); for odd ones the centre tap is the jinc's limit.
    """
    offsets = (np.arange(numtaps) - (numtaps - 1) / 2) / fs
    radius = np.hypot(offsets[None, :], offsets[:, None])  # [row (y), column (x)]
    window = kaiser_for_transition(numtaps, width, fs)
    taps = jinc(radius, cutoff) * np.outer(window, window)
    return taps / taps.sum()


def design_lowpass_filter(numtaps: int, cutoff: float, width: float, fs: float,
                          radial: bool = False) -> torch.Tensor | None:
    """The filter buffer of a synthesis layer: None (identity) for one tap, else float32.

    Args:
        numtaps: ``filter_size * factor`` for a resampling filter, 1 for none.
        cutoff: ``f_c`` of the layer the filter belongs to (input side for ``up_filter``, output
            side for ``down_filter``).
        width: ``2 f_h`` (twice the transition half-width).
        fs: the layer's temporary (upsampled) sampling rate.
        radial: radially symmetric 2-D jinc (StyleGAN3-R downsampling) instead of a separable sinc.

    Returns:
        ``None``, ``[numtaps]`` (separable) or ``[numtaps, numtaps]`` (radial).
    """
    if numtaps < 1:
        raise ValueError(f"numtaps must be >= 1, got {numtaps}")
    if numtaps == 1:
        return None
    f = radial_jinc(numtaps, cutoff, width, fs) if radial else kaiser_sinc(numtaps, cutoff, width, fs)
    return torch.as_tensor(f, dtype=torch.float32)


def frequency_response(f: np.ndarray | torch.Tensor, freqs: np.ndarray, fs: float) -> np.ndarray:
    """Magnitude of a 1-D filter's response at ``freqs`` (units of ``fs``); for tests and docs."""
    taps = np.asarray(f, dtype=np.float64)
    n = np.arange(taps.shape[0]) - (taps.shape[0] - 1) / 2
    return np.abs(np.exp(-2j * np.pi * np.outer(np.asarray(freqs) / fs, n)) @ taps)
