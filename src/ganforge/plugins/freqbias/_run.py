"""What both testbeds share: the run folder, ``model.pt``, statistics, evaluation logs, progress.

Run folder (as upstream's ``output/<testbed>/<exp>/``)::

    config.json                 the resolved testbed configuration (``--config`` reproduces the run)
    model.pt                    networks, optimisers, counters, RNG state (resumable; weights_only)
    stats.jsonl                 one line per print_every iterations (losses) and per evaluation (PSNR)
    training_data.png           the fixed image set (up to 8 images)
    logs/spectrum_real.npz      reduced-spectrum mean/std of the images
    logs/spectrum_%08d.npz      the same of the predictions at each evaluation (+ it, psnr)
    imgs/samples_%08d.png       predictions at each evaluation (up to 8 images, one row)
    plots/spectrum_%08d.png     spectrum plot at each evaluation
    eval/                       figures written by ``gan testbed eval``

``model.pt`` is a dict of state_dicts and plain values (``torch.load(weights_only=True)``) with the
format marker :data:`TESTBED_FORMAT`; ``ganforge.load_network`` reads it through this plugin's
``ganforge_load_checkpoint`` hook.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ganforge.core.checkpoint import atomic_save, versions
from ganforge.core.training.setup import capture_rng
from ganforge.core.errors import CheckpointError, ConfigError
from ganforge.core.images import grid_to_uint8, save_png, tile

__all__ = ["torch_threads", "TESTBED_FORMAT", "MODEL_FILE", "RESUMABLE_KEYS",
           "prepare_run_dir", "read_model", "write_model", "StatsFile", "EvalLogger", "progress_bar",
           "batch_indices", "total_iterations", "MAX_SAMPLES", "load_spectrum_log", "run_dir_of"]

TESTBED_FORMAT = "ganforge-freqbias-testbed"
FORMAT_VERSION = 1
MODEL_FILE = "model.pt"
MAX_SAMPLES = 8
#: Training options that may change when a run is resumed (to extend it, or on another device).
RESUMABLE_KEYS = ("iterations", "epochs", "device", "progress", "threads", "print_every", "eval_every",
                  "save_every")


@contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Use ``threads`` intra-op CPU threads inside the block (None: leave torch's setting)."""
    old = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def total_iterations(training: Any, num_images: int) -> int:
    """``training.iterations``, or ``epochs * ceil(N / batch)``."""
    if training.iterations is not None:
        return int(training.iterations)
    batch = min(training.batch_size, num_images)
    return int(training.epochs) * -(-num_images // batch)


def batch_indices(it: int, num_images: int, batch_size: int, seed: int) -> torch.Tensor:
    """Image indices of update ``it`` (1-based): epochs are seeded permutations cut into batches (the last
    one of an epoch may be smaller), a pure function of ``(it, seed)``, so a resumed run sees the same
    order."""
    batch = min(batch_size, num_images)
    per_epoch = -(-num_images // batch)
    epoch, k = divmod(it - 1, per_epoch)
    gen = torch.Generator().manual_seed((seed * 1_000_003 + epoch) % (1 << 63))
    order = torch.randperm(num_images, generator=gen)
    return order[k * batch:(k + 1) * batch]


def _comparable(config: dict[str, Any]) -> dict[str, Any]:
    out = json.loads(json.dumps(config))
    for key in RESUMABLE_KEYS:
        out.get("training", {}).pop(key, None)
    return out


def _diff_keys(a: Any, b: Any, prefix: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        keys = sorted(set(a) | set(b))
        return [k for key in keys for k in _diff_keys(a.get(key), b.get(key), f"{prefix}{key}.")]
    return [] if a == b else [prefix.rstrip(".")]


def run_dir_of(path: str | os.PathLike[str]) -> Path:
    """A run folder given as the folder itself or its ``model.pt``/``config.json``."""
    path = Path(path)
    if path.is_file():
        path = path.parent
    if not (path / "config.json").is_file():
        raise ConfigError(f"{str(path)!r} is not a testbed run folder (no config.json)", "RUN")
    return path


def prepare_run_dir(run_dir: Path, config: dict[str, Any]) -> dict[str, Any] | None:
    """Create ``run_dir``; when it holds a ``model.pt`` of the same configuration, return that (resume)."""
    model = run_dir / MODEL_FILE
    if model.is_file():
        data = read_model(model)
        if data.get("testbed") != config["testbed"]:
            raise ConfigError(f"{run_dir} holds a {data.get('testbed')} testbed run; choose another --name",
                              "--name")
        differ = _diff_keys(_comparable(data["config"]), _comparable(config))
        if differ:
            raise ConfigError(f"{run_dir} holds a run with another configuration (differs in: "
                              f"{', '.join(differ)}); choose another --name or --outdir, or delete that "
                              "folder", "--name")
        return data
    for sub in ("logs", "imgs", "plots"):
        (run_dir / sub).mkdir(parents=True, exist_ok=True)
    for stale in ("stats.jsonl",):  # a run that died before its first save starts over
        (run_dir / stale).unlink(missing_ok=True)
    for sub, pattern in (("logs", "spectrum_*.npz"), ("imgs", "samples_*.png"), ("plots", "spectrum_*.png")):
        for f in (run_dir / sub).glob(pattern):
            f.unlink()
    return None


def read_model(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a testbed ``model.pt`` (``weights_only=True``) and check its format marker."""
    path = str(path)
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError(f"cannot be read ({type(exc).__name__}: {exc})", path) from None
    if not isinstance(data, dict) or data.get("format") != TESTBED_FORMAT:
        raise CheckpointError("is not a frequency-bias testbed model.pt", path)
    if int(data.get("format_version", 0)) > FORMAT_VERSION:
        raise CheckpointError("was written by a newer ganforge; upgrade ganforge", path)
    return data


def write_model(run_dir: Path, *, config: dict[str, Any], info: dict[str, Any], num_images: int,
                networks: dict[str, torch.nn.Module], optimizers: dict[str, torch.optim.Optimizer], it: int,
                device: torch.device, extra: dict[str, Any] | None = None) -> Path:
    """Write ``model.pt`` atomically (see module docstring); the RNG states are the core's
    (``ganforge.core.training.setup.capture_rng``)."""
    data = {
        "format": TESTBED_FORMAT, "format_version": FORMAT_VERSION, "testbed": config["testbed"],
        "config": config, "info": info, "num_images": int(num_images),
        "networks": {name: net.state_dict() for name, net in networks.items()},
        "optimizers": {name: opt.state_dict() for name, opt in optimizers.items()},
        "progress": {"it": int(it)},
        "rng": capture_rng(device),
        "versions": versions(),
        **(extra or {}),
    }
    path = run_dir / MODEL_FILE
    atomic_save(data, path)
    return path


class StatsFile:
    """``stats.jsonl``; on resume, lines written after the checkpoint's iteration are dropped."""

    def __init__(self, run_dir: Path, resume_it: int | None = None) -> None:
        self.path = run_dir / "stats.jsonl"
        if resume_it is not None and self.path.is_file():
            keep = [line for line in self.path.read_text().splitlines()
                    if line.strip() and json.loads(line).get("it", 0) <= resume_it]
            self.path.write_text("".join(line + "\n" for line in keep))

    def write(self, row: dict[str, Any]) -> None:
        row = {**row, "timestamp": time.time()}
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")


def _strip(images: torch.Tensor) -> np.ndarray:
    """First ``MAX_SAMPLES`` images ``[N, C, H, W]`` in [-1, 1] as one uint8 row ``[H, n*W, 3]``."""
    imgs = grid_to_uint8(images[:MAX_SAMPLES].detach().float().cpu().clamp(-1, 1))
    if imgs.shape[1] == 1:
        imgs = np.repeat(imgs, 3, axis=1)
    return tile(imgs[:, :3], (imgs.shape[0], 1))


def save_strip(path: Path, images: torch.Tensor) -> None:
    save_png(path, _strip(images))


def load_spectrum_log(path: str | os.PathLike[str]) -> dict[str, Any]:
    with np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


class EvalLogger:
    """Writes the per-evaluation logs of a run (spectrum stats, sample strip, spectrum plot)."""

    def __init__(self, run_dir: Path, real_images: torch.Tensor, resolution: int, plots: bool = True) -> None:
        from ganforge.plugins.freqbias.spectrum import spectrum_stats

        self.run_dir = run_dir
        self.resolution = resolution
        self.plots = plots
        self.real = {k: v.numpy() for k, v in spectrum_stats(real_images).items()}
        np.savez(run_dir / "logs" / "spectrum_real.npz", **self.real)
        if not (run_dir / "training_data.png").is_file():
            save_strip(run_dir / "training_data.png", real_images)

    def log(self, it: int, pred: torch.Tensor, psnr: float) -> None:
        from ganforge.plugins.freqbias.plots import plot_spectrum
        from ganforge.plugins.freqbias.spectrum import spectrum_stats

        stats = {k: v.numpy() for k, v in spectrum_stats(pred).items()}
        tmp = self.run_dir / "logs" / f".spectrum_{it:08d}.npz"
        np.savez(tmp, it=np.int64(it), psnr=np.float64(psnr), **stats)
        os.replace(tmp, self.run_dir / "logs" / f"spectrum_{it:08d}.npz")
        save_strip(self.run_dir / "imgs" / f"samples_{it:08d}.png", pred)
        if self.plots:
            plot_spectrum(self.real, [(f"prediction (it {it})", stats)], self.resolution,
                          self.run_dir / "plots" / f"spectrum_{it:08d}.png")


@contextmanager
def progress_bar(total: int, start: int, enabled: bool, description: str) -> Iterator[Any]:
    """A rich progress bar (terminals only, low refresh rate); yields ``update(it, text)``."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    console = Console(highlight=False)
    if not (enabled and console.is_terminal and sys.stdout.isatty()):
        yield lambda it, text="": None
        return
    columns = (TextColumn(f"[bold]{description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[info]}"), TimeElapsedColumn(), TextColumn("left"),
               TimeRemainingColumn())
    with Progress(*columns, console=console, refresh_per_second=2) as progress:
        task = progress.add_task(description, total=total, completed=start, info="")

        def update(it: int, text: str = "") -> None:
            progress.update(task, completed=it, **({"info": text} if text else {}))

        yield update
