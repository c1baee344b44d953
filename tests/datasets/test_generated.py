"""The generated datasets: ``shapes`` (the default) and the frequency-bias ``toyset``."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from tests.datasets.dataset_helpers import reduced_spectrum
from ganforge.plugins.default_datasets.configs import ShapesConfig, ToysetConfig
from ganforge.plugins.default_datasets.shapes import ShapesDataset, make_shapes, render_shapes
from ganforge.plugins.default_datasets.toyset import ToysetDataset, generate_toyset, highpass, write_toyset

# -- shapes -----------------------------------------------------------------------------------------


def test_shapes_are_deterministic_per_seed_and_index() -> None:
    render = render_shapes.__wrapped__  # bypass the cache: really render twice
    a, ca = render(32, 64, 3, 0)
    b, cb = render(32, 64, 3, 0)
    assert a.tobytes() == b.tobytes() and np.array_equal(ca, cb)
    c, _ = render(32, 64, 3, 1)
    assert (a != c).mean() > 0.5
    head, _ = render(32, 10, 3, 0)  # image i depends only on (seed, i)
    assert head.tobytes() == a[:10].tobytes()


def test_shapes_render_fast() -> None:
    start = time.perf_counter()
    images, classes = render_shapes.__wrapped__(32, 4096, 3, 7)
    elapsed = time.perf_counter() - start
    assert images.shape == (4096, 3, 32, 32) and images.dtype == np.uint8
    assert elapsed < 2.0, f"4096 images took {elapsed:.2f} s"
    assert set(np.bincount(classes)) and np.bincount(classes).min() > 1200  # balanced classes


def test_shapes_look_like_shapes() -> None:
    images, _ = render_shapes(32, 256, 3, 0)
    x = images.astype(np.float64)
    assert x.std(axis=(1, 2, 3)).min() > 10  # never a flat image
    assert len({img.tobytes() for img in images}) == 256


def test_shape_edges_are_anti_aliased() -> None:
    from ganforge.plugins.default_datasets.shapes import _DRAWS, _render_chunk

    u = np.full([1, _DRAWS], 0.5)
    u[0, 7] = 0.0  # no small shapes
    u[0, 24:32] = [0.0, 0.5, 0.5, 0.5, 0.0, 0.6, 1.0, 1.0]  # main slot: a circle in the middle
    img, classes = _render_chunk(u, 32)
    assert classes[0] == 0
    img = img[0].astype(np.float64)
    bg, fg = img[0, 0], img[16, 16]
    channel = int(np.argmax(np.abs(fg - bg)))
    alpha = (img[..., channel] - bg[channel]) / (fg[channel] - bg[channel])
    radius = 32 * (0.2 + 0.12 * 0.5)
    assert abs(alpha.sum() - np.pi * radius**2) < 0.01 * np.pi * radius**2  # the area is right
    partial = (alpha > 0.02) & (alpha < 0.98)
    perimeter = 2 * np.pi * radius
    assert 0.7 * perimeter < partial.sum() < 1.5 * perimeter  # about one soft pixel along the edge
    yy, xx = np.indices(alpha.shape) + 0.5
    dist = np.hypot(yy - 16, xx - 16) - radius
    np.testing.assert_allclose(alpha, np.clip(0.5 - dist, 0, 1), atol=1e-5)


def test_shapes_dataset_labels_grey_and_xflip() -> None:
    ds = make_shapes(ShapesConfig(size=50, use_labels=True))
    assert ds.info.resolution == 32 and ds.info.channels == 3 and ds.info.label_dim == 3
    img, label = ds[0]
    assert img.shape == (3, 32, 32) and label.sum() == 1
    _, classes = render_shapes(32, 50, 3, 0)
    assert all(ds.class_index(i) == classes[i] for i in range(50))
    grey = ShapesDataset(resolution=16, size=20, channels=1, xflip=True)
    assert len(grey) == 40 and grey[0][0].shape == (1, 16, 16)
    np.testing.assert_array_equal(grey[20][0], grey[0][0][:, :, ::-1])
    assert make_shapes(ShapesConfig(size=5)).label_dim == 0


def test_shapes_config_validation() -> None:
    for bad in ({"resolution": 48}, {"channels": 2}, {"size": 0}, {"colour": 1}):
        with pytest.raises(ValidationError):
            ShapesConfig(**bad)


# -- toyset -----------------------------------------------------------------------------------------


def _peak_bin(spectrum: np.ndarray, lo: int, hi: int) -> int:
    return lo + int(np.argmax(spectrum[lo:hi]))


@pytest.mark.parametrize("f", [0.2, 0.45, 0.7])
def test_toyset_spectral_peak_sits_at_the_configured_fraction(f: float) -> None:
    res = 64
    images = generate_toyset(res, 8, freqs=[(f, f)], seed=3).astype(np.float64) / 127.5 - 1
    spectrum = reduced_spectrum(images)
    assert len(spectrum) == int(np.sqrt(2) * res / 2) + 1
    expected = f * np.sqrt(2) * res / 2  # fraction of the largest radius (the corner), in cycles per image
    peak = _peak_bin(spectrum, 2, len(spectrum))
    assert abs(peak - expected) <= 1.5, (peak, expected)
    assert spectrum[peak] > 30 * np.median(spectrum[2:])  # a real peak, not noise


def test_toyset_default_has_two_peaks_in_the_default_ranges() -> None:
    ds = ToysetDataset()  # resolution 64, 100 images, freqs [[0.05, 0.15], [0.75, 0.85]]
    assert len(ds) == 100 and ds.image_shape == [3, 64, 64] and ds.name == "toyset64_100"
    images = np.stack([ds[i][0] for i in range(len(ds))]).astype(np.float64) / 127.5 - 1
    spectrum = reduced_spectrum(images)
    top = np.sqrt(2) * 64 / 2
    half = len(spectrum) // 2
    low, high = _peak_bin(spectrum, 1, half), _peak_bin(spectrum, half, len(spectrum))
    assert 0.05 * top - 1 <= low <= 0.15 * top + 1
    assert 0.75 * top - 1 <= high <= 0.85 * top + 1
    mid = spectrum[int(0.4 * top):int(0.6 * top)].mean()
    assert spectrum[low] > 50 * mid and spectrum[high] > 50 * mid


def test_toyset_seed_subset_and_labels() -> None:
    from ganforge.plugins.default_datasets.toyset import DEFAULT_FREQS, _generate_cached

    a = generate_toyset(32, 6, seed=0)
    uncached = _generate_cached.__wrapped__(32, 6, DEFAULT_FREQS, 0, False)
    assert np.array_equal(a, uncached)
    assert not np.array_equal(a, generate_toyset(32, 6, seed=1))
    assert np.array_equal(generate_toyset(32, 3, seed=0), a[:3])  # a longer set only appends images
    sub = ToysetDataset(resolution=32, size=6, subset=2, use_labels=True)
    assert len(sub) == 2 and np.array_equal(sub[1][0], a[1])
    np.testing.assert_array_equal(sub[1][1], [0, 1])  # image i is class i


def test_highpass_filter_matches_its_definition() -> None:
    import torch

    x = torch.arange(3 * 4 * 5, dtype=torch.float32).reshape(3, 4, 5) ** 1.5
    y = highpass(x)
    p = torch.nn.functional.pad(x[None], (1, 1, 1, 1), mode="reflect")[0]
    kernel = torch.tensor([[1.0, -1.0], [-1.0, 1.0]]).view(1, 1, 2, 2).repeat(3, 1, 1, 1)
    want = torch.nn.functional.conv2d(p[None], kernel, groups=3)[0, :, :4, :5]
    torch.testing.assert_close(y, want)
    assert torch.allclose(highpass(torch.ones(1, 8, 8)), torch.zeros(1, 8, 8))  # constant images vanish


def test_toyset_highpass_removes_low_frequencies() -> None:
    plain = generate_toyset(64, 8, seed=0).astype(np.float64) / 127.5 - 1
    high = generate_toyset(64, 8, seed=0, highpass=True).astype(np.float64) / 127.5 - 1
    sp, sh = reduced_spectrum(plain), reduced_spectrum(high)
    low, top = slice(2, 7), slice(33, 39)
    assert sh[low].mean() / sp[low].mean() < 0.05 * (sh[top].mean() / sp[top].mean())
    assert (high == 1).mean() + (high == -1).mean() < 0.01  # the 1/4 scaling avoids clipping


def test_toyset_config_and_writer(tmp_path: Path) -> None:
    with pytest.raises(ValidationError):
        ToysetConfig(freqs=[(0.5, 0.2)])
    with pytest.raises(ValidationError):
        ToysetConfig(resolution=60)
    out = write_toyset(tmp_path / "toyset32_4", ToysetConfig(resolution=32, size=4))
    names = sorted(p.name for p in out.iterdir())
    assert names == ["00000000.png", "00000001.png", "00000002.png", "00000003.png", "dataset.json"]
    from PIL import Image

    first = np.asarray(Image.open(out / "00000000.png"))
    assert first.shape == (32, 32, 3)
    np.testing.assert_array_equal(first.transpose(2, 0, 1), generate_toyset(32, 4)[0])
