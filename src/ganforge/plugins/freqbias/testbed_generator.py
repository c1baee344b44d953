"""The generator testbed: any registered generator regresses a fixed image set from fixed latents.

Schwarz, Liao and Geiger, "On the Frequency Bias of Generative Models", NeurIPS 2021
(https://arxiv.org/abs/2111.02447), section 4.1: with no discriminator, the only spectral bias left in
the outputs is the generator's own (its upsampling, padding, normalisation). Image ``i`` gets a fixed
latent ``z_i ~ N(0, I)`` drawn once from the training seed; G is trained with Adam (lr 0.001,
betas (0, 0.99)) to map ``z_i`` to ``x_i`` with the MSE, the spectrum loss, or a weighted sum
(``training.losses``); the reduced spectra and the PSNR of ``G(z_i)`` are logged at iteration 0 (before
any update) and every ``eval_every`` iterations (``UPSTREAM.md`` §5.5).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from ganforge.core.errors import TrainingDivergedError
from ganforge.core.options import call_network
from ganforge.plugins.freqbias._run import (
    EvalLogger,
    StatsFile,
    batch_indices,
    prepare_run_dir,
    progress_bar,
    restore_rng,
    select_device,
    torch_threads,
    total_iterations,
    write_model,
)
from ganforge.plugins.freqbias.data import load_testbed_data
from ganforge.plugins.freqbias.networks import build_generator
from ganforge.plugins.freqbias.spectrum import psnr, reduced_spectrum

__all__ = ["TestbedResult", "spectrum_loss", "regression_loss", "fixed_latents", "train_generator_testbed"]


@dataclass
class TestbedResult:
    """What a testbed run ended with."""

    run_dir: Path
    iterations: int
    psnr: float | None


def spectrum_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """MSE between ``log(1 + reduced spectrum)`` of prediction and target (channel mean, 'backward' FFT),
    upstream's ``MSESpectrumLoss``."""
    a = torch.log1p(reduced_spectrum(pred)).to(pred.dtype)
    b = torch.log1p(reduced_spectrum(target)).to(pred.dtype)
    return F.mse_loss(a, b)


def regression_loss(pred: torch.Tensor, target: torch.Tensor, weights: dict[str, float]) -> torch.Tensor:
    """Weighted sum of the terms named in ``weights`` (``mse``, ``spectrum``)."""
    terms: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {"mse": F.mse_loss,
                                                                              "spectrum": spectrum_loss}
    total = pred.new_zeros(())
    for name, weight in weights.items():
        if weight:
            total = total + weight * terms[name](pred, target)
    return total


def fixed_latents(num_images: int, z_dim: int, seed: int) -> torch.Tensor:
    """The latent of each image, ``[N, z_dim]`` ~ N(0, I), a function of the seed only."""
    return torch.randn(num_images, z_dim, generator=torch.Generator().manual_seed(seed))


def _generate(G: torch.nn.Module, z: torch.Tensor, c: torch.Tensor, noise_mode: str) -> torch.Tensor:
    return call_network(G, z, c, noise_mode=noise_mode)


def train_generator_testbed(config: Any, run_dir: str | Path, *, log: Callable[[str], None] | None = None,
                            registry: Any = None) -> TestbedResult:
    """Train (or resume) a generator testbed run in ``run_dir``.

    Args:
        config: a resolved generator testbed config (``resolve_testbed_config("generator", ...)``).
        run_dir: the run folder; if it holds a ``model.pt`` of the same configuration the run resumes.
        log: receives one line per ``print_every`` iterations (e.g. ``console.print``).
        registry: the component registry (default: the process-wide one).

    Returns:
        The run folder, the iterations done, the last PSNR and whether it finished.
    """
    with torch_threads(config.training.threads):
        return _train(config, Path(run_dir), log or (lambda line: None), registry)


