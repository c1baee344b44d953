"""``gan testbed eval``: the paper's figures from a testbed run folder, and the final PSNR.

Schwarz et al., NeurIPS 2021 (https://arxiv.org/abs/2111.02447), figures 3-7 and the official
``eval_generator.py`` / ``eval_discriminator.py``. Written to ``<run>/eval/``:

* ``image_evolution.png``: predictions at several logged iterations (rows), ground truth last.
* ``spectrum_evolution.png``: reduced spectra (mean +- std over images, log scale, DC excluded) of the
  data and of the predictions at several iterations.
* ``spectrum_error_evolution.png``: ``mean_gen[1:] / mean_real[1:] - 1`` clamped to [-1, 1] for every
  logged iteration (rows, first at the bottom) and frequency (columns), ``bwr`` colour map; the values
  are also saved as ``spectrum_error_evolution.npz`` (``iterations``, ``error``, ``frequency``).
* ``psnr.json``: the average PSNR of the final predictions (the direct generator's EMA copy in the
  discriminator testbed), recomputed from ``model.pt`` and the data.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ganforge.core.errors import DataError
from ganforge.plugins.freqbias._run import MODEL_FILE, load_spectrum_log, read_model, run_dir_of

__all__ = ["EvalResult", "spectrum_logs", "pick_rows", "final_predictions", "evaluate_run"]


@dataclass
class EvalResult:
    """What ``evaluate_run`` computed and wrote."""

    psnr: float | None = None
    iteration: int | None = None
    figures: list[Path] = field(default_factory=list)


def spectrum_logs(run_dir: Path) -> tuple[dict[str, np.ndarray], list[dict[str, Any]]]:
    """The data's spectrum stats and the per-iteration logs, sorted by iteration."""
    real_file = run_dir / "logs" / "spectrum_real.npz"
    if not real_file.is_file():
        raise DataError("has no logs/spectrum_real.npz; was the run started?", str(run_dir))
    logs = [load_spectrum_log(p) for p in sorted((run_dir / "logs").glob("spectrum_[0-9]*.npz"))]
    if not logs:
        raise DataError("has no logged spectra (logs/spectrum_<it>.npz)", str(run_dir))
    logs.sort(key=lambda d: int(d["it"]))
    return load_spectrum_log(real_file), logs


def pick_rows(count: int, rows: int) -> list[int]:
    """``rows`` indices spread evenly over ``range(count)``, first and last included."""
    if count <= rows:
        return list(range(count))
    return sorted({int(round(i)) for i in np.linspace(0, count - 1, rows)})


def final_predictions(run_dir: Path, device: Any = "cpu") -> tuple[torch.Tensor, torch.Tensor, int]:
    """``(predictions, images, iteration)`` of the run's ``model.pt``: ``G(z_i)`` for the generator testbed,
    the EMA direct generator's images for the discriminator testbed; images as the run used them."""
    from ganforge.plugins.freqbias.checkpoint import build_from_model
    from ganforge.plugins.freqbias.config import resolve_testbed_config
    from ganforge.plugins.freqbias.data import load_testbed_data
    from ganforge.plugins.freqbias.networks import one_hot

    model_file = run_dir / MODEL_FILE
    if not model_file.is_file():
        raise DataError(f"has no {MODEL_FILE}; train first (it is written every save_every iterations)",
                        str(run_dir))
    data = read_model(model_file)
    config, _ = resolve_testbed_config(data["testbed"], data["config"], paper_defaults=False)
    bundle = build_from_model(data, path=str(model_file))
    images = load_testbed_data(config).images
    num = images.shape[0]
    with torch.no_grad():
        if data["testbed"] == "generator":
            from ganforge.core.options import call_network

            G = bundle.G.to(device)
            z = data["latents"].to(device)
            c = torch.zeros(num, getattr(G, "c_dim", 0), device=device)
            batch = min(config.training.batch_size, num)
            pred = torch.cat([call_network(G, z[i:i + batch], c[i:i + batch],
                                                  noise_mode=config.training.noise_mode).float().cpu()
                              for i in range(0, num, batch)])
        else:
            pred = bundle.G_ema(None, one_hot(torch.arange(num), num)).float()
    return pred, images, int(data["progress"]["it"])


