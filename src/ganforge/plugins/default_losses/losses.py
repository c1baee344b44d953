"""Base adversarial losses: non-saturating logistic, hinge, and WGAN-GP.

A base loss only maps logits to per-sample losses; everything else (R1, path length, ...) is a
regularizer added with ``--reg`` (``ganforge.core.loss``). WGAN-GP shows the route for a loss that
needs a gradient computation of its own: its penalty is a :class:`~ganforge.core.loss.LossTerm` the
loss owns (:meth:`~ganforge.core.loss.GANLoss.own_terms`), computed in D's main phase.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
import torch.nn.functional as F
from pydantic import Field

from ganforge.core.config import ComponentConfig
from ganforge.core.loss import GANLoss, LossTerm, PhaseContext
from ganforge.core.penalties import gradient_norm_penalty
from ganforge.core.stats import report

__all__ = ["LogisticConfig", "LogisticLoss", "HingeConfig", "HingeLoss", "WGANGPConfig", "WGANGPLoss",
           "InterpolatedGradientPenalty"]


class LogisticConfig(ComponentConfig):
    """Non-saturating logistic loss (StyleGAN2/3). R1 is the regularizer ``r1`` (suggested with it)."""

    name: Literal["logistic"] = "logistic"


class HingeConfig(ComponentConfig):
    """Hinge loss (Projected GAN, SAGAN)."""

    name: Literal["hinge"] = "hinge"


class WGANGPConfig(ComponentConfig):
    """Wasserstein loss with gradient penalty, with PGGAN's drift term."""

    name: Literal["wgan-gp"] = "wgan-gp"
    gp_lambda: float = Field(10.0, ge=0, description="Weight lambda of the gradient penalty (WGAN-GP: 10).")
    gp_target: float = Field(1.0, gt=0, description="Target gradient norm of the penalty (WGAN-GP: 1; PGGAN "
                             "used 750 for CIFAR-10).")
    drift: float = Field(0.001, ge=0, description="Weight epsilon of the drift term eps * D(x)^2 on reals, which "
                         "keeps D's output near 0 (PGGAN: 0.001; 0 for plain WGAN-GP).")


class LogisticLoss(GANLoss):
    """G: softplus(-D(G(z))); D: softplus(D(G(z))) + softplus(-D(x)); per-sample mean over heads."""

    def __init__(self, cfg: LogisticConfig, **components: Any):
        self.cfg = cfg
        super().__init__(**components)

    def g_loss(self, fake_logits: torch.Tensor) -> torch.Tensor:
        return F.softplus(-fake_logits).mean(dim=1)

    def d_loss_fake(self, fake_logits: torch.Tensor) -> torch.Tensor:
        return F.softplus(fake_logits).mean(dim=1)

    def d_loss_real(self, real_logits: torch.Tensor) -> torch.Tensor:
        return F.softplus(-real_logits).mean(dim=1)


class HingeLoss(GANLoss):
    """G: -D(G(z)); D: relu(1 + D(G(z))) + relu(1 - D(x)); averaged over all logits of all heads."""

    def __init__(self, cfg: HingeConfig, **components: Any):
        self.cfg = cfg
        super().__init__(**components)

    def g_loss(self, fake_logits: torch.Tensor) -> torch.Tensor:
        return (-fake_logits).mean(dim=1)

    def d_loss_fake(self, fake_logits: torch.Tensor) -> torch.Tensor:
        return F.relu(1 + fake_logits).mean(dim=1)

    def d_loss_real(self, real_logits: torch.Tensor) -> torch.Tensor:
        return F.relu(1 - real_logits).mean(dim=1)


class InterpolatedGradientPenalty(LossTerm):
    """WGAN-GP's penalty: ``lambda * (||dD(x_hat)/dx_hat|| - target)^2`` at ``x_hat = lerp(fake, real, u)``,
    ``u ~ U(0, 1)`` per sample, on the phase's real batch and (detached) fakes, in every D main phase.

    It makes its own D pass on the interpolated images (through the D-input transform and the
    augmentation, as every image D sees), with its own labels: those of the real batch.
    """

    name = "gradient_penalty"
    player = "D"

    def __init__(self, weight: float, target: float = 1.0) -> None:
        self.weight, self.target = float(weight), float(target)

    @property
    def enabled(self) -> bool:
        return self.weight > 0

    def __call__(self, ctx: PhaseContext) -> torch.Tensor:
        real = ctx.batch.real_img.detach()
        fake = ctx.fake().img.detach()
        u = torch.rand([real.shape[0], 1, 1, 1], device=real.device, dtype=real.dtype)
        mixed = torch.lerp(fake, real, u).requires_grad_(True)  # [N, C, H, W]
        logits = ctx.loss.run_D(mixed, ctx.batch.real_c, ctx.batch.cur_nimg).logits
        penalty = gradient_norm_penalty(logits, mixed, self.target)
        report("Loss/gp_penalty", penalty)
        return penalty.mean() * self.weight


class WGANGPLoss(GANLoss):
    """Wasserstein loss: G: -D(G(z)); D: D(G(z)) - D(x) + drift * D(x)^2; plus the gradient penalty.

    Gulrajani et al., "Improved Training of Wasserstein GANs", NeurIPS 2017 (https://arxiv.org/abs/1704.00028);
    drift term from Karras et al., PGGAN, ICLR 2018. One D step per G step, as PGGAN trained it.
    """

    def __init__(self, cfg: WGANGPConfig, **components: Any):
        self.cfg = cfg
        super().__init__(**components)

    def own_terms(self) -> list[LossTerm]:
        return [InterpolatedGradientPenalty(self.cfg.gp_lambda, self.cfg.gp_target)]

    def g_loss(self, fake_logits: torch.Tensor) -> torch.Tensor:
        return (-fake_logits).mean(dim=1)

    def d_loss_fake(self, fake_logits: torch.Tensor) -> torch.Tensor:
        return fake_logits.mean(dim=1)

    def d_loss_real(self, real_logits: torch.Tensor) -> torch.Tensor:
        return (self.cfg.drift * real_logits.square() - real_logits).mean(dim=1)
