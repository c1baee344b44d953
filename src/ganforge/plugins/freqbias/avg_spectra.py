"""Average 2-D power spectra of datasets and networks, with heatmap and slice plots.

The analysis of StyleGAN3 (Karras et al., "Alias-Free Generative Adversarial Networks", NeurIPS
2021, https://arxiv.org/abs/2106.12423, figure 4 and the official ``avg_spectra.py``; facts in
``UPSTREAM.md`` §2.5):

* :func:`image_stats`: float64 mean and std over all pixels and channels (uint8 values 0..255).
* :func:`calc_spectrum`: each image is whitened with those, ``(x - mean) / std``, multiplied by a
  separable Kaiser window (``beta``, symmetric, normalised to unit energy), zero-padded to
  ``interp * size`` and transformed; ``|FFT2|^2`` is averaged over channels and images in float64.
  Saved as ``.npz`` with ``spectrum [S, S]`` (DC at ``[0, 0]``) and ``image_size``.
* :func:`plot_heatmap`: the spectrum in dB (``10 log10``), reordered so DC is at the centre and the
  axes run symmetrically from ``-S/2`` to ``+S/2`` bins (the Nyquist bin at both ends), optionally
  blurred (a Gaussian of ``smooth`` cycles per image), filled contours at -40..20 dB (13 levels,
  ``Blues``).
* :func:`plot_slices`: radial profiles at 0 and 45 degrees of one or more spectra, -50..30 dB.

Sources: networks are anything ``ganforge.load_network`` reads (ganforge checkpoints, testbed
``model.pt``, foreign pickles through importer plugins); image ``i`` uses seed ``seed + i`` with
``z = RandomState(seed + i).randn(1, z_dim)`` and a class drawn from the same RandomState, converted
to uint8 like the generation tools. Data is anything ``--data`` accepts; ``num`` takes a seeded
random subset.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch

from ganforge.core.errors import ConfigError, DataError

__all__ = ["NETWORK_SUFFIXES", "DEFAULT_NETWORK_NUM", "is_network", "iter_images", "image_stats",
           "kaiser_window", "calc_spectrum", "load_spectrum", "heatmap_db", "plot_heatmap", "plot_slices"]

NETWORK_SUFFIXES = (".pt", ".pth", ".pkl")
#: Images drawn from a network when ``num`` is not given.
DEFAULT_NETWORK_NUM = 1000


def is_network(source: str | os.PathLike[str]) -> bool:
    """A file with a network suffix (``.pt``, ``.pth``, ``.pkl``)."""
    path = Path(source)
    return path.is_file() and path.suffix.lower() in NETWORK_SUFFIXES


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def _network_images(path: str, num: int, seed: int, batch: int,
                    device: torch.device) -> Iterator[torch.Tensor]:
    from ganforge.core.checkpoint import load_network
    from ganforge.core.images import to_uint8
    from ganforge.core.options import call_network

    G = load_network(path, device=device)
    z_dim, c_dim = int(G.z_dim), int(getattr(G, "c_dim", 0))
    for start in range(0, num, batch):
        zs, cs = [], []
        for s in range(seed + start, seed + min(start + batch, num)):
            rnd = np.random.RandomState(s % (1 << 32))
            zs.append(rnd.randn(1, z_dim))
            c = np.zeros([1, c_dim])
            if c_dim:
                c[0, rnd.randint(c_dim)] = 1
            cs.append(c)
        z = torch.from_numpy(np.concatenate(zs)).to(device, torch.float32)
        c = torch.from_numpy(np.concatenate(cs)).to(device, torch.float32)
        with torch.no_grad():
            img = call_network(G, z, c, noise_mode="const")
        yield to_uint8(img.float()).permute(0, 3, 1, 2).cpu()  # [B, C, H, W] uint8


def _data_images(source: str, num: int | None, seed: int, batch: int) -> Iterator[torch.Tensor]:
    from ganforge.core.registry import get_registry
    from ganforge.plugins.freqbias.data import data_source

    registry = get_registry()
    cfg_dict = data_source(str(source), registry, "--source")
    spec = registry.get("dataset", cfg_dict["name"])
    try:
        cfg = spec.config.model_validate({"resolution": None, **cfg_dict})  # native size, where allowed
    except Exception:
        try:
            cfg = spec.config.model_validate(cfg_dict)
        except Exception as exc:
            raise ConfigError(f"cannot use {source!r} as data: {exc}", "--source") from None
    dataset = spec.build(cfg)
    try:
        indices = np.arange(len(dataset))
        if num is not None and num < len(indices):
            rnd = np.random.RandomState(seed % (1 << 31))
            indices = np.sort(rnd.permutation(indices)[:num])
        if len(indices) == 0:
            raise DataError("holds no images", str(source))
        for start in range(0, len(indices), batch):
            chunk = indices[start:start + batch]
            yield torch.from_numpy(np.stack([np.asarray(dataset[int(i)][0]) for i in chunk]))
    finally:
        close = getattr(dataset, "close", None)
        if callable(close):
            close()


def iter_images(source: str | os.PathLike[str], num: int | None = None, seed: int = 0, batch: int = 32,
                device: str = "auto") -> Iterator[torch.Tensor]:
    """Batches of uint8 images ``[B, C, H, W]`` from a network file or from data (module docstring)."""
    source = os.fspath(source)
    if is_network(source):
        yield from _network_images(source, num or DEFAULT_NETWORK_NUM, seed, batch, _device(device))
    else:
        yield from _data_images(source, num, seed, batch)


def image_stats(source: str | os.PathLike[str], num: int | None = None, seed: int = 0, batch: int = 32,
                device: str = "auto") -> tuple[float, float]:
    """Mean and std (float64, over every pixel and channel, uint8 scale) of the images of ``source``."""
    count, total, squares = 0, 0.0, 0.0  # running sums of 1, x and x^2 over all values
    for images in iter_images(source, num, seed, batch, device):
        values = images.to(torch.float64)
        count += values.numel()
        total += values.sum().item()
        squares += values.square().sum().item()
    mean = total / count
    variance = max(squares / count - mean * mean, 0.0)  # E[x^2] - E[x]^2, rounding can make it < 0
    return mean, float(np.sqrt(variance))


def kaiser_window(size: int, beta: float = 8.0) -> torch.Tensor:
    """Separable ``[size, size]`` Kaiser window (symmetric), scaled so that the sum of squares is 1."""
    import scipy.signal

    w = torch.from_numpy(scipy.signal.windows.kaiser(size, beta=beta, sym=True)).to(torch.float64)
    window = torch.outer(w, w)
    return window / window.square().sum().sqrt()


def calc_spectrum(source: str | os.PathLike[str], dest: str | os.PathLike[str], *, mean: float, std: float,
                  num: int | None = None, seed: int = 0, beta: float = 8.0, interp: int = 4, batch: int = 32,
                  device: str = "auto", progress: bool = False) -> Path:
    """Average power spectrum of ``source``'s images (module docstring), written to ``dest`` (.npz)."""
    from ganforge.plugins.freqbias._run import progress_bar

    if std <= 0:
        raise ConfigError(f"std must be positive, got {std}", "--std")
    if interp < 1:
        raise ConfigError(f"interp must be >= 1, got {interp}", "--interp")
    dev = _device(device)
    spectrum: torch.Tensor | None = None
    window: torch.Tensor | None = None
    count, size = 0, 0
    total = (num or DEFAULT_NETWORK_NUM) if is_network(source) else num
    with progress_bar(total or 0, 0, progress and bool(total), "spectrum") as update:
        for images in iter_images(source, num, seed, batch, device):
            if window is None:
                size = int(images.shape[-1])
                if images.shape[-2] != size:
                    raise DataError(f"images are {images.shape[-1]}x{images.shape[-2]}, not square",
                                    str(source))
                window = kaiser_window(size, beta).to(dev)
                spectrum = torch.zeros(size * interp, size * interp, dtype=torch.float64, device=dev)
            x = (images.to(dev, torch.float64) - mean) / std * window  # [B, C, H, W]
            x = torch.nn.functional.pad(x, [0, size * (interp - 1), 0, size * (interp - 1)])
            power = torch.fft.fft2(x).abs().square().mean(dim=1)  # [B, S, S], channel mean
            spectrum += power.sum(dim=0)
            count += images.shape[0]
            update(count)
    if spectrum is None or count == 0:
        raise DataError("holds no images", str(source))
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    np.savez(dest, spectrum=(spectrum / count).cpu().numpy(), image_size=np.int64(size))
    return dest if dest.suffix == ".npz" else dest.with_name(dest.name + ".npz")


