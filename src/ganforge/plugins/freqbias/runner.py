"""The one runner both testbeds use: resume, iterate, log, evaluate, save, stop on interrupt.

A testbed describes itself as a :class:`Testbed` (its networks and optimisers, one training step, and
what it evaluates); :func:`run_testbed` does the rest the same way for both: it restores ``model.pt``
when the run folder holds one of the same configuration, evaluates at iteration 0 and every
``eval_every`` (PSNR and reduced spectra of ``predict()``), writes the mean of the step's losses to
``stats.jsonl`` every ``print_every``, saves every ``save_every`` and at the end, stops with a clear
message when a loss becomes non-finite, and saves before re-raising a ``KeyboardInterrupt``.
Devices and RNG states are the core's (``ganforge.core.training.setup``).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ganforge.core.errors import TrainingDivergedError
from ganforge.core.training.setup import restore_rng, select_device
from ganforge.plugins.freqbias._run import (
    EvalLogger,
    StatsFile,
    prepare_run_dir,
    progress_bar,
    total_iterations,
    write_model,
)
from ganforge.plugins.freqbias.spectrum import psnr

__all__ = ["Testbed", "TestbedResult", "open_run", "run_testbed"]


@dataclass
class TestbedResult:
    """What a testbed run ended with."""

    run_dir: Path
    iterations: int
    psnr: float | None


@dataclass
class Testbed:
    """A testbed as the runner drives it.

    Attributes:
        title: shown by the progress bar (``"generator testbed"``).
        networks, optimizers: what ``model.pt`` holds (restored on resume before the first step).
        step: ``step(it) -> {name: value}``: one training iteration (1-based), returning the losses to log.
        predict: ``predict() -> [N, C, H, W]``: the images evaluated against the data (no gradients).
        line: the names of the losses shown in the log line and their decimals.
        extra: more entries saved in ``model.pt`` (e.g. the fixed latents).
    """

    title: str
    networks: dict[str, torch.nn.Module]
    optimizers: dict[str, torch.optim.Optimizer]
    step: Callable[[int], dict[str, float]]
    predict: Callable[[], torch.Tensor]
    line: dict[str, int]
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class OpenRun:
    """A run folder ready to train in: the configuration, the data, the device, what to resume."""

    config: Any
    cfg_dict: dict[str, Any]
    run_dir: Path
    data: Any
    device: torch.device
    resume: dict[str, Any] | None


def open_run(config: Any, run_dir: Path, data: Any) -> OpenRun:
    """Create ``run_dir`` (or find the ``model.pt`` to resume in it), write ``config.json``, seed torch."""
    run_dir.mkdir(parents=True, exist_ok=True)
    cfg_dict = config.to_dict()
    resume = prepare_run_dir(run_dir, cfg_dict)
    (run_dir / "config.json").write_text(json.dumps(cfg_dict, indent=2) + "\n")
    torch.manual_seed(config.training.seed)
    return OpenRun(config, cfg_dict, run_dir, data, select_device(config.training), resume)


def run_testbed(bed: Testbed, run: OpenRun, log: Callable[[str], None]) -> TestbedResult:
    """Train ``bed`` in ``run`` to ``training.iterations`` (or ``epochs``), resuming where it stopped."""
    tr, data, run_dir = run.config.training, run.data, run.run_dir
    num = len(data)
    done = 0
    if run.resume is not None:
        for name, net in bed.networks.items():
            net.load_state_dict(run.resume["networks"][name])
        for name, opt in bed.optimizers.items():
            opt.load_state_dict(run.resume["optimizers"][name])
        done = int(run.resume["progress"]["it"])
        restore_rng(run.resume["rng"], run.device)
    images = data.images.to(run.device)
    stats = StatsFile(run_dir, done if run.resume is not None else None)
    evals = EvalLogger(run_dir, data.images, data.info.resolution)
    total = total_iterations(tr, num)

    def evaluate(it: int) -> float:
        with torch.no_grad():
            pred = bed.predict().float()
        value = float(psnr(pred, images).mean())
        evals.log(it, pred.cpu(), value)
        stats.write({"it": it, "kind": "eval", "psnr": value})
        return value

    def save(it: int) -> None:
        write_model(run_dir, config=run.cfg_dict, info=data.info.to_dict(), num_images=num, networks=bed.networks,
                    optimizers=bed.optimizers, it=it, device=run.device, extra=bed.extra)

    last_psnr = evaluate(0) if done == 0 else None
    rows: list[dict[str, float]] = []
    start = time.time()
    with progress_bar(total, done, tr.progress, bed.title) as update:
        try:
            for it in range(done + 1, total + 1):
                row = bed.step(it)
                done = it
                rows.append(row)
                if it % tr.print_every == 0 or it == total:
                    mean = {k: sum(r[k] for r in rows) / len(rows) for k in rows[0]}
                    if not all(math.isfinite(v) for v in mean.values()):
                        raise TrainingDivergedError(f"the losses became non-finite before iteration {it}; lower "
                                                    f"the learning rate (the last checkpoint is kept in {run_dir})")
                    sec = (time.time() - start) / len(rows)
                    stats.write({"it": it, "kind": "train", **mean, "sec_per_it": sec})
                    shown = "  ".join(f"{k} {mean[k]:.{digits}f}" for k, digits in bed.line.items())
                    log(f"it {it:>7d}  {shown}  {sec:.3f} s/it")
                    rows, start = [], time.time()
                if it % tr.eval_every == 0 or it == total:
                    last_psnr = evaluate(it)
                if it % tr.save_every == 0 or it == total:
                    save(it)
                shown = " ".join(f"{k} {row[k]:.3f}" for k in bed.line)
                update(it, shown + (f"  PSNR {last_psnr:.1f}" if last_psnr is not None else ""))
        except KeyboardInterrupt:
            save(done)
            log(f"interrupted after iteration {done}; model.pt is saved: run the same command to resume")
            raise
    if done == 0:
        save(0)
    return TestbedResult(run_dir=run_dir, iterations=done, psnr=last_psnr)
