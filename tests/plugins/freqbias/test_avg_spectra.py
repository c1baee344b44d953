"""avg_spectra (stats, calc, heatmap, slices) on white noise, sinusoids and networks; the spectrum CLI."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image

from ganforge.core.errors import DataError
from ganforge.plugins.freqbias.avg_spectra import (
    calc_spectrum,
    heatmap_db,
    image_stats,
    kaiser_window,
    load_spectrum,
    plot_heatmap,
    plot_slices,
)


def _save(path, array):
    Image.fromarray(array.astype(np.uint8)).save(path)
    return str(path)


def test_kaiser_window_is_separable_symmetric_unit_energy():
    import scipy.signal

    w = kaiser_window(16, beta=8)
    assert w.square().sum().item() == pytest.approx(1.0)
    torch.testing.assert_close(w, w.flip(0).flip(1))
    k = scipy.signal.windows.kaiser(16, 8, sym=True)
    expected = np.outer(k, k) / np.sqrt((np.outer(k, k) ** 2).sum())
    np.testing.assert_allclose(w.numpy(), expected, rtol=1e-12)


def test_stats_and_white_noise_spectrum(tmp_path):
    rnd = np.random.default_rng()
    folder = tmp_path / "noise"
    folder.mkdir()
    noise = rnd.integers(0, 256, (3, 32, 32, 3))
    for i, img in enumerate(noise):
        _save(folder / f"{i}.png", img)
    source = _save(tmp_path / "one.png", noise[0])
    mean, std = image_stats(source)
    assert mean == pytest.approx(noise[0].mean()) and std == pytest.approx(noise[0].std())
    dest = calc_spectrum(source, tmp_path / "one.npz", mean=mean, std=std, interp=2)
    spectrum, size = load_spectrum(dest)
    assert size == 32 and spectrum.shape == (64, 64)
    # Parseval: the mean of |FFT|^2 over the padded grid is sum(w^2 x^2), averaged over channels
    x = (torch.from_numpy(noise[0].transpose(2, 0, 1)).double() - mean) / std
    expected = (kaiser_window(32).square() * x.square()).sum(dim=(1, 2)).mean()
    assert spectrum.mean() == pytest.approx(float(expected), rel=1e-9)
    # white noise of unit variance after whitening: a flat spectrum at about 1 (0 dB)
    spectra = [load_spectrum(calc_spectrum(_save(tmp_path / f"n{i}.png", img), tmp_path / f"n{i}.npz",
                                           mean=127.5, std=math.sqrt((256**2 - 1) / 12)))[0]
               for i, img in enumerate(noise)]
    avg = np.mean(spectra, axis=0)
    assert avg.mean() == pytest.approx(1.0, rel=0.1)


@pytest.mark.parametrize("trial", range(2))
def test_sinusoid_peak_where_expected(tmp_path, trial):
    rnd = np.random.default_rng()
    n, k = 32, int(rnd.integers(2, 14))
    xx = np.arange(n)[None, :].repeat(n, 0)
    img = 127.5 + 100 * np.cos(2 * np.pi * k * xx / n + rnd.uniform(0, 6))
    source = _save(tmp_path / "wave.png", np.repeat(img[:, :, None], 3, axis=2))
    spectrum, size = load_spectrum(calc_spectrum(source, tmp_path / "wave.npz", mean=127.5, std=70, interp=4))
    peak = np.unravel_index(np.argmax(spectrum), spectrum.shape)
    # horizontal frequency k; x4 zero padding
    assert peak[0] == 0 and peak[1] in (k * 4, spectrum.shape[1] - k * 4)
    hmap, freqs = heatmap_db(spectrum, size)
    assert hmap.shape == (4 * n + 1, 4 * n + 1) and freqs[0] == -16 and freqs[-1] == 16
    row, col = np.unravel_index(np.argmax(hmap), hmap.shape)
    assert freqs[row] == 0 and abs(freqs[col]) == pytest.approx(k)
    np.testing.assert_allclose(hmap, hmap[::-1, ::-1])  # symmetric about DC after duplicating row/col 0


def test_network_source_and_plots(tmp_path, toy_plugins):
    from ganforge.plugins.freqbias.config import resolve_testbed_config
    from ganforge.plugins.freqbias.testbed_generator import train_generator_testbed

    config, _ = resolve_testbed_config("generator", sets=[
        "generator.name=toy", "dataset=photos", "data.resolution=8", "data.subset=2", "training.iterations=1",
        "training.progress=false", "training.threads=1"])
    run = train_generator_testbed(config, tmp_path / "run").run_dir
    a = calc_spectrum(run / "model.pt", tmp_path / "net.npz", mean=127, std=60, num=5, interp=2)
    b = calc_spectrum(run / "model.pt", tmp_path / "net2.npz", mean=127, std=60, num=5, interp=2)
    np.testing.assert_array_equal(load_spectrum(a)[0], load_spectrum(b)[0])  # seeds make it reproducible
    c = calc_spectrum("photos", tmp_path / "photos.npz", mean=127, std=60, num=2)
    assert plot_heatmap(a, tmp_path / "h.png").stat().st_size > 2000
    assert plot_slices([a, b], tmp_path / "s.png").stat().st_size > 2000
    with pytest.raises(DataError, match="must share"):
        plot_slices([a, c], tmp_path / "s2.png")


def test_spectrum_cli(tmp_path, cli):
    source = _save(tmp_path / "img.png", np.random.default_rng().integers(0, 256, (16, 16, 3)))
    result = cli(["spectrum", "stats", "--source", source])
    assert result.exit_code == 0 and result.output.startswith("--mean=")
    result = cli(["spectrum", "calc", "--source", source, "--dest", str(tmp_path / "a.npz"), "--interp", "2"])
    assert result.exit_code == 0, result.output
    assert "computed from the source" in result.output
    assert cli(["spectrum", "heatmap", str(tmp_path / "a.npz")]).exit_code == 0
    assert (tmp_path / "a-heatmap.png").is_file()
    result = cli(["spectrum", "slices", str(tmp_path / "a.npz"), "--save", str(tmp_path / "sl.png")])
    assert result.exit_code == 0 and (tmp_path / "sl.png").stat().st_size > 0
    result = cli(["spectrum", "heatmap", str(tmp_path / "img.png")])
    assert result.exit_code == 2 and "not a spectrum file" in result.output
    result = cli(["spectrum", "calc", "--source", source, "--dest", str(tmp_path / "b.npz"), "--mean", "1",
                  "--std", "0"])
    assert result.exit_code == 2 and "std must be positive" in result.output


def test_native_checkpoint_source(tmp_path, toy_plugins):
    from ganforge.core.checkpoint import FORMAT, FORMAT_VERSION, atomic_save
    from ganforge.core.config import resolve_config
    from ganforge.core.registry import get_registry
    from ganforge.core.specs import DataInfo
    from tests.conftest import toy_config

    config, _ = resolve_config(toy_config(tmp_path))
    info = DataInfo(resolution=8, channels=3, label_dim=0, name="toydata")
    G = get_registry().get("generator", "toy").build(config.generator, info)
    snapshot = tmp_path / "network-snapshot-000000.pt"  # a ganforge network snapshot, as a run writes it
    atomic_save({"format": FORMAT, "format_version": FORMAT_VERSION, "kind": "network",
                 "config": config.to_dict(), "info": info.to_dict(), "networks": {"G_ema": G.state_dict()}},
                snapshot)
    mean, std = image_stats(snapshot, num=6, batch=4)
    assert 0 <= mean <= 255 and std > 0
    spectrum, size = load_spectrum(calc_spectrum(snapshot, tmp_path / "g.npz", mean=mean, std=std, num=6,
                                                 batch=4, interp=1))
    assert size == 8 and spectrum.shape == (8, 8) and np.isfinite(spectrum).all()


@pytest.mark.parametrize("size", [8, 9])
def test_heatmap_db_centres_dc_closes_the_axes_and_smooths(size):
    import scipy.ndimage

    spectrum = np.random.default_rng().uniform(0.1, 10, (size, size))
    hmap, freqs = heatmap_db(spectrum, 4)
    assert hmap.shape == (size + 1, size + 1) and freqs.shape == (size + 1,)
    np.testing.assert_allclose(hmap[:size, :size], 10 * np.log10(np.fft.fftshift(spectrum)))
    np.testing.assert_array_equal(hmap[size], hmap[0])  # the first row and column repeat at the end
    np.testing.assert_array_equal(hmap[:, size], hmap[:, 0])
    assert hmap[size // 2, size // 2] == pytest.approx(10 * np.log10(spectrum[0, 0]))  # DC in the middle
    blurred, _ = heatmap_db(spectrum, 3, smooth=0.5)  # sigma: 0.5 cycles per image = size / 3 * 0.5 bins
    want = scipy.ndimage.gaussian_filter(hmap, sigma=size / 3 * 0.5, mode="nearest")
    np.testing.assert_allclose(blurred, want)
    flat, _ = heatmap_db(np.full((size, size), 100.0), 2, smooth=2.0)
    np.testing.assert_allclose(flat, 20.0)
    assert heatmap_db(np.zeros((size, size)), 2)[0].max() == pytest.approx(-300)  # floor at 1e-30
