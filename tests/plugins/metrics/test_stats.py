"""default_metrics.stats: running moments, feature sets, their cache files and the work split."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ganforge.plugins.default_metrics.stats import (
    FeatureSet,
    RunningMoments,
    load_cached,
    rank_items,
    save_cached,
)


def test_running_moments_match_numpy_over_uneven_batches():
    rng = np.random.default_rng()
    x = rng.standard_normal((97, 5)) * [1, 2, 3, 4, 5] + 7
    moments = RunningMoments(5)
    for chunk in np.array_split(x, 6):
        moments.update(chunk.astype(np.float32))
    ref = x.astype(np.float32).astype(np.float64)
    assert moments.count == 97
    np.testing.assert_allclose(moments.mean(), ref.mean(0), rtol=1e-12)
    want = np.cov(ref, rowvar=False, bias=True)
    np.testing.assert_allclose(moments.covariance(), want, rtol=1e-9, atol=1e-9)


def test_feature_set_accepts_tensors_and_checks_shapes():
    features = FeatureSet(keep_rows=True)
    features.add(torch.ones(3, 4, dtype=torch.float16))
    features.add(np.zeros((2, 4)))
    assert features.count == 5 and not features.full  # no limit: never full
    assert features.rows().dtype == np.float32 and features.rows().shape == (5, 4)
    with pytest.raises(ValueError, match="4"):
        features.add(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"\[batch, dim\]"):
        features.add(np.zeros(4))
    with pytest.raises(ValueError, match="keep_moments"):
        features.gaussian()
    with pytest.raises(ValueError, match="keep_rows"):
        FeatureSet(keep_moments=True).rows()
    empty = FeatureSet(limit=0, keep_rows=True)
    empty.add(np.ones((3, 2)))
    assert empty.full and empty.count == 0 and empty.rows().shape == (0, 0)


@pytest.mark.parametrize(("keep_rows", "keep_moments"), [(True, False), (False, True), (True, True)])
def test_cache_round_trip(tmp_path, keep_rows, keep_moments):
    x = np.random.default_rng().standard_normal((30, 3)).astype(np.float32)
    features = FeatureSet(limit=25, keep_rows=keep_rows, keep_moments=keep_moments)
    features.add(x)
    path = tmp_path / "stats.npz"
    save_cached(path, features, {"what": "test"})
    again = load_cached(path, 25, keep_rows, keep_moments)
    assert again is not None and again.count == 25 and again.dim == 3
    if keep_rows:
        np.testing.assert_array_equal(again.rows(), x[:25])
    if keep_moments:
        for got, want in zip(again.gaussian(), features.gaussian(), strict=True):
            np.testing.assert_array_equal(got, want)
    if not (keep_rows and keep_moments):  # a file without a part that is asked for is a miss, not an error
        assert load_cached(path, 25, True, True) is None
    assert load_cached(tmp_path / "absent.npz", 25, keep_rows, keep_moments) is None
    (tmp_path / "broken.npz").write_bytes(b"not a zip")
    assert load_cached(tmp_path / "broken.npz", 25, keep_rows, keep_moments) is None


@pytest.mark.parametrize("num_items", [1, 7, 10, 33])
@pytest.mark.parametrize("world", [1, 2, 3, 4])
def test_rank_items_interleave_back_to_dataset_order(num_items, world):
    parts = [rank_items(num_items, rank, world) for rank in range(world)]
    assert len({len(p) for p in parts}) == 1  # equal work on every rank
    interleaved = [item for row in zip(*parts, strict=True) for item in row]
    assert interleaved[:num_items] == list(range(num_items))
    assert len(interleaved) - num_items < world  # the wrap-around extras fill the last round only
