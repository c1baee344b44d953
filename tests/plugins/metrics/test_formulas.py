"""Metric arithmetic against independent implementations on random features."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch

from ganforge.plugins.default_metrics import formulas
from ganforge.plugins.default_metrics.stats import FeatureSet


def _fid_scipy(mu1, s1, mu2, s2):
    covmean = scipy.linalg.sqrtm(s1 @ s2)
    return float(np.square(mu1 - mu2).sum() + np.trace(s1 + s2 - 2 * np.real(covmean)))


def _gauss(rng, n, d, shift=0.0):
    a = rng.standard_normal((d, d)) / np.sqrt(d)
    return rng.standard_normal((n, d)) @ a + shift


@pytest.mark.parametrize("n,d", [(400, 16), (300, 64)])
def test_fid_matches_scipy_sqrtm(n, d):
    rng = np.random.default_rng(1234)
    x, y = _gauss(rng, n, d), _gauss(rng, n, d, shift=0.3)
    mu1, s1, mu2, s2 = x.mean(0), np.cov(x, rowvar=False), y.mean(0), np.cov(y, rowvar=False)
    assert formulas.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(_fid_scipy(mu1, s1, mu2, s2), rel=1e-6)


def test_fid_near_singular_covariances_stays_finite_and_matches():
    rng = np.random.default_rng(1234)
    d = 48
    x, y = _gauss(rng, 20, d), _gauss(rng, 25, d, shift=0.5)  # fewer samples than dimensions: rank-deficient
    mu1, s1, mu2, s2 = x.mean(0), np.cov(x, rowvar=False), y.mean(0), np.cov(y, rowvar=False)
    ours = formulas.frechet_distance(mu1, s1, mu2, s2)
    assert np.isfinite(ours)
    ref = _fid_scipy(mu1 + 0, s1 + 1e-9 * np.eye(d), mu2, s2 + 1e-9 * np.eye(d))
    assert ours == pytest.approx(ref, rel=1e-4, abs=1e-4)


def test_fid_of_a_set_with_itself_is_zero_and_grows_with_a_shift():
    rng = np.random.default_rng(1234)
    x = _gauss(rng, 500, 32)
    mu, s = x.mean(0), np.cov(x, rowvar=False)
    assert abs(formulas.frechet_distance(mu, s, mu, s)) < 1e-8
    shifted = [formulas.frechet_distance(mu, s, mu + k, s) for k in (0.1, 0.5)]
    assert 0 < shifted[0] < shifted[1]
    assert shifted[1] == pytest.approx(32 * 0.25, rel=1e-6)  # |mu shift|^2 when covariances agree


def _kid_bruteforce(x, y):
    m, d = len(x), x.shape[1]
    k = lambda a, b: (a @ b / d + 1) ** 3  # noqa: E731
    kxx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    kyy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    kxy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / (m * m)
    return kxx + kyy - 2 * kxy


def test_kid_matches_bruteforce_unbiased_mmd():
    rng = np.random.default_rng(1234)
    x, y = rng.standard_normal((30, 8)), rng.standard_normal((30, 8)) + 0.4
    # one subset holding every sample: a permutation, so the estimate is the full unbiased MMD^2
    ours = formulas.kernel_inception_distance(y, x, num_subsets=1, max_subset_size=30, seed=int(rng.integers(1000)))
    assert ours == pytest.approx(_kid_bruteforce(x, y), rel=1e-9)
    assert formulas.kernel_inception_distance(x, x.copy(), num_subsets=3, max_subset_size=30) < 0.05 * ours


def _pr_bruteforce(real, gen, k):
    def manifold_contains(manifold, probes):
        d_mm = np.linalg.norm(manifold[:, None] - manifold[None], axis=2)
        radii = np.sort(d_mm, axis=1)[:, k]  # column 0 is the point itself
        d_pm = np.linalg.norm(probes[:, None] - manifold[None], axis=2)
        return float(np.mean([(d_pm[i] <= radii).any() for i in range(len(probes))]))
    return manifold_contains(real, gen), manifold_contains(gen, real)


@pytest.mark.parametrize("k", [1, 3])
def test_precision_recall_match_bruteforce_knn(k):
    rng = np.random.default_rng(1234)
    real = rng.standard_normal((60, 5))
    gen = rng.standard_normal((50, 5)) * 0.7 + 0.8
    ours = formulas.precision_recall(torch.from_numpy(real), torch.from_numpy(gen), nhood_size=k, row_batch=17,
                                     col_batch=13, dtype=torch.float64)
    assert ours == pytest.approx(_pr_bruteforce(real, gen, k), abs=1e-6)  # fractions of counts: exact
    assert 0 < ours[0] < 1 and 0 < ours[1] < 1


def test_inception_score_matches_direct_formula():
    rng = np.random.default_rng(1234)
    logits = rng.standard_normal((100, 7)) * 3
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    mean, std = formulas.inception_score(probs, num_splits=4)
    scores = []
    for part in np.array_split(probs, 4):
        py = part.mean(0)
        scores.append(np.exp(np.mean([sum(p[j] * np.log(p[j] / py[j]) for j in range(7)) for p in part])))
    assert (mean, std) == pytest.approx((np.mean(scores), np.std(scores)), rel=1e-9)
    uniform = np.full((40, 7), 1 / 7)
    assert formulas.inception_score(uniform, 2)[0] == pytest.approx(1.0)
    assert formulas.inception_score(np.eye(7)[rng.integers(0, 7, 700)], 1)[0] > 6.5


def test_ppl_reduce_drops_the_extreme_percentiles():
    rng = np.random.default_rng(1234)
    values = rng.exponential(size=1000)
    values[:3] = 1e9
    lo, hi = np.sort(values)[9], np.sort(values)[-10]  # 1st percentile 'lower' and 99th 'higher' of 1000 values
    expected = values[(values >= lo) & (values <= hi)].mean()
    assert formulas.ppl_reduce(values) == pytest.approx(expected)
    assert formulas.ppl_reduce(values) < 10


def test_feature_set_mean_cov_in_float64_and_limit():
    rng = np.random.default_rng(1234)
    x = rng.standard_normal((250, 6)).astype(np.float32) * 3 + 1
    features = FeatureSet(limit=200, keep_rows=True, keep_moments=True)
    for chunk in np.array_split(x, 7):
        features.add(chunk)
    assert features.count == 200 and features.full
    mean, cov = features.gaussian()
    ref = x[:200].astype(np.float64)
    np.testing.assert_allclose(mean, ref.mean(0), rtol=1e-10)
    np.testing.assert_allclose(cov, np.cov(ref, rowvar=False, bias=True), rtol=1e-8, atol=1e-10)
    np.testing.assert_array_equal(features.rows(), x[:200])
