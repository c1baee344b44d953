"""ganforge.core.data.ImageDataset: the seeded subset, x-flip copies, labels, and subclass freedom."""

from __future__ import annotations

import numpy as np
import pytest

from ganforge.core.data import ImageDataset, subset_indices


class Numbered(ImageDataset):
    """Image ``i`` is filled with ``i``; columns are numbered so mirroring is visible."""

    def __init__(self, n: int, labels: np.ndarray | None = None, **kw):
        self._labels = labels  # a subclass attribute name the base class must not depend on
        self._subset = "mine"
        super().__init__("numbered", [n, 1, 2, 3], use_labels=labels is not None, **kw)

    def _load_raw_image(self, raw_idx: int) -> np.ndarray:
        return (np.arange(6, dtype=np.uint8).reshape(1, 2, 3) + 10 * raw_idx).astype(np.uint8)

    def _load_raw_labels(self):
        return self._labels


def test_subset_indices_are_a_sorted_seeded_sample():
    assert subset_indices(5, None, 0).tolist() == [0, 1, 2, 3, 4]
    assert subset_indices(5, 9, 0).tolist() == [0, 1, 2, 3, 4]
    a, b = subset_indices(100, 10, 3), subset_indices(100, 10, 3)
    assert a.dtype == np.int64 and a.tolist() == b.tolist() == sorted(set(a.tolist())) and len(a) == 10
    assert subset_indices(100, 10, 4).tolist() != a.tolist()
    assert subset_indices(100, 10, 3 + (1 << 31)).tolist() == a.tolist()  # seeds taken modulo 2^31


def test_xflip_appends_mirrored_copies_in_the_same_order():
    ds = Numbered(7, max_size=4, random_seed=1, xflip=True)
    kept = subset_indices(7, 4, 1).tolist()
    assert len(ds) == 8
    for i in range(8):
        image, _ = ds[i]
        raw = kept[i % 4]
        plain = np.arange(6).reshape(1, 2, 3) + 10 * raw
        assert np.array_equal(image, plain if i < 4 else plain[:, :, ::-1]) and image.flags.c_contiguous
    assert np.array_equal(ds[-1][0], ds[7][0]) and np.array_equal(ds[-8][0], ds[0][0])
    with pytest.raises(IndexError):
        ds[8]


def test_class_labels_become_one_hot_and_vector_labels_float():
    ds = Numbered(4, labels=np.array([2, 0, 1, 2], dtype=np.int64), xflip=True)
    assert ds.label_shape == [3] and ds.label_dim == 3 and ds.has_labels
    assert ds.get_label(0).tolist() == [0, 0, 1] and ds.get_label(5).tolist() == [1, 0, 0]
    assert ds.get_label(0).dtype == np.float32 and ds.class_index(6) == 1
    vec = Numbered(3, labels=np.array([[0.5, 1], [2, 3], [4, 5]], dtype=np.float32))
    assert vec.label_shape == [2] and vec.get_label(1).tolist() == [2, 3] and vec.class_index(0) is None
    label = vec.get_label(0)
    label[0] = 99  # a copy: the dataset's labels do not change
    assert vec.get_label(0)[0] == 0.5
    plain = Numbered(3)
    assert plain.label_shape == [0] and not plain.has_labels and plain.get_label(2).shape == (0,)
