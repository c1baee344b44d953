"""The GAN phase contract, shared by every loss.

A training iteration runs the phases ``Gmain``, ``Greg``, ``Dmain``, ``Dreg`` (as in StyleGAN2/3):
``Xmain`` every minibatch; ``Xreg`` every ``interval`` minibatches with its loss multiplied by
``interval`` (lazy regularization; the optimiser's lr and betas are corrected in the loop). A player
without lazy terms has a single ``Xboth`` phase. :class:`GANLoss` implements the phases once; a base
loss (logistic, hinge, ...) only says how logits become per-sample losses, and method-specific terms
(R1, path length, alignment, ...) are :class:`LossTerm` objects added to it, never forks of it.

Generator and discriminator calls go through :meth:`GANLoss.run_G` and :meth:`GANLoss.run_D`:
``run_G`` does style mixing when the generator has a mapping network; ``run_D`` applies the
optional blur schedule (StyleGAN3-R) and the augmentation pipeline.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ganforge.core.stats import report

__all__ = ["GANLoss", "LossTerm", "PhaseBatch", "call_with_supported", "PHASES", "blur_images"]

PHASES = ("Gmain", "Greg", "Gboth", "Dmain", "Dreg", "Dboth")


def call_with_supported(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Call ``fn`` passing only the keyword arguments its signature accepts.

    Generators differ in their options (``noise_mode``, ``update_emas``, ...); callers state what
    they would like and each network takes what it understands.
    """
    target = fn.forward if isinstance(fn, torch.nn.Module) else fn
    try:
        params = inspect.signature(target).parameters
    except (TypeError, ValueError):
        return fn(*args, **kwargs)
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return fn(*args, **kwargs)
    return fn(*args, **{k: v for k, v in kwargs.items() if k in params})


