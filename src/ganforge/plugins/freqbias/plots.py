"""Figures of the frequency-bias paper (Schwarz et al., NeurIPS 2021, figures 3-7), drawn with
matplotlib's object API (no pyplot state, the Agg canvas; safe in tests and without a display).

* :func:`plot_spectrum`: reduced spectra of the data and of predictions, mean +- std bands, log y,
  DC excluded, x axis ``f / f_nyq`` (``UPSTREAM.md`` §5.4).
* :func:`plot_spectrum_error`: relative spectrum error, iterations x frequency, clamped to [-1, 1],
  diverging ``bwr`` colour map, iteration 0 at the bottom.
* :func:`plot_image_evolution`: rows of sample images at several iterations, ground truth last.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["new_figure", "save_figure", "plot_spectrum", "plot_spectrum_error", "plot_image_evolution"]


def new_figure(figsize: tuple[float, float] = (6.4, 4.8), **kwargs: Any) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=figsize, **kwargs)


def save_figure(fig: Any, path: str | os.PathLike[str], dpi: int = 100) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=dpi, bbox_inches="tight")


def _freq_ticks(ax: Any, resolution: int, axis: str = "x") -> None:
    from ganforge.plugins.freqbias.spectrum import nyquist_bin

    fnyq = nyquist_bin(resolution)
    ticks = [0, fnyq / 2, fnyq]
    labels = [f"{t / fnyq:.1f}" for t in ticks]
    if axis == "x":
        ax.set_xlim(0, fnyq)
        ax.set_xticks(ticks, labels)
        ax.set_xlabel("f / f_nyq")
    else:
        ax.set_yticks(ticks, labels)


def _band(ax: Any, mean: np.ndarray, std: np.ndarray, **kwargs: Any) -> None:
    x = np.arange(len(mean))
    (line,) = ax.plot(x, mean, **kwargs)
    ax.fill_between(x, mean - std, mean + std, color=line.get_color(), alpha=0.3, linewidth=0)


def plot_spectrum(real: dict[str, Any], curves: Sequence[tuple[str, dict[str, Any]]], resolution: int,
                  path: str | os.PathLike[str], title: str | None = None) -> None:
    """Real spectrum (dashed) and one or more predicted spectra, mean +- std, DC excluded, log scale.

    Args:
        real: ``{"mean": [L], "std": [L]}`` of the data.
        curves: ``(label, {"mean", "std"})`` per prediction (e.g. per iteration).
        resolution: image size (for the frequency axis).
        path: PNG to write.
    """
    import matplotlib

    fig = new_figure()
    ax = fig.add_subplot()
    mean_r, std_r = np.asarray(real["mean"])[1:], np.asarray(real["std"])[1:]
    _band(ax, mean_r, std_r, color="C0", ls="--", label="ground truth")
    colours = matplotlib.colormaps["autumn"](np.linspace(0.0, 0.8, max(len(curves), 1)))
    single = len(curves) == 1
    for (label, stats), colour in zip(curves, colours, strict=False):
        mean, std = np.asarray(stats["mean"])[1:], np.asarray(stats["std"])[1:]
        _band(ax, mean, std, color="tab:orange" if single else colour, ls="-", label=label)
    _freq_ticks(ax, resolution)
    ax.set_ylabel("spectral density")
    low = (mean_r - std_r).min()
    low = low if low > 0 else mean_r.min()
    ax.set_ylim(low * 0.1, (mean_r + std_r).max() * 1.1)
    ax.set_yscale("log")
    ax.legend(loc="upper right", ncol=2 if len(curves) < 4 else 1, fontsize="small")
    if title:
        ax.set_title(title)
    save_figure(fig, path)


def plot_spectrum_error(errors: np.ndarray, iterations: Sequence[int], resolution: int,
                        path: str | os.PathLike[str], title: str | None = None) -> None:
    """Spectrum error heatmap: rows = logged iterations (first at the bottom), columns = bins 1..L-1.

    Args:
        errors: ``[T, L - 1]`` relative errors (clamped to [-1, 1] here again for safety).
        iterations: the ``T`` iterations of the rows.
    """
    errors = np.clip(np.asarray(errors, dtype=np.float64), -1, 1)
    fig = new_figure()
    ax = fig.add_subplot()
    rows, cols = errors.shape
    image = ax.imshow(errors, cmap="bwr", vmin=-1, vmax=1, origin="lower", aspect=cols / max(rows, 1),
                      interpolation="nearest", extent=(-0.5, cols - 0.5, -0.5, rows - 0.5))
    _freq_ticks(ax, resolution)
    ticks = sorted({0, rows // 2, rows - 1})
    ax.set_yticks(ticks, [_fmt_iter(iterations[t]) for t in ticks])
    ax.set_ylabel("training iteration")
    fig.colorbar(image, ax=ax, ticks=[-1, 0, 1], fraction=0.046, pad=0.04)
    if title:
        ax.set_title(title)
    save_figure(fig, path)


def _fmt_iter(it: int) -> str:
    return f"{it / 1000:g}k" if it >= 1000 else str(it)


def plot_image_evolution(rows: Sequence[tuple[str, np.ndarray]], path: str | os.PathLike[str],
                         title: str | None = None) -> None:
    """Rows of images with a label on the left.

    Args:
        rows: ``(label, uint8 [H, W, 3] image strip)`` per row, all the same width.
    """
    height, width = rows[0][1].shape[:2]
    strip_w = min(max(width / 100, 2.0), 14.0)  # inches: about one pixel per pixel at 100 dpi
    row_h, gap, margin, top = strip_w * height / width, 0.06, 1.2, (0.4 if title else 0.05)
    fig_w, fig_h = margin + strip_w + 0.05, len(rows) * (row_h + gap) + top
    fig = new_figure(figsize=(fig_w, fig_h))
    for i, (label, strip) in enumerate(rows):
        bottom = fig_h - top - (i + 1) * (row_h + gap) + gap
        ax = fig.add_axes((margin / fig_w, bottom / fig_h, strip_w / fig_w, row_h / fig_h))
        ax.imshow(strip, interpolation="nearest", aspect="auto")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize="small")
    if title:
        fig.suptitle(title, y=1 - 0.05 / fig_h, va="top")
    save_figure(fig, path)