def _strip_image(path: Path, images: int) -> np.ndarray:
    """The first ``images`` square tiles of a one-row strip ``[H, n*H, 3]``."""
    from PIL import Image

    with Image.open(path) as img:
        strip = np.asarray(img.convert("RGB"))
    return strip[:, : strip.shape[0] * max(images, 1)]


def evaluate_run(run: str | os.PathLike[str], *, psnr: bool = False, image_evolution: bool = False,
                 spectrum_evolution: bool = False, spectrum_error_evolution: bool = False, rows: int = 6,
                 images: int = 8, device: Any = "cpu") -> EvalResult:
    """Write the requested figures of a testbed run to ``<run>/eval`` (see module docstring).

    Args:
        run: the run folder (or its ``model.pt`` / ``config.json``).
        psnr, image_evolution, spectrum_evolution, spectrum_error_evolution: what to compute.
        rows: how many logged iterations the evolution figures show.
        images: how many images (of the 8 logged per iteration) the image evolution shows.
        device: where to run the network for ``psnr``.
    """
    from ganforge.plugins.freqbias import plots
    from ganforge.plugins.freqbias.spectrum import psnr as psnr_fn
    from ganforge.plugins.freqbias.spectrum import spectrum_error

    run_dir = run_dir_of(run)
    config = json.loads((run_dir / "config.json").read_text())
    out = run_dir / "eval"
    out.mkdir(exist_ok=True)
    result = EvalResult()
    title = f"{config.get('testbed', '?')} testbed: {_network_label(config)}"
    if psnr:
        pred, targets, it = final_predictions(run_dir, device)
        result.psnr, result.iteration = float(psnr_fn(pred, targets).mean()), it
        (out / "psnr.json").write_text(json.dumps({"it": it, "psnr": result.psnr}) + "\n")
    if not (image_evolution or spectrum_evolution or spectrum_error_evolution):
        return result
    real, logs = spectrum_logs(run_dir)
    resolution = int(config["data"]["resolution"] or _resolution_from_logs(real))
    chosen = [logs[i] for i in pick_rows(len(logs), rows)]
    if image_evolution:
        strips = []
        for log in chosen:
            sample = run_dir / "imgs" / f"samples_{int(log['it']):08d}.png"
            if sample.is_file():
                strips.append((f"it {int(log['it'])}", _strip_image(sample, images)))
        truth = run_dir / "training_data.png"
        if truth.is_file():
            strips.append(("ground truth", _strip_image(truth, images)))
        if strips:
            path = out / "image_evolution.png"
            plots.plot_image_evolution(strips, path, title=title)
            result.figures.append(path)
    if spectrum_evolution:
        path = out / "spectrum_evolution.png"
        curves = [(f"it {int(log['it'])}", log) for log in chosen]
        plots.plot_spectrum(real, curves, resolution, path, title=title)
        result.figures.append(path)
    if spectrum_error_evolution:
        means = torch.from_numpy(np.stack([log["mean"] for log in logs]))
        error = spectrum_error(means, torch.from_numpy(real["mean"])).numpy()
        iterations = [int(log["it"]) for log in logs]
        from ganforge.plugins.freqbias.spectrum import frequency_axis

        np.savez(out / "spectrum_error_evolution.npz", iterations=np.asarray(iterations), error=error,
                 frequency=frequency_axis(resolution, error.shape[1] + 1).numpy())
        path = out / "spectrum_error_evolution.png"
        plots.plot_spectrum_error(error, iterations, resolution, path, title=title)
        result.figures.append(path)
    return result


def _network_label(config: dict[str, Any]) -> str:
    net = config.get(config.get("testbed", "generator"), {})
    variant = next((f"{k}={net[k]}" for k in ("upsampling", "downsampling") if k in net), "")
    extra = " + spectrum D" if config.get("model", {}).get("spectrum_disc") else ""
    return f"{net.get('name', '?')} {variant}{extra}".strip()


def _resolution_from_logs(real: dict[str, np.ndarray]) -> int:
    from ganforge.plugins.freqbias.spectrum import spectrum_length

    length = len(real["mean"])
    return next(r for r in range(2, 8192, 2) if spectrum_length(r) >= length)
