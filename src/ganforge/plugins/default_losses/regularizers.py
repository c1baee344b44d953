"""The R1 regularizer: ``gamma / 2 * ||dD(x)/dx||^2`` on real images.

Mescheder et al., "Which Training Methods for GANs do actually Converge?", ICML 2018
(https://arxiv.org/abs/1801.04406); lazy every 16 minibatches as in StyleGAN2 (Karras et al., CVPR 2020,
section 4 "lazy regularization"). The gradient is taken w.r.t. the real images before the D-input
transform and the augmentation, so it flows through them (ADA's transforms are differentiable). In a
non-lazy ``Dboth`` phase the term shares the main phase's real pass; in a lazy ``Dreg`` phase it makes
its own.
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field

from ganforge.core.config import ComponentConfig
from ganforge.core.loss import LossTerm, PhaseContext
from ganforge.core.penalties import r1_penalty
from ganforge.core.stats import report

__all__ = ["R1Config", "R1Term"]


class R1Config(ComponentConfig):
    """R1 gradient penalty on real images (``gan run --gamma G`` sets ``gamma``)."""

    name: Literal["r1"] = "r1"
    gamma: float = Field(10.0, ge=0, description="R1 weight gamma: loss gamma / 2 * ||dD(x)/dx||^2 on reals "
                         "(official --gamma); 0 turns the term off.")
    interval: int | None = Field(16, ge=1, description="Lazy regularization: every N minibatches, loss x N "
                                 "(official D_reg_interval); 1 or None: every minibatch, in D's main phase.")


class R1Term(LossTerm):
    """R1 as a term of player D. Reports ``Loss/r1_penalty`` (per sample) and ``Loss/D/reg``."""

    name = "r1"
    player = "D"
    needs_real_grad = True

    def __init__(self, cfg: R1Config) -> None:
        self.cfg = cfg
        self.interval = cfg.interval if (cfg.interval or 0) > 1 else None

    @property
    def enabled(self) -> bool:
        return self.cfg.gamma > 0

    def __call__(self, ctx: PhaseContext) -> torch.Tensor:
        logits = ctx.real_logits().logits
        penalty = r1_penalty(logits, ctx.real_input)
        report("Loss/r1_penalty", penalty)
        value = (penalty * (self.cfg.gamma / 2)).mean()
        report("Loss/D/reg", value)
        return value

    def __repr__(self) -> str:
        return f"R1Term(gamma={self.cfg.gamma:g}, interval={self.interval})"
