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

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from ganforge.core.options import call_network
from ganforge.core.protocols import ProgressAware
from ganforge.plugins.freqbias._run import batch_indices, torch_threads
from ganforge.plugins.freqbias.data import load_testbed_data
from ganforge.plugins.freqbias.networks import build_generator
from ganforge.plugins.freqbias.runner import Testbed, TestbedResult, open_run, run_testbed
from ganforge.plugins.freqbias.spectrum import reduced_spectrum

__all__ = ["TestbedResult", "spectrum_loss", "regression_loss", "fixed_latents", "train_generator_testbed"]


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
    data = load_testbed_data(config, registry)
    run = open_run(config, run_dir, data)
    num, device = len(data), run.device
    G = build_generator(config, data.info, registry).to(device).train()
    z = fixed_latents(num, G.z_dim, tr.seed).to(device)  # [N, z_dim], one per image
    c = torch.zeros(num, getattr(G, "c_dim", 0), device=device)
    opt = torch.optim.Adam([p for p in G.parameters() if p.requires_grad], lr=tr.lr, betas=tuple(tr.betas),
                           eps=tr.eps)
    images = data.images.to(device)
    batch = min(tr.batch_size, num)

    def step(it: int) -> dict[str, float]:
        idx = batch_indices(it, num, tr.batch_size, tr.seed).to(device)
        if isinstance(G, ProgressAware):
            G.set_progress(it * batch)
        loss = regression_loss(_generate(G, z[idx], c[idx], tr.noise_mode), images[idx], tr.losses)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return {"loss": float(loss.detach())}

    def predict() -> torch.Tensor:
        G.eval()
        pred = torch.cat([_generate(G, z[i:i + batch], c[i:i + batch], tr.noise_mode) for i in range(0, num, batch)])
        G.train()
        return pred

    bed = Testbed(title="generator testbed", networks={"G": G}, optimizers={"G": opt}, step=step, predict=predict,
                  line={"loss": 5}, extra={"latents": z.cpu()})
    return run_testbed(bed, run, log)
