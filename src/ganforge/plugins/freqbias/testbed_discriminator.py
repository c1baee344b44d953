"""The discriminator testbed: any registered discriminator against a direct generator.

Schwarz, Liao and Geiger, "On the Frequency Bias of Generative Models", NeurIPS 2021
(https://arxiv.org/abs/2111.02447), section 4.2. The "generator" is a trainable tensor of N images
(:class:`~ganforge.plugins.freqbias.networks.DirectGenerator`, Kaiming-normal init): it has no
architecture, so whatever spectrum its images converge to is what the discriminator's gradients
allow. The discriminator is class-conditional on the image index (its own conditioning, or one the
testbed adds around it: :class:`~ganforge.plugins.freqbias.networks.IndexConditionedDiscriminator`).

Each iteration (``UPSTREAM.md`` §5.5, the official ``discriminator_testbed.py``):

1. D step: BCE-with-logits on the real batch (target 1) plus R1, ``reg_param * mean_i sum |dD/dx_i|^2``
   on the same real batch (weight 10, no 1/2), then BCE on the direct generator's images (target 0,
   no gradient to them); Adam, lr_d 0.001, betas (0, 0.99).
2. G step: BCE of D on the direct generator's images with target 1; Adam, lr_g 0.01.
3. EMA: ``G_ema = 0.999 G_ema + 0.001 G``; ``G_ema`` is what is evaluated (iteration 0 before any
   update, then every ``eval_every``).

With the spectrum discriminator, its logits are concatenated with D's and share the BCE targets and R1.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from ganforge.core.penalties import r1_penalty
from ganforge.core.protocols import ProgressAware
from ganforge.plugins.freqbias._run import batch_indices, torch_threads
from ganforge.plugins.freqbias.data import load_testbed_data
from ganforge.plugins.freqbias.networks import DirectGenerator, build_discriminator, one_hot, update_ema
from ganforge.plugins.freqbias.runner import Testbed, TestbedResult, open_run, run_testbed

__all__ = ["discriminator_step", "generator_step", "train_discriminator_testbed"]


def _bce(logits: torch.Tensor, target: float) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))


def _trainable(opt: torch.optim.Optimizer, flag: bool) -> None:
    """Switch gradients of the optimiser's parameters only (frozen parts of a network stay frozen)."""
    for group in opt.param_groups:
        for p in group["params"]:
            p.requires_grad_(flag)


def discriminator_step(D: torch.nn.Module, G: torch.nn.Module, opt: torch.optim.Optimizer, real: torch.Tensor,
                       c: torch.Tensor, reg_param: float) -> dict[str, float]:
    """One discriminator update (real BCE + R1, fake BCE). ``real [B, C, R, R]``, ``c [B, N]`` one-hot;
    ``opt`` holds D's trainable parameters."""
    _trainable(opt, True)
    opt.zero_grad(set_to_none=True)
    real = real.detach().requires_grad_(True)
    d_real = D(real, c)
    loss_real = _bce(d_real, 1.0)
    # R1 as upstream's compute_grad2: mean over the batch of the summed squared input gradient, no 1/2
    reg = reg_param * r1_penalty(d_real, real).mean() if reg_param > 0 else d_real.new_zeros(())
    (loss_real + reg).backward()
    with torch.no_grad():
        fake = G(None, c)
    d_fake = D(fake, c)
    loss_fake = _bce(d_fake, 0.0)
    loss_fake.backward()
    opt.step()
    return {"loss_d": float(loss_real.detach() + loss_fake.detach()), "reg": float(reg.detach()),
            "logit_real": float(d_real.detach().mean()), "logit_fake": float(d_fake.detach().mean())}


def generator_step(D: torch.nn.Module, G: torch.nn.Module, opt: torch.optim.Optimizer, c: torch.Tensor,
                   opt_d: torch.optim.Optimizer | None = None) -> float:
    """One update of the direct generator: BCE of D on its images with target 1 (D's parameters, those of
    ``opt_d``, get no gradient)."""
    if opt_d is not None:
        _trainable(opt_d, False)
    opt.zero_grad(set_to_none=True)
    loss = _bce(D(G(None, c), c), 1.0)
    loss.backward()
    opt.step()
    return float(loss.detach())


def train_discriminator_testbed(config: Any, run_dir: str | Path, *, log: Callable[[str], None] | None = None,
                                registry: Any = None) -> TestbedResult:
    """Train (or resume) a discriminator testbed run in ``run_dir``.

    Args:
        config: a resolved discriminator testbed config (``resolve_testbed_config("discriminator", ...)``).
        run_dir: the run folder; if it holds a ``model.pt`` of the same configuration the run resumes.
        log: receives one line per ``print_every`` iterations.
        registry: the component registry (default: the process-wide one).

    Returns:
        The run folder, the iterations done and the last PSNR of the EMA images.
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
    num, device, info = len(data), run.device, data.info
    D = build_discriminator(config, info, num, registry).to(device).train()
    G = DirectGenerator(num, info.channels, info.resolution).to(device)
    G_ema = copy.deepcopy(G).eval().requires_grad_(False)
    opt_d = torch.optim.Adam([p for p in D.parameters() if p.requires_grad], lr=tr.lr_d,
                             betas=tuple(tr.betas), eps=tr.eps)
    opt_g = torch.optim.Adam(G.parameters(), lr=tr.lr_g, betas=tuple(tr.betas), eps=tr.eps)
    images = data.images.to(device)
    labels = one_hot(torch.arange(num), num).to(device)  # [N, N]: image i is class i

    def step(it: int) -> dict[str, float]:
        idx = batch_indices(it, num, tr.batch_size, tr.seed).to(device)
        if isinstance(D.D, ProgressAware):
            D.D.set_progress(it * len(idx))
        row = discriminator_step(D, G, opt_d, images[idx], labels[idx], tr.reg_param)
        row["loss_g"] = generator_step(D, G, opt_g, labels[idx], opt_d)
        update_ema(G_ema, G, tr.model_average_beta)
        return row

    bed = Testbed(title="discriminator testbed", networks={"D": D, "G": G, "G_ema": G_ema},
                  optimizers={"D": opt_d, "G": opt_g}, step=step, predict=lambda: G_ema(None, labels),
                  line={"loss_d": 4, "reg": 4, "loss_g": 4})
    return run_testbed(bed, run, log)