def load_spectrum(path: str | os.PathLike[str]) -> tuple[np.ndarray, int]:
    """``(spectrum [S, S], image_size)`` of a file written by :func:`calc_spectrum`."""
    try:
        with np.load(path, allow_pickle=False) as data:
            return np.asarray(data["spectrum"], dtype=np.float64), int(data["image_size"])
    except (OSError, KeyError, ValueError) as exc:
        raise DataError(f"is not a spectrum file of gan spectrum calc ({exc})", str(path)) from None


def _centred_order(size: int) -> np.ndarray:
    """Indices that reorder an FFT-ordered axis of ``size`` bins to run from the lowest frequency to
    the highest with DC in the middle, repeating the first bin at the end (``size + 1`` indices): the
    Nyquist bin of an even size then closes the axis symmetrically at ``+size / 2``."""
    return (np.arange(size + 1) - size // 2) % size


def heatmap_db(spectrum: np.ndarray, image_size: int, smooth: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """``(hmap [S+1, S+1] in dB with DC at the centre, freqs [S+1] in cycles per image)``.

    ``smooth`` is the standard deviation of a Gaussian blur in cycles per image (so in
    ``S / image_size`` spectrum bins); values past the border repeat the edge.
    """
    rows, cols = _centred_order(spectrum.shape[0]), _centred_order(spectrum.shape[1])
    hmap = 10 * np.log10(np.maximum(spectrum[np.ix_(rows, cols)], 1e-30))
    if smooth > 0:
        import scipy.ndimage

        bins_per_cycle = spectrum.shape[0] / image_size  # the frequency interpolation of calc_spectrum
        hmap = scipy.ndimage.gaussian_filter(hmap, sigma=bins_per_cycle * smooth, mode="nearest")
    freqs = np.linspace(-0.5, 0.5, num=hmap.shape[0], endpoint=True) * image_size
    return hmap, freqs


def plot_heatmap(npz: str | os.PathLike[str], save: str | os.PathLike[str], dpi: int = 100,
                 smooth: float = 1.25) -> Path:
    """Filled-contour heatmap of one spectrum (levels -40..20 dB, ``Blues``), written to ``save``."""
    from ganforge.plugins.freqbias.plots import new_figure, save_figure

    spectrum, size = load_spectrum(npz)
    hmap, freqs = heatmap_db(spectrum, size, smooth)
    fig = new_figure(figsize=(5.2, 4.4))
    ax = fig.add_subplot()
    levels = np.linspace(-40, 20, num=13, endpoint=True)
    contour = ax.contourf(freqs, freqs, hmap, levels=levels, extend="both", cmap="Blues")
    ax.set_aspect("equal")
    ticks = np.linspace(-0.5, 0.5, 5) * size
    ax.set_xticks(ticks)
    ax.set_yticks(ticks)
    ax.set_xlabel("frequency (cycles per image)")
    ax.set_title(Path(npz).stem, fontsize="small")
    fig.colorbar(contour, ax=ax, label="dB")
    save_figure(fig, save, dpi=dpi)
    return Path(save)


def plot_slices(npzs: Sequence[str | os.PathLike[str]], save: str | os.PathLike[str], dpi: int = 100,
                smooth: float = 0.0) -> Path:
    """0 and 45 degree radial slices (from DC outwards) of the spectra, -50..30 dB, written to ``save``."""
    from ganforge.plugins.freqbias.plots import new_figure, save_figure

    if not npzs:
        raise ConfigError("give at least one spectrum file", "NPZ")
    fig = new_figure(figsize=(10, 4))
    axes = [fig.add_subplot(1, 2, i + 1) for i in range(2)]
    shape = None
    for npz in npzs:
        spectrum, size = load_spectrum(npz)
        if shape is not None and (spectrum.shape, size) != shape:
            raise DataError(f"has a {spectrum.shape[0]}x{spectrum.shape[1]} spectrum of {size}px images; "
                            f"all inputs must share the first one's ({shape[0][0]}x{shape[0][1]}, "
                            f"{shape[1]}px)", str(npz))
        shape = (spectrum.shape, size)
        hmap, freqs = heatmap_db(spectrum, size, smooth)
        centre = hmap.shape[0] // 2
        radius = freqs[centre:]
        axes[0].plot(radius, hmap[centre, centre:], label=Path(npz).stem)
        diag = hmap[np.arange(centre, hmap.shape[0]), np.arange(centre, hmap.shape[1])]
        axes[1].plot(radius * np.sqrt(2), diag, label=Path(npz).stem)
    for ax, angle in zip(axes, (0, 45), strict=True):
        ax.set_ylim(-50, 30)
        ax.set_xlim(0, None)
        ax.grid(True, alpha=0.3)
        ax.set_title(f"{angle} degrees")
        ax.set_xlabel("frequency (cycles per image)")
        ax.set_ylabel("dB")
        ax.legend(fontsize="small")
    save_figure(fig, save, dpi=dpi)
    return Path(save)