def blur_images(img: torch.Tensor, sigma: float) -> torch.Tensor:
    """Gaussian-like blur of StyleGAN3-R's D-input schedule: taps ``2^-(x/sigma)^2``, normalised, separable."""
    blur_size = int(np.floor(sigma * 3))
    if blur_size <= 0:
        return img
    x = torch.arange(-blur_size, blur_size + 1, device=img.device, dtype=torch.float32)
    f = torch.exp2(-(x / sigma).square())
    f = (f / f.sum()).to(img.dtype)
    c = img.shape[1]
    pad = blur_size
    out = F.pad(img, [pad, pad, pad, pad])
    out = F.conv2d(out, f.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
    out = F.conv2d(out, f.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)
    return out


@dataclass
class PhaseBatch:
    """What one pass of one phase works on (a ``batch_gpu`` chunk)."""

    real_img: torch.Tensor  # [N, C, H, W] float in [-1, 1]
    real_c: torch.Tensor  # [N, c_dim]
    gen_z: torch.Tensor  # [N, z_dim]
    gen_c: torch.Tensor  # [N, c_dim]
    gain: float  # the phase interval (loss multiplier for lazy phases)
    cur_nimg: int


class LossTerm:
    """A regularization term added to a base loss.

    Attributes:
        player: ``"G"`` or ``"D"`` (whose optimiser the term's gradient goes to).
        interval: None (computed every minibatch in the main phase) or N > 1 (lazy: its own phase
            every N minibatches, loss multiplied by N).
        name: used for statistics (``Loss/<name>``).
    """

    player: str = "G"
    interval: int | None = None
    name: str = "term"

    def __call__(self, loss: GANLoss, batch: PhaseBatch) -> torch.Tensor:
        """Return the term's loss as a scalar (already weighted)."""
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        """Running state to keep in checkpoints (e.g. path-length mean)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass


class GANLoss:
    """Base of adversarial losses. Subclasses implement the three logit-to-loss maps.

    Args:
        G, D: the networks.
        augment: augmentation module or None (applied to every image D sees).
        regularizers: :class:`LossTerm` objects to add.
        device: device of the run.
        r1_gamma: weight of the R1 penalty on real images (0: off); loss ``gamma / 2 * ||dD/dx||^2``.
        r1_interval: lazy interval of R1 (None: every minibatch).
        style_mixing_prob: probability of mixing two latents (generators with a mapping network).
        blur_init_sigma, blur_fade_kimg: D-input blur schedule (StyleGAN3-R); 0 disables.
    """

    def __init__(self, *, G: torch.nn.Module, D: torch.nn.Module, augment: torch.nn.Module | None = None,
                 regularizers: list[LossTerm] | tuple[LossTerm, ...] = (), device: Any = "cpu",
                 r1_gamma: float = 0.0, r1_interval: int | None = 16, style_mixing_prob: float = 0.0,
                 blur_init_sigma: float = 0.0, blur_fade_kimg: float = 0.0):
        self.G, self.D, self.augment = G, D, augment
        self.device = torch.device(device)
        self.terms = list(regularizers)
        self.r1_gamma = float(r1_gamma)
        self.r1_interval = r1_interval if (r1_interval or 0) > 1 else None
        self.style_mixing_prob = float(style_mixing_prob)
        self.blur_init_sigma = float(blur_init_sigma)
        self.blur_fade_kimg = float(blur_fade_kimg)
        self._check_intervals()

    # -- what subclasses define ----------------------------------------------------------------------
    def g_loss(self, fake_logits: torch.Tensor) -> torch.Tensor:
        """Per-sample generator loss ``[N]`` from fake logits ``[N]``."""
        raise NotImplementedError

    def d_loss_fake(self, fake_logits: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def d_loss_real(self, real_logits: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    # -- schedule --------------------------------------------------------------------------------
    def _check_intervals(self) -> None:
        for player in ("G", "D"):
            intervals = {t.interval for t in self.terms if t.player == player and t.interval}
            if player == "D" and self.r1_gamma > 0 and self.r1_interval:
                intervals.add(self.r1_interval)
            if len(intervals) > 1:
                raise ValueError(f"lazy {player} regularizers must share one interval, got {sorted(intervals)}")

    def reg_interval(self, player: str) -> int | None:
        """The lazy interval of ``player``'s regularization phase (None: no separate phase)."""
        if player == "D" and self.r1_gamma > 0 and self.r1_interval:
            return self.r1_interval
        for term in self.terms:
            if term.player == player and term.interval:
                return term.interval
        return None

    def blur_sigma(self, cur_nimg: int) -> float:
        if self.blur_fade_kimg > 0:
            return max(1 - cur_nimg / (self.blur_fade_kimg * 1e3), 0.0) * self.blur_init_sigma
        return 0.0

    # -- network calls ---------------------------------------------------------------------------
    def run_G(self, z: torch.Tensor, c: torch.Tensor, update_emas: bool = False) -> tuple[torch.Tensor, Any]:
        """Generate images; returns ``(img, ws)`` (ws is None for generators without a mapping)."""
        G = self.G
        if hasattr(G, "mapping") and hasattr(G, "synthesis"):
            ws = call_with_supported(G.mapping, z, c, update_emas=update_emas)
            if self.style_mixing_prob > 0 and ws.ndim == 3 and ws.shape[1] > 1:
                cutoff = torch.empty([], dtype=torch.int64, device=ws.device).random_(1, ws.shape[1])
                cutoff = torch.where(torch.rand([], device=ws.device) < self.style_mixing_prob, cutoff,
                                     torch.full_like(cutoff, ws.shape[1]))
                mixed = call_with_supported(G.mapping, torch.randn_like(z), c, update_emas=False)
                ws = ws.clone()
                ws[:, cutoff:] = mixed[:, cutoff:]
            img = call_with_supported(G.synthesis, ws, update_emas=update_emas)
            return img, ws
        return call_with_supported(G, z, c, update_emas=update_emas), None

    def run_D(self, img: torch.Tensor, c: torch.Tensor, blur_sigma: float = 0.0,
              update_emas: bool = False) -> torch.Tensor:
        """Blur (schedule), augment, and evaluate D. Returns per-sample logits ``[N]`` (heads averaged)."""
        if blur_sigma > 0:
            img = blur_images(img, blur_sigma)
        if self.augment is not None:
            img = self.augment(img)
        logits = call_with_supported(self.D, img, c, update_emas=update_emas)
        return self._per_sample(logits)

    @staticmethod
    def _per_sample(logits: torch.Tensor) -> torch.Tensor:
        return logits.reshape(logits.shape[0], -1).float() if logits.ndim > 1 else logits.float().unsqueeze(1)

    # -- phases ----------------------------------------------------------------------------------
    def accumulate_gradients(self, phase: str, batch: PhaseBatch) -> None:
        """Compute ``phase``'s losses on ``batch`` and backpropagate (gradients accumulate)."""
        if phase not in PHASES:
            raise ValueError(f"unknown phase {phase!r}; expected one of {PHASES}")
        player, part = phase[0], phase[1:]
        do_main = part in ("main", "both")
        do_reg = part in ("reg", "both")
        sigma = self.blur_sigma(batch.cur_nimg)
        total: torch.Tensor | None = None

        def add(x: torch.Tensor) -> None:
            nonlocal total
            total = x if total is None else total + x

        if player == "G":
            lazy = self.reg_interval("G")
            if do_main:
                img, _ = self.run_G(batch.gen_z, batch.gen_c)
                logits = self.run_D(img, batch.gen_c, blur_sigma=sigma)
                report("Loss/scores/fake", logits)
                report("Loss/signs/fake", logits.sign())
                loss_g = self.g_loss(logits).mean()
                report("Loss/G/loss", loss_g)
                add(loss_g)
            for term in self.terms:
                if term.player != "G":
                    continue
                is_lazy = term.interval is not None and lazy is not None
                if (is_lazy and do_reg) or (not is_lazy and do_main):
                    value = term(self, batch)
                    report(f"Loss/G/{term.name}", value)
                    add(value * (batch.gain if is_lazy else 1.0))
        else:
            lazy = self.reg_interval("D")
            if do_main:
                img, _ = self.run_G(batch.gen_z, batch.gen_c, update_emas=True)
                logits = self.run_D(img.detach(), batch.gen_c, blur_sigma=sigma, update_emas=True)
                report("Loss/scores/fake", logits)
                report("Loss/signs/fake", logits.sign())
                loss_fake = self.d_loss_fake(logits).mean()
                add(loss_fake)
            r1_now = bool(self.r1_gamma > 0 and ((do_reg and self.r1_interval) or (do_main and not self.r1_interval)))
            if do_main or r1_now:
                real = batch.real_img.detach().requires_grad_(r1_now)
                logits = self.run_D(real, batch.real_c, blur_sigma=sigma)
                if do_main:
                    report("Loss/scores/real", logits)
                    report("Loss/signs/real", logits.sign())
                    loss_real = self.d_loss_real(logits).mean()
                    report("Loss/D/loss", (loss_fake + loss_real).detach())
                    add(loss_real)
                if r1_now:
                    (grad,) = torch.autograd.grad(logits.sum(), real, create_graph=True, only_inputs=True)
                    penalty = grad.square().sum(dim=[1, 2, 3])
                    report("Loss/r1_penalty", penalty)
                    loss_r1 = (penalty * (self.r1_gamma / 2)).mean()
                    report("Loss/D/reg", loss_r1)
                    add(loss_r1 * (batch.gain if self.r1_interval else 1.0))
            for term in self.terms:
                if term.player != "D":
                    continue
                is_lazy = term.interval is not None and lazy is not None
                if (is_lazy and do_reg) or (not is_lazy and do_main):
                    value = term(self, batch)
                    report(f"Loss/D/{term.name}", value)
                    add(value * (batch.gain if is_lazy else 1.0))
        if total is not None:
            total.backward()

    # -- state -----------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {"terms": {term.name: term.state_dict() for term in self.terms}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for term in self.terms:
            term.load_state_dict(state.get("terms", {}).get(term.name, {}))