def _train(config: Any, run_dir: Path, log: Callable[[str], None], registry: Any) -> TestbedResult:
    if registry is None:
        from ganforge.core.registry import get_registry

        registry = get_registry()
    tr = config.training
    run_dir.mkdir(parents=True, exist_ok=True)
    data = load_testbed_data(config, registry)
    num, device = len(data), select_device(tr.device)
    cfg_dict = config.to_dict()
    resume = prepare_run_dir(run_dir, cfg_dict)
    (run_dir / "config.json").write_text(json.dumps(cfg_dict, indent=2) + "\n")

    torch.manual_seed(tr.seed)
    G = build_generator(config, data.info, registry).to(device).train()
    z = fixed_latents(num, G.z_dim, tr.seed).to(device)
    c = torch.zeros(num, getattr(G, "c_dim", 0), device=device)
    opt = torch.optim.Adam([p for p in G.parameters() if p.requires_grad], lr=tr.lr, betas=tuple(tr.betas),
                           eps=tr.eps)
    done = 0
    if resume is not None:
        G.load_state_dict(resume["networks"]["G"])
        opt.load_state_dict(resume["optimizers"]["G"])
        done = int(resume["progress"]["it"])
        restore_rng(resume)
    images = data.images.to(device)
    stats = StatsFile(run_dir, done if resume is not None else None)
    evals = EvalLogger(run_dir, data.images, data.info.resolution)
    total = total_iterations(tr, num)
    batch = min(tr.batch_size, num)
    last_psnr: float | None = None

    def evaluate(it: int) -> float:
        G.eval()
        with torch.no_grad():
            pred = torch.cat([_generate(G, z[i:i + batch], c[i:i + batch], tr.noise_mode)
                              for i in range(0, num, batch)]).float()
        G.train()
        value = float(psnr(pred, images).mean())
        evals.log(it, pred.cpu(), value)
        stats.write({"it": it, "kind": "eval", "psnr": value})
        return value

    def save(it: int) -> None:
        write_model(run_dir, config=cfg_dict, info=data.info.to_dict(), num_images=num, networks={"G": G},
                    optimizers={"G": opt}, it=it, extra={"latents": z.cpu()})

    if done == 0:
        last_psnr = evaluate(0)
    losses: list[float] = []
    start = time.time()
    with progress_bar(total, done, tr.progress, "generator testbed") as update:
        try:
            for it in range(done + 1, total + 1):
                idx = batch_indices(it, num, tr.batch_size, tr.seed).to(device)
                if hasattr(G, "set_progress"):
                    G.set_progress(it * batch)
                loss = regression_loss(_generate(G, z[idx], c[idx], tr.noise_mode), images[idx], tr.losses)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                done = it
                losses.append(float(loss.detach()))
                if it % tr.print_every == 0 or it == total:
                    mean = sum(losses) / len(losses)
                    if not math.isfinite(mean):
                        raise TrainingDivergedError(f"the loss became non-finite before iteration {it}; "
                                                    "lower training.lr (the last checkpoint is kept in "
                                                    f"{run_dir})")
                    sec = (time.time() - start) / len(losses)
                    stats.write({"it": it, "kind": "train", "loss": mean, "sec_per_it": sec})
                    log(f"it {it:>7d}  loss {mean:.5f}  {sec:.3f} s/it")
                    losses, start = [], time.time()
                if it % tr.eval_every == 0 or it == total:
                    last_psnr = evaluate(it)
                if it % tr.save_every == 0 or it == total:
                    save(it)
                shown = f"loss {float(loss.detach()):.4f}"
                update(it, shown + (f"  PSNR {last_psnr:.1f}" if last_psnr is not None else ""))
        except KeyboardInterrupt:
            save(done)
            log(f"interrupted after iteration {done}; model.pt is saved: run the same command to resume")
            raise
    if done == 0:
        save(0)
    return TestbedResult(run_dir=run_dir, iterations=done, psnr=last_psnr)
