"""Wavelet filters of the ADA pipeline: the geometric low-pass ``Hz_geom`` and the band bank ``Hz_fbank``.

Both come from Daubechies' least-asymmetric orthogonal wavelets ("symlets"; I. Daubechies, *Ten
Lectures on Wavelets*, SIAM 1992, ch. 8). The coefficients below are published constants: the
scaling (decomposition low-pass) filters ``dec_lo`` of ``sym2`` and ``sym6`` as tabulated by
PyWavelets (G. Lee et al., "PyWavelets: A Python package for wavelet analysis", JOSS 4(36), 1237,
2019; ``pywt.Wavelet("sym6").dec_lo``). They sum to sqrt(2) and have unit energy; ``sym2`` equals
``db2`` reversed, whose closed form is ``(1+sqrt3, 3+sqrt3, 3-sqrt3, 1-sqrt3) / (4 sqrt2)``. The tests
check those properties (orthogonality to even shifts, vanishing moments) rather than trusting digits.

Karras et al., "Training Generative Adversarial Networks with Limited Data" (ADA), NeurIPS 2020
(https://arxiv.org/abs/2006.06676), appendix B, describe how the pipeline uses them:

* ``Hz_geom`` [12]: ``sym6`` normalised to unit DC gain; the geometric transforms upsample by 2
  with it (convolution), resample, and downsample by 2 with it again as a correlation, which makes
  the round trip perfectly reconstructing (orthogonality of the wavelet).
* ``Hz_fbank`` [4, 43]: four zero-phase band-pass filters splitting the spectrum into octaves
  ``[0, pi/8]``, ``[pi/8, pi/4]``, ``[pi/4, pi/2]``, ``[pi/2, pi]`` (band 0 lowest). Built from the
  power-complementary half-band pair of ``sym2``::

      L(z) = H(z) H(1/z) / 2,    B(z) = H(-z) H(-1/z) / 2,    L + B = 1,

  as a dyadic tree: start with band 0 = 1; then, for i = 1, 2, 3, stretch every band (z -> z^2),
  multiply it by L(z), and add B(z) to band i. After three steps the bands are ``L(z^4)L(z^2)L(z)``,
  ``B(z^4)L(z^2)L(z)``, ``B(z^2)L(z)``, ``B(z)``; they add up to a unit impulse (the partition of
  unity the tests check), band 0 has DC gain 1 and the others 0.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["SYM2", "SYM6", "EXPECTED_POWER", "geom_filter", "filter_bank", "frequency_response"]

#: ``sym2`` scaling filter (4 taps), PyWavelets ``Wavelet("sym2").dec_lo``.
SYM2: tuple[float, ...] = (
    -0.12940952255092145, 0.22414386804185735, 0.836516303737469, 0.48296291314469025,
)

#: ``sym6`` scaling filter (12 taps), PyWavelets ``Wavelet("sym6").dec_lo``.
SYM6: tuple[float, ...] = (
    0.015404109327027373, 0.0034907120842174702, -0.11799011114819057, -0.048311742585633,
    0.4910559419267466, 0.787641141030194, 0.3379294217276218, -0.07263752278646252,
    -0.021060292512300564, 0.04472490177066578, 0.0017677118642428036, -0.007800708325034148,
)

#: Expected share of image power per band (a 1/f profile), used to renormalise imgfilter gains.
EXPECTED_POWER: tuple[float, ...] = (10 / 13, 1 / 13, 1 / 13, 1 / 13)


def geom_filter() -> torch.Tensor:
    """``Hz_geom``: ``sym6`` scaled to unit sum, float32 ``[12]``."""
    h = np.asarray(SYM6, dtype=np.float64)
    return torch.as_tensor(h / h.sum(), dtype=torch.float32)


def _stretch(rows: np.ndarray) -> np.ndarray:
    """``F(z) -> F(z^2)`` for every row: a zero between neighbouring taps. ``[B, L] -> [B, 2L - 1]``."""
    out = np.zeros((rows.shape[0], 2 * rows.shape[1] - 1), dtype=rows.dtype)
    out[:, ::2] = rows
    return out


def filter_bank(lowpass: tuple[float, ...] | np.ndarray = SYM2, num_bands: int = 4) -> np.ndarray:
    """The octave band-pass bank (module docstring), float64 ``[num_bands, taps]``.

    Args:
        lowpass: an orthogonal scaling filter with sum sqrt(2) (default ``sym2``).
        num_bands: number of bands; taps grow as ``L -> 2 L + len(lowpass) * 2 - 3`` per band after
            the first (4 bands of ``sym2``: 1 -> 7 -> 19 -> 43).
    """
    h = np.asarray(lowpass, dtype=np.float64)
    h_mod = h * (-1.0) ** np.arange(h.size)  # H(-z)
    low = np.convolve(h, h[::-1]) / 2  # |H(w)|^2 / 2: zero phase, odd length
    high = np.convolve(h_mod, h_mod[::-1]) / 2  # |H(w + pi)|^2 / 2
    bank = np.zeros((num_bands, 1))
    bank[0, 0] = 1.0
    for i in range(1, num_bands):
        stretched = _stretch(bank)
        bank = np.stack([np.convolve(row, low) for row in stretched])
        start = (bank.shape[1] - high.size) // 2
        bank[i, start:start + high.size] += high
    return bank


def frequency_response(taps: np.ndarray, omega: np.ndarray) -> np.ndarray:
    """Frequency response of zero-phase (centred, odd-length) filters.

    Args:
        taps: ``[..., L]`` with ``L`` odd, centred at ``L // 2``.
        omega: angular frequencies in radians per sample ``[F]``.

    Returns:
        complex ``[..., F]``: ``sum_n taps[n] exp(-i omega (n - L // 2))``.
    """
    taps = np.asarray(taps, dtype=np.float64)
    n = np.arange(taps.shape[-1]) - taps.shape[-1] // 2
    return taps @ np.exp(-1j * np.outer(n, omega))
