"""Wavelet constants, Hz_geom and the Hz_fbank octave filter bank."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ganforge.plugins.ada import _geometry as geo
from ganforge.plugins.ada.filters import (EXPECTED_POWER, SYM2, SYM6, filter_bank, frequency_response,
                                          geom_filter)


@pytest.mark.parametrize("h, moments", [(SYM2, 2), (SYM6, 6)])
def test_wavelets_are_orthogonal_with_vanishing_moments(h, moments):
    h = np.asarray(h)
    assert h.sum() == pytest.approx(math.sqrt(2), abs=1e-12)
    # orthogonal to its even shifts: sum_n h[n] h[n + 2k] = delta(k)
    for k in range(len(h) // 2):
        assert np.dot(h[: len(h) - 2 * k], h[2 * k:]) == pytest.approx(float(k == 0), abs=1e-10)
    # the high-pass g[n] = (-1)^n h[L-1-n] kills polynomials of degree < moments
    g = (-1.0) ** np.arange(len(h)) * h[::-1]
    n = np.arange(len(h)) - (len(h) - 1) / 2
    for m in range(moments):
        assert abs(np.dot(g, n**m)) < 1e-9, m
    assert abs(np.dot(g, n**moments)) > 1e-3  # exactly `moments` of them


def test_sym2_is_reversed_db2_closed_form():
    s3 = math.sqrt(3)
    db2 = np.array([1 + s3, 3 + s3, 3 - s3, 1 - s3]) / (4 * math.sqrt(2))
    assert np.allclose(np.asarray(SYM2), db2[::-1], atol=1e-14)


def test_geom_filter_is_unit_gain_sym6():
    f = geom_filter()
    assert f.shape == (12,) and f.dtype == torch.float32
    assert float(f.sum()) == pytest.approx(1.0, abs=1e-6)
    assert torch.allclose(f.double(), torch.tensor(SYM6, dtype=torch.float64) / math.sqrt(2), atol=1e-7)
    centre_of_mass = float((torch.arange(12.0) * f).sum() / f.sum())
    assert geo.filter_delay(f) == pytest.approx(5.5 - centre_of_mass, abs=1e-6)
    assert geo.filter_delay(torch.tensor([1.0, 3.0, 3.0, 1.0])) == 0.0  # symmetric: no delay


def test_fbank_shape_symmetry_and_partition_of_unity():
    bank = filter_bank()
    assert bank.shape == (4, 43)
    assert np.allclose(bank, bank[:, ::-1], atol=1e-15)  # zero phase
    impulse = np.zeros(43)
    impulse[21] = 1
    assert np.allclose(bank.sum(0), impulse, atol=1e-12)  # the bands reconstruct an impulse
    assert np.allclose(bank.sum(1), [1, 0, 0, 0], atol=1e-12)  # DC: only band 0 passes it
    omega = np.linspace(0, np.pi, 257)
    resp = frequency_response(bank, omega)
    assert np.abs(resp.imag).max() < 1e-12
    assert np.allclose(resp.real.sum(0), 1.0, atol=1e-12)  # responses sum to a constant


def test_fbank_bands_are_octaves():
    resp = frequency_response(filter_bank(), np.linspace(0, np.pi, 1025)).real
    omega = np.linspace(0, np.pi, 1025)
    edges = [0, np.pi / 8, np.pi / 4, np.pi / 2, np.pi]
    for band in range(4):
        inside = (omega > edges[band] + 0.02) & (omega < edges[band + 1] - 0.02)
        # each band dominates the others within its octave
        assert (resp[band, inside] >= resp[np.arange(4) != band][:, inside].max(0) - 1e-9).all(), band
    assert resp[3, -1] == pytest.approx(1.0) and resp[0, 0] == pytest.approx(1.0)


def test_module_buffers_match_the_constructions():
    from ganforge.plugins.ada.augment import AugmentPipe

    pipe = AugmentPipe()
    assert set(dict(pipe.named_buffers())) == {"p", "Hz_geom", "Hz_fbank"}
    assert not list(pipe.parameters()) and not list(pipe.children())
    assert pipe.p.shape == () and pipe.Hz_geom.shape == (12,) and pipe.Hz_fbank.shape == (4, 43)
    assert torch.allclose(pipe.Hz_fbank.double(), torch.from_numpy(filter_bank()), atol=1e-7)
    assert sum(EXPECTED_POWER) == pytest.approx(1.0) and EXPECTED_POWER[0] == pytest.approx(10 / 13)


def test_geometric_round_trip_is_perfect_reconstruction():
    x = torch.randn(2, 3, 16, 16, dtype=torch.float64)
    out = geo.resample(x, torch.eye(3, dtype=torch.float64).expand(2, 3, 3), geom_filter().double())
    assert (out - x).abs().max() < 1e-6  # Hz_geom is float32: orthogonality holds to its precision
