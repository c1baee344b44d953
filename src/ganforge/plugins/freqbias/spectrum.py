"""Power spectra, reduced (azimuthally averaged) spectra, spectrum error and PSNR.

The definitions of "On the Frequency Bias of Generative Models" (Schwarz, Liao and Geiger, NeurIPS
2021, https://arxiv.org/abs/2111.02447), section 3 and the official code's ``utils/spectrum.py``
(facts in ``UPSTREAM.md`` §5.4), vectorised:

* :func:`power_spectrum`: ``|FFT2(x)|^2`` of each map (``norm='backward'``, or ``'ortho'`` with
  ``normalize=True``). For an even size ``N`` the Nyquist row and column are duplicated, giving an
  odd size ``N + 1``, so that after rolling by ``floor((N + 1) / 2)`` the DC term sits on the
  centre pixel and the Nyquist frequency ends up at both borders instead of being averaged with DC.
* :func:`azimuthal_average`: mean of the centred spectrum over rings of integer radius
  ``floor(|(y, x) - centre|)``; the result has ``ceil(sqrt(2) * ((N + 1) // 2))`` bins
  (23, 46, 91, 182 for N = 32, 64, 128, 256). Bin ``k`` holds frequencies ``k <= |f| < k + 1`` in
  cycles per image, so bin 0 is DC alone and bin ``N/2`` the axis Nyquist frequency.
* :func:`reduced_spectrum`: the reduced spectrum of images ``[N, C, H, W]``, averaged over channels.
* :func:`spectrum_stats`: mean and (unbiased) std over images of the reduced spectra.
* :func:`spectrum_error`: ``mean_gen[1:] / mean_real[1:] - 1`` (DC dropped), clamped to [-1, 1].
* :func:`psnr`: images in [-1, 1] become uint8 by ``trunc(clamp(x / 2 + 0.5, 0, 1) * 255)``, then
  ``10 log10(255^2 / MSE)`` per image, MSE over C, H, W.

Sums are accumulated in float64, as upstream. Everything is differentiable (the spectrum loss and the
spectrum discriminator back-propagate through it).
"""

from __future__ import annotations

import functools
import math

import torch

__all__ = [
    "spectrum_length",
    "nyquist_bin",
    "power_spectrum",
    "radial_bins",
    "azimuthal_average",
    "get_spectrum",
    "reduced_spectrum",
    "spectrum_stats",
    "spectrum_error",
    "to_uint8_trunc",
    "psnr",
    "frequency_axis",
]


