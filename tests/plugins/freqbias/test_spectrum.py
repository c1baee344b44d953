"""Spectrum functions on analytic cases and against a direct (loop) implementation of their definitions."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ganforge.plugins.freqbias.data import highpass
from ganforge.plugins.freqbias.spectrum import (
    azimuthal_average,
    frequency_axis,
    get_spectrum,
    nyquist_bin,
    power_spectrum,
    psnr,
    reduced_spectrum,
    spectrum_error,
    spectrum_length,
    spectrum_stats,
    to_uint8_trunc,
)


def _reference_reduced(x: np.ndarray, normalize: bool = False) -> np.ndarray:
    """The paper's reduced spectrum of one map [N, N], written out with loops from the definitions:
    an (N+1)^2 grid of frequencies -N/2..N/2 (the Nyquist row/column appearing twice for even N), power
    |F(f)|^2, rings of integer radius floor(|f|) around DC, mean per ring."""
    n = x.shape[0]
    F = np.fft.fft2(x, norm="ortho" if normalize else "backward")
    power = np.abs(F) ** 2
    half = n // 2
    freqs = range(-half, half + 1) if n % 2 == 0 else range(-half, half + 1)
    sums: dict[int, float] = {}
    counts: dict[int, int] = {}
    for fy in freqs:
        for fx in freqs:
            ring = int(math.isqrt(fy * fy + fx * fx))
            sums[ring] = sums.get(ring, 0.0) + power[fy % n, fx % n]
            counts[ring] = counts.get(ring, 0) + 1
    return np.array([sums[r] / counts[r] for r in range(max(sums) + 1)])


@pytest.mark.parametrize("res,length", [(32, 23), (64, 46), (128, 91), (256, 182)])
def test_reduced_spectrum_length_matches_upstream(res, length):
    assert spectrum_length(res) == length
    assert reduced_spectrum(torch.randn(1, 1, res, res)).shape == (1, length)


@pytest.mark.parametrize("n", [8, 9, 16, 31])
def test_reduced_spectrum_equals_the_definition(n):
    x = torch.randn(3, n, n, dtype=torch.float64)
    ours = get_spectrum(x).numpy()
    ours_ortho = get_spectrum(x, normalize=True).numpy()
    for i in range(3):
        np.testing.assert_allclose(ours[i], _reference_reduced(x[i].numpy()), rtol=1e-10)
        np.testing.assert_allclose(ours_ortho[i], _reference_reduced(x[i].numpy(), True), rtol=1e-10)


def test_nyquist_is_duplicated_not_averaged_with_dc():
    n = 16
    yy, xx = torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij")
    checker = ((-1.0) ** (yy + xx))[None]  # all power at the diagonal Nyquist frequency (N/2, N/2)
    power = power_spectrum(checker)[0]
    assert power.shape == (n + 1, n + 1)
    corners = power[[0, 0, -1, -1], [0, -1, 0, -1]]
    torch.testing.assert_close(corners, torch.full((4,), float(n * n) ** 2, dtype=corners.dtype))
    assert power.sum() == pytest.approx(4 * (n * n) ** 2)  # nothing anywhere else, DC included
    spec = reduced_spectrum(checker[None])[0]
    # only the last ring (radius N / sqrt 2) holds power
    assert spec[0] == 0 and spec[:-1].abs().max() == 0 and spec[-1] > 0


def test_dc_bin_is_the_squared_sum():
    x = torch.rand(2, 3, 12, 12, dtype=torch.float64)
    spec = reduced_spectrum(x)
    expected = x.sum(dim=(2, 3)).square().mean(dim=1)
    torch.testing.assert_close(spec[:, 0], expected)


def test_white_noise_level():
    torch.manual_seed(torch.seed() % 1000)
    noise = torch.randn(64, 3, 64, 64)
    spec = reduced_spectrum(noise)  # 'backward': E|F|^2 = H W sigma^2
    assert spec[:, 1:].mean() / (64 * 64) == pytest.approx(1.0, rel=0.03)
    spec = reduced_spectrum(2 * noise, normalize=True)  # 'ortho': E|F|^2 = sigma^2
    assert spec[:, 1:].mean() == pytest.approx(4.0, rel=0.03)
    # flat: no ring is far from the level (rings near DC hold few pixels, so average over images)
    rings = spec.mean(dim=0)[1:] / 4
    assert rings.min() > 0.7 and rings.max() < 1.3


@pytest.mark.parametrize("trial", range(3))
def test_single_sinusoid_peak_position(trial):
    rnd = np.random.default_rng()
    n = int(rnd.choice([32, 64]))
    ky, kx = (int(v) for v in rnd.integers(1, n // 2, size=2))
    yy, xx = torch.meshgrid(torch.arange(n, dtype=torch.float64), torch.arange(n, dtype=torch.float64),
                            indexing="ij")
    phase = float(rnd.uniform(0, 2 * math.pi))
    wave = torch.cos(2 * math.pi * (ky * yy + kx * xx) / n + phase)[None, None]
    spec = reduced_spectrum(wave)[0]
    assert int(spec.argmax()) == math.isqrt(ky * ky + kx * kx)
    power = power_spectrum(wave[0])[0]
    c = n // 2  # DC at the centre pixel; peaks at +-(ky, kx)
    peaks = {tuple(int(v) - c for v in idx) for idx in torch.nonzero(power > power.max() / 2)}
    assert peaks == {(ky, kx), (-ky, -kx)}


def test_channels_are_averaged():
    x = torch.randn(2, 3, 16, 16)
    per_channel = torch.stack([reduced_spectrum(x[:, i:i + 1]) for i in range(3)])
    torch.testing.assert_close(reduced_spectrum(x), per_channel.mean(dim=0))


def test_spectrum_stats_mean_and_unbiased_std():
    x = torch.randn(5, 3, 16, 16)
    spectra = reduced_spectrum(x)
    stats = spectrum_stats(x, batch=2)
    torch.testing.assert_close(stats["mean"], spectra.mean(dim=0))
    torch.testing.assert_close(stats["std"], spectra.std(dim=0, unbiased=True))
    assert spectrum_stats(x[:1])["std"].abs().max() == 0


def test_spectrum_error_is_relative_without_dc_and_clamped():
    real = torch.rand(46, dtype=torch.float64) + 0.5
    for factor, expected in ((2.0, 1.0), (0.5, -0.5), (1.0, 0.0), (10.0, 1.0), (0.0, -1.0)):
        gen = real * factor
        gen[0] = 123.0  # DC is dropped, whatever it is
        err = spectrum_error(gen, real)
        assert err.shape == (45,)
        torch.testing.assert_close(err, torch.full_like(err, expected))
    rows = torch.stack([real * 3, real])
    assert spectrum_error(rows, real, clamp=False)[0].mean().item() == pytest.approx(2.0)


def test_psnr_against_direct_formula():
    a = torch.rand(4, 3, 8, 8) * 2.2 - 1.1  # some values outside [-1, 1] are clamped
    b = torch.rand(4, 3, 8, 8) * 2 - 1
    ua = np.floor(np.clip(a.numpy() / 2 + 0.5, 0, 1) * 255)
    ub = np.floor(np.clip(b.numpy() / 2 + 0.5, 0, 1) * 255)
    mse = ((ua.astype(np.float64) - ub) ** 2).reshape(4, -1).mean(axis=1)
    np.testing.assert_allclose(psnr(a, b).numpy(), 10 * np.log10(255**2 / mse), rtol=1e-12)
    assert to_uint8_trunc(torch.tensor([0.999])).item() == 254  # truncation, not rounding
    assert torch.isinf(psnr(b, b)).all()


def test_frequency_axis_units():
    assert nyquist_bin(64) == 44  # (sqrt(2) * 64 - 1) // 2
    axis = frequency_axis(64)
    assert len(axis) == 45 and axis[0] == 0 and axis[44] == pytest.approx(1.0)


def test_azimuthal_average_is_differentiable():
    x = torch.randn(1, 1, 6, 6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: reduced_spectrum(t), (x,))
    assert azimuthal_average(torch.ones(2, 9, 9)).allclose(torch.ones(2, 6, dtype=torch.float64))


def test_highpass_filter():
    flat = torch.full((1, 3, 8, 8), 0.3)
    assert highpass(flat).abs().max() == 0
    yy, xx = torch.meshgrid(torch.arange(8), torch.arange(8), indexing="ij")
    checker = ((-1.0) ** (yy + xx))[None, None] * 0.25
    out = highpass(checker)
    assert out.shape == checker.shape
    torch.testing.assert_close(out[..., 1:, 1:], 4 * checker[..., 1:, 1:])  # gain 4 at the diagonal Nyquist
