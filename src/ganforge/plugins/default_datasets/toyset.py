"""The ``toyset`` dataset of "On the Frequency Bias of Generative Models" (Schwarz et al., NeurIPS 2021,
https://arxiv.org/abs/2111.02447): RGB images whose reduced spectrum has Gaussian peaks at chosen
fractions of the largest radial frequency.

Generation, for each image (``UPSTREAM.md`` §5.3; ``n = 2 * resolution``):

1. For each range ``(fmin, fmax)``: draw ``f ~ U(fmin, fmax)`` and scale it by ``sqrt(2)`` (the
   corner of the spectrum, in units where the axis Nyquist frequency is 1).
2. Magnitude of one quadrant, ``[n/2, n/2 + 1]``: a Gaussian ``G(r; f, 1/(n/2 + 1))`` of the radius
   ``r = |(y, x)|`` on the grid ``y = linspace(0, 1, n/2)``, ``x = linspace(0, 1, n/2 + 1)``; divided
   by ``4 * sum G(r; 1/sqrt(2), sigma)`` and multiplied by ``n^2 / 3``; stacked with its vertical
   mirror into the ``[n, n/2 + 1]`` layout of a real FFT (as upstream; row ``n - 1`` thus repeats
   row 0, one bin off the exact negative-frequency layout).
3. Phase ``U(0, 2 pi)`` per channel and coefficient, zero at the four DC/Nyquist coefficients; the
   coefficient is ``Re = mag / sqrt(1 + tan^2 phase)``, ``Im = Re * tan phase`` (as upstream: this
   folds the phase into (-pi/2, pi/2), so every real part is >= 0).
4. ``irfftn(norm='ortho')`` per channel; the images of all ranges are averaged.
5. The centre ``resolution x resolution`` crop is kept (which keeps frequencies in cycles per
   pixel, i.e. the same fractions of Nyquist), then ``uint8 = trunc(clamp((x + 1) * 127.5, 0, 255))``.

Random numbers come from a ``torch.Generator`` seeded with ``seed`` and are drawn in the order of
upstream ``data/toyset.py`` (per image, per range: ``f``, then the ``[3, n, n/2 + 1]`` phases; torch's
CPU generator gives the same numbers as upstream's ``torch.manual_seed(seed)``), so image ``i``
depends on ``(seed, i)`` and ``size`` only truncates. One upstream detail is not reproduced: its code
meant to zero the four DC/Nyquist phases but indexes the ``[3, n, m]`` phase tensor as if it were 2-D,
zeroing all of rows 0 and -1 of channels 0 and 1 instead. We zero the four coefficients in every
channel, as UPSTREAM.md §5.3 describes; the spectra are the same, but pixel values differ slightly
from upstream's images for the same seed.

``highpass=True``: the filter ``[[1, -1], [-1, 1]]`` is applied per channel to the float crop of
step 5 (before quantisation), after reflect-padding it by one pixel on each side; the output is the
top-left ``resolution x resolution`` of the valid correlation, i.e.
``y[i, j] = p[i, j] - p[i, j+1] - p[i+1, j] + p[i+1, j+1]`` with ``p`` the padded image, so that
``y[i, j]`` combines pixels ``i-1, i`` and ``j-1, j`` (reflected at the top/left border). The result
is divided by 4, the filter's largest gain (at the diagonal Nyquist frequency), so that values from
[-1, 1] stay in [-1, 1], and quantised by the same ``(y + 1) * 127.5`` rule. Upstream applies the
filter, unscaled and unquantised, when loading the (already quantised) PNGs; as ``uint8`` that would
clip about 46 % of the toyset's pixels, while ``y / 4`` clips about 0.3 % (the plain toyset: 3 %).
The shape of the spectrum is unchanged (power scaled by 1/16); multiply by 4 after ``x / 127.5 - 1``
to recover upstream's values.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from ganforge.core.data import ImageDataset
from ganforge.plugins.default_datasets.configs import ToysetConfig

__all__ = ["ToysetDataset", "generate_toyset", "ring_magnitude", "highpass", "write_toyset", "make_toyset"]

DEFAULT_FREQS = ((0.05, 0.15), (0.75, 0.85))


def _gaussian(x: torch.Tensor, mu: torch.Tensor | float, sigma: float) -> torch.Tensor:
    return torch.exp(-((x - mu) ** 2) / (2 * sigma**2)) / (math.sqrt(2 * math.pi) * sigma)


def ring_magnitude(n: int, f: torch.Tensor | float) -> torch.Tensor:
    """Magnitude ``[n, n/2 + 1]`` (real-FFT layout) of a Gaussian ring at normalised radius ``f``."""
    if n % 2:
        raise ValueError(f"the working size must be even, got {n}")
    half = n // 2
    y = torch.linspace(0, 1, half)[:, None]
    x = torch.linspace(0, 1, half + 1)[None, :]
    r = torch.sqrt(y * y + x * x)
    sigma = 1.0 / (half + 1)
    mag = _gaussian(r, f, sigma)
    norm = 4 * _gaussian(r, 1 / math.sqrt(2), sigma).sum()  # ring at mid-radius, all four quadrants
    mag = mag / norm * (n * n / 3)  # so that the image norm is about n (3 channels)
    return torch.cat([mag, mag.flip(0)])


def _image_from_magnitude(mag: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """A random-phase RGB image ``[3, n, n]`` with spectrum magnitude ``mag``."""
    mag = mag.expand(3, *mag.shape)
    phase = torch.rand(mag.shape, generator=gen) * (2 * math.pi)
    mid = mag.shape[1] // 2
    phase[:, [0, 0, mid, mid], [0, -1, 0, -1]] = 0  # DC and Nyquist coefficients stay real
    tan = torch.tan(phase)
    real = mag / torch.sqrt(1 + tan * tan)
    return torch.fft.irfftn(torch.complex(real, real * tan), dim=(1, 2), norm="ortho")


def highpass(x: torch.Tensor) -> torch.Tensor:
    """The 2x2 ``[[1, -1], [-1, 1]]`` filter with reflect padding, per channel: ``[C, H, W] -> [C, H, W]``."""
    c, h, w = x.shape
    p = torch.nn.functional.pad(x[None], (1, 1, 1, 1), mode="reflect")[0]
    y = p[:, :-1, :-1] - p[:, :-1, 1:] - p[:, 1:, :-1] + p[:, 1:, 1:]
    return y[:, :h, :w]


def _quantise(x: torch.Tensor) -> np.ndarray:
    return ((x + 1) * 127.5).clamp(0, 255).to(torch.uint8).numpy()


@functools.lru_cache(maxsize=4)
def _generate_cached(resolution: int, size: int, freqs: tuple[tuple[float, float], ...], seed: int,
                     use_highpass: bool) -> np.ndarray:
    n = 2 * resolution
    top = (n - resolution) // 2
    gen = torch.Generator().manual_seed(seed)
    out = np.empty([size, 3, resolution, resolution], dtype=np.uint8)
    for i in range(size):
        img = torch.zeros(3, n, n)
        for fmin, fmax in freqs:
            f = (torch.rand(1, generator=gen) * (fmax - fmin) + fmin) * math.sqrt(2)
            img += _image_from_magnitude(ring_magnitude(n, f), gen)
        img = img[:, top:top + resolution, top:top + resolution] / len(freqs)
        out[i] = _quantise(highpass(img) / 4 if use_highpass else img)
    out.flags.writeable = False
    return out


def generate_toyset(resolution: int = 64, size: int = 100, freqs: Sequence[Sequence[float]] = DEFAULT_FREQS,
                    seed: int = 0, highpass: bool = False) -> np.ndarray:
    """The toyset as ``uint8 [size, 3, resolution, resolution]`` (cached, read-only)."""
    key = tuple((float(a), float(b)) for a, b in freqs)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)  # the tensors are small: intra-op threads only cost time (5x on 2 cores)
        with torch.no_grad():
            return _generate_cached(int(resolution), int(size), key, int(seed), bool(highpass))
    finally:
        torch.set_num_threads(threads)


class ToysetDataset(ImageDataset):
    """The frequency-bias toyset (module docstring); ``subset`` keeps the first N images."""

    def __init__(self, resolution: int = 64, size: int = 100,
                 freqs: Sequence[Sequence[float]] = DEFAULT_FREQS, seed: int = 0, highpass: bool = False,
                 subset: int | None = None, use_labels: bool = False):
        count = size if subset is None else min(size, subset)
        self._images = generate_toyset(resolution, count, freqs, seed, highpass)
        name = f"toyset{resolution}_{size}" + ("_highpass" if highpass else "")
        super().__init__(name=name, raw_shape=self._images.shape, use_labels=use_labels)

    def _load_raw_image(self, raw_idx: int) -> np.ndarray:
        return self._images[raw_idx].copy()  # the cache is read-only; torch wants writable arrays

    def _load_raw_labels(self) -> np.ndarray:
        return np.arange(self._raw_shape[0], dtype=np.int64)  # image i is class i

    def archive_name(self, idx: int) -> str:
        """File name of image ``idx`` when written out: ``%08d.png``, as upstream."""
        return f"{idx:08d}.png"


def make_toyset(cfg: ToysetConfig) -> ToysetDataset:
    """Factory of the ``toyset`` dataset."""
    return ToysetDataset(resolution=cfg.resolution, size=cfg.size, freqs=cfg.freqs, seed=cfg.seed,
                         highpass=cfg.highpass, subset=cfg.subset, use_labels=cfg.use_labels)


def write_toyset(outdir: str | Path, cfg: ToysetConfig | None = None, *, progress: bool = False) -> Path:
    """Write the toyset to a folder of ``%08d.png`` files (plus ``dataset.json``), as upstream's
    ``data/toyset.py RES N --outdir DIR``. Returns the folder."""
    from ganforge.plugins.default_datasets.convert import write_dataset

    ds = make_toyset(cfg or ToysetConfig())
    return write_dataset(ds, outdir, progress=progress)