def spectrum_length(resolution: int) -> int:
    """Length of the reduced spectrum of a ``resolution x resolution`` image.

    ``floor(sqrt(2) * h) + 1`` with ``h = resolution // 2`` (the centred spectrum's half size), which
    for even sizes equals upstream's ``ceil(sqrt(2) * ((res + 1) // 2))``: 23, 46, 91, 182 for
    32, 64, 128, 256.
    """
    return math.isqrt(2 * (int(resolution) // 2) ** 2) + 1


def nyquist_bin(resolution: int) -> int:
    """The x-axis unit of the paper's plots, ``f_nyq = (sqrt(2) * res - 1) // 2``.

    Upstream labels the axis ``f / f_nyq`` with this value, which is the *largest radial* frequency
    (the corner of the spectrum) rather than the axis Nyquist frequency ``res / 2`` (at about 0.71 on
    that axis). The toyset's peak positions are fractions of the same quantity.
    """
    return int((math.sqrt(2) * resolution - 1) // 2)


def frequency_axis(resolution: int, length: int | None = None) -> torch.Tensor:
    """``f / f_nyq`` of the bins ``1 .. length - 1`` (DC excluded), as on the x axis of the plots."""
    length = spectrum_length(resolution) if length is None else length
    return torch.arange(length - 1, dtype=torch.float64) / nyquist_bin(resolution)


def _duplicate_nyquist(power: torch.Tensor, dim: int) -> torch.Tensor:
    n = power.shape[dim]
    if n % 2:
        return power
    half = n // 2
    return torch.cat([power.narrow(dim, 0, half + 1), power.narrow(dim, half, n - half)], dim=dim)


def power_spectrum(data: torch.Tensor, normalize: bool = False) -> torch.Tensor:
    """Centred 2-D power spectra of real maps.

    Args:
        data: ``[..., H, W]`` real maps (any leading dimensions).
        normalize: ``norm='ortho'`` (white noise of variance 1 has mean power 1) instead of
            ``'backward'`` (mean power ``H * W``).

    Returns:
        ``[..., H', W']`` power with the DC term at ``(H' // 2, W' // 2)``; ``H' = H + 1`` for even ``H``.
    """
    freq = torch.fft.fft2(data, norm="ortho" if normalize else "backward")
    power = freq.real.square() + freq.imag.square()
    power = _duplicate_nyquist(_duplicate_nyquist(power, -2), -1)
    return torch.roll(power, shifts=(power.shape[-2] // 2, power.shape[-1] // 2), dims=(-2, -1))


@functools.lru_cache(maxsize=16)
def radial_bins(height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Ring index of every pixel of a centred ``[height, width]`` spectrum and the pixel count per ring.

    The centre is ``((height - 1) / 2, (width - 1) / 2)``; the ring is ``floor(radius)``, computed
    exactly with integer square roots when the size is odd (radius^2 is then an integer).

    Returns:
        ``(bins [height * width] int64, counts [num_bins] float64)``.
    """
    if height % 2 and width % 2:
        y = torch.arange(height) - (height - 1) // 2
        x = torch.arange(width) - (width - 1) // 2
        r2 = (y[:, None].square() + x[None, :].square()).flatten()
        bins = torch.sqrt(r2.to(torch.float64)).floor().to(torch.int64)
        # correct the float sqrt where it lands on the wrong side of an integer
        bins = bins - (bins.square() > r2).to(torch.int64) + ((bins + 1).square() <= r2).to(torch.int64)
    else:
        y = torch.arange(height, dtype=torch.float64) - (height - 1) / 2
        x = torch.arange(width, dtype=torch.float64) - (width - 1) / 2
        bins = torch.sqrt(y[:, None].square() + x[None, :].square()).floor().to(torch.int64).flatten()
    counts = torch.bincount(bins).to(torch.float64)
    return bins, counts


def azimuthal_average(spectrum: torch.Tensor) -> torch.Tensor:
    """Mean over rings of integer radius around the centre.

    Args:
        spectrum: ``[..., H, W]`` centred spectra (odd sizes for an exact DC pixel).

    Returns:
        ``[..., L]`` float64, ``L = floor(max radius) + 1``.
    """
    h, w = spectrum.shape[-2:]
    bins, counts = radial_bins(h, w)
    lead = spectrum.shape[:-2]
    flat = spectrum.reshape(-1, h * w).to(torch.float64)
    sums = torch.zeros(flat.shape[0], counts.numel(), dtype=torch.float64, device=spectrum.device)
    sums = sums.index_add(1, bins.to(spectrum.device), flat)
    return (sums / counts.to(spectrum.device)).reshape(*lead, counts.numel())


def get_spectrum(data: torch.Tensor, normalize: bool = False) -> torch.Tensor:
    """Reduced spectra of maps ``[N, H, W] -> [N, L]`` (float64), as upstream's ``get_spectrum``."""
    if data.ndim != 3:
        raise ValueError(f"data must be [N, H, W], got {list(data.shape)}")
    return azimuthal_average(power_spectrum(data, normalize))


def reduced_spectrum(images: torch.Tensor, normalize: bool = False) -> torch.Tensor:
    """Reduced spectrum of each image, averaged over its channels.

    Args:
        images: ``[N, C, H, W]`` real images (grayscale images are not repeated: the channel mean of
            identical channels is the same).
        normalize: ``'ortho'`` FFT normalisation instead of ``'backward'``.

    Returns:
        ``[N, L]`` float64.
    """
    if images.ndim != 4:
        raise ValueError(f"images must be [N, C, H, W], got {list(images.shape)}")
    return azimuthal_average(power_spectrum(images, normalize)).mean(dim=1)


def spectrum_stats(images: torch.Tensor, batch: int = 64) -> dict[str, torch.Tensor]:
    """``{"mean", "std"}`` ``[L]`` of the reduced spectra of ``images [N, C, H, W]`` (std unbiased; 0 if
    N = 1)."""
    with torch.no_grad():
        spectra = torch.cat([reduced_spectrum(chunk.float()) for chunk in images.split(batch)])
    std = spectra.std(dim=0) if spectra.shape[0] > 1 else torch.zeros_like(spectra[0])
    return {"mean": spectra.mean(dim=0), "std": std}


def spectrum_error(mean_gen: torch.Tensor, mean_real: torch.Tensor, clamp: bool = True) -> torch.Tensor:
    """Relative error per frequency, DC excluded: ``mean_gen[..., 1:] / mean_real[..., 1:] - 1``.

    Args:
        mean_gen: ``[..., L]`` mean reduced spectra of generated images (e.g. one row per iteration).
        mean_real: ``[L]`` mean reduced spectrum of the data.
        clamp: clamp to [-1, 1] (the paper's colour range: +-100 % relative error).

    Returns:
        ``[..., L - 1]``.
    """
    err = mean_gen[..., 1:] / mean_real[..., 1:] - 1
    return err.clamp(-1, 1) if clamp else err


def to_uint8_trunc(images: torch.Tensor) -> torch.Tensor:
    """``[-1, 1]`` floats to uint8 as upstream's PSNR: ``trunc(clamp(x / 2 + 0.5, 0, 1) * 255)``."""
    return ((images / 2 + 0.5).clamp(0, 1) * 255).to(torch.uint8)


def psnr(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-image PSNR in dB of ``pred`` against ``target`` (both ``[N, C, H, W]`` in [-1, 1]).

    Both are converted with :func:`to_uint8_trunc`; the MSE is over C, H, W in float64. An exact
    match gives ``inf``.

    Returns:
        ``[N]`` float64.
    """
    if pred.shape != target.shape:
        raise ValueError(f"pred {list(pred.shape)} and target {list(target.shape)} differ")
    a = to_uint8_trunc(pred.detach()).to(torch.float64)
    b = to_uint8_trunc(target.detach()).to(torch.float64)
    mse = (a - b).square().flatten(1).mean(dim=1)
    return 10 * torch.log10(255.0**2 / mse)
