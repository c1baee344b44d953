"""Filter design: normalisation, cutoff, stopband attenuation, radial symmetry, and the network's buffers."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal
import torch

from ganforge.core.specs import DataInfo
from ganforge.plugins.stylegan3.config import StyleGAN3RConfig, StyleGAN3TConfig
from ganforge.plugins.stylegan3.filters import (
    design_lowpass_filter,
    frequency_response,
    jinc,
    kaiser_for_transition,
    kaiser_sinc,
    radial_jinc,
)
from ganforge.plugins.stylegan3.generator import build_generator


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def response_2d(f: np.ndarray, u: float, v: float, fs: float) -> float:
    """|H(u, v)| of a 2-D filter whose taps sit at (k - (n - 1) / 2) / fs."""
    n = f.shape[0]
    x = (np.arange(n) - (n - 1) / 2) / fs
    return float(abs((np.exp(-2j * np.pi * v * x)[:, None] * np.exp(-2j * np.pi * u * x)[None, :] * f).sum()))


def ripple(numtaps: int, half_width: float, fs: float) -> float:
    """Stopband ripple a Kaiser design reaches for this transition width (2 f_h)."""
    return 10 ** (-scipy.signal.kaiser_atten(numtaps, 2 * half_width / (fs / 2)) / 20)


# (numtaps, f_c, f_h, fs): the distinct filters of a 256x256 generator
CASES = [(12, 2.0, 6.0, 32), (12, 4.0, 4.0, 32), (24, 4.0, 4.0, 64), (12, 32.0, 32.0, 256),
         (12, 45.25, 18.75, 256), (12, 128.0, 29.59, 512)]


@pytest.mark.parametrize(("numtaps", "fc", "fh", "fs"), CASES)
def test_kaiser_sinc_properties(numtaps, fc, fh, fs):
    f = kaiser_sinc(numtaps, fc, 2 * fh, fs)
    assert f.shape == (numtaps,)
    assert f.sum() == pytest.approx(1, abs=1e-12)  # DC gain 1
    assert np.allclose(f, f[::-1])  # linear phase: sample positions do not move
    assert frequency_response(f, [0], fs)[0] == pytest.approx(1, abs=1e-12)
    stop = np.linspace(fc + fh, fs / 2, 200)  # stopband starts at f_c + f_h
    assert frequency_response(f, stop, fs).max() <= 2.5 * ripple(numtaps, fh, fs)
    if fc - fh >= 0:  # transition band inside [0, fs/2]: -6 dB at the cutoff, flat passband
        assert frequency_response(f, [fc], fs)[0] == pytest.approx(0.5, abs=0.05)
        passband = np.linspace(0, fc - fh, 50)
        assert np.abs(frequency_response(f, passband, fs) - 1).max() <= 2.5 * ripple(numtaps, fh, fs)
    else:  # transition band reaches below 0: more than half the gain is left at f_c
        assert frequency_response(f, [fc], fs)[0] > 0.5


@pytest.mark.parametrize(("numtaps", "fc", "fh", "fs"), CASES)
def test_radial_jinc_properties(numtaps, fc, fh, fs):
    f = radial_jinc(numtaps, fc, 2 * fh, fs)
    assert f.shape == (numtaps, numtaps)
    assert f.sum() == pytest.approx(1, abs=1e-12)
    assert np.allclose(f, f.T) and np.allclose(f, np.rot90(f)) and np.allclose(f, f[::-1])
    angles = np.linspace(0, np.pi / 4, 5)
    stop = [response_2d(f, r * np.cos(a), r * np.sin(a), fs)
            for r in np.linspace(fc + fh, fs / 2, 12) for a in angles]
    assert max(stop) < 0.04
    # isotropic in the transition band, unlike the separable filter of the same band (a square passband)
    g = np.outer(kaiser_sinc(numtaps, fc, 2 * fh, fs), kaiser_sinc(numtaps, fc, 2 * fh, fs))
    for r in (fc, fc + fh / 2):
        radial = [response_2d(f, r * np.cos(a), r * np.sin(a), fs) for a in angles]
        square = [response_2d(g, r * np.cos(a), r * np.sin(a), fs) for a in angles]
        assert max(radial) - min(radial) < 0.04
        if fc >= fh:
            assert max(radial) - min(radial) < (max(square) - min(square)) / 4


def test_odd_radial_filter_has_a_finite_centre():
    f = radial_jinc(7, 3.0, 4.0, 16)
    assert np.isfinite(f).all() and f[3, 3] == f.max()


def test_jinc_values_and_limit():
    import scipy.special

    r = np.array([0.0, 0.05, 0.1, 0.37])
    want = [2.5, *(scipy.special.j1(2 * np.pi * 2.5 * x) / (np.pi * x) for x in r[1:])]
    np.testing.assert_allclose(jinc(r, 2.5), want, rtol=1e-12)
    np.testing.assert_allclose(jinc(np.array([1e-9]), 2.5), [2.5], rtol=1e-9)  # continuous at 0


@pytest.mark.parametrize(("numtaps", "width", "fs"), [(12, 8.0, 32.0), (24, 20.5, 256.0), (7, 4.0, 16.0)])
def test_kaiser_for_transition_follows_kaisers_design_formulas(numtaps, width, fs):
    atten = 2.285 * (numtaps - 1) * np.pi * (width / (fs / 2)) + 7.95  # dB (Kaiser 1974)
    beta = 0.1102 * (atten - 8.7) if atten > 50 else (
        0.5842 * (atten - 21) ** 0.4 + 0.07886 * (atten - 21) if atten > 21 else 0.0)
    k = np.arange(numtaps)
    want = np.i0(beta * np.sqrt(1 - (2 * k / (numtaps - 1) - 1) ** 2)) / np.i0(beta)
    np.testing.assert_allclose(kaiser_for_transition(numtaps, width, fs), want, rtol=1e-9)


def test_design_lowpass_filter_buffers():
    assert design_lowpass_filter(1, 2, 4, 32) is None
    f = design_lowpass_filter(12, 4, 8, 32)
    assert f.dtype == torch.float32 and f.shape == (12,)
    assert torch.allclose(f.double(), torch.from_numpy(kaiser_sinc(12, 4, 8, 32)), atol=1e-7)
    r = design_lowpass_filter(12, 4, 8, 32, radial=True)
    assert r.shape == (12, 12) and torch.allclose(r.sum(), torch.tensor(1.0))
    with pytest.raises(ValueError, match="numtaps"):
        design_lowpass_filter(0, 1, 1, 8)


@pytest.mark.parametrize("cfg", [StyleGAN3TConfig(channel_base=4096, channel_max=16),
                                 StyleGAN3RConfig(channel_base=4096, channel_max=16)])
def test_network_filters_follow_each_layers_band(cfg):
    G = build_generator(cfg, DataInfo(256))
    for name in G.synthesis.layer_names:
        layer = getattr(G.synthesis, name)
        spec, fs = layer.spec, layer.tmp_sampling_rate
        if layer.is_torgb:
            assert layer.up_filter is None and layer.down_filter is None
            continue
        for f, fc, fh in ((layer.up_filter, spec.in_cutoff, spec.in_half_width),
                          (layer.down_filter, spec.out_cutoff, spec.out_half_width)):
            f = f.double().numpy()
            assert f.sum() == pytest.approx(1, abs=1e-6)
            if f.ndim == 1:
                stop = np.linspace(fc + fh, fs / 2, 50)
                assert frequency_response(f, stop, fs).max() <= 2.5 * ripple(f.shape[0], fh, fs), name
            else:
                assert cfg.use_radial_filters and not layer.is_critically_sampled
                assert response_2d(f, fc + fh, 0, fs) < 0.04 and response_2d(f, 0.5 * fc, 0.5 * fc, fs) > 0.5
        # the nonlinearity runs at twice the larger rate; the up filter passes the input band
        assert fs == 2 * max(spec.in_sampling_rate, spec.out_sampling_rate)
        assert layer.up_taps == (6 * layer.up_factor if layer.up_factor > 1 else 1)
