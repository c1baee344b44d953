"""A one-file regularizer plugin: R2, the gradient penalty on *fake* images.

R2 penalises ``gamma / 2 * ||dD(G(z))/dx||^2`` on generated images (Mescheder et al., ICML 2018, and
the R1 + R2 pair of Huang et al., "The GAN is dead; long live the GAN!", NeurIPS 2024). It is the
worked example of ``docs/writing-plugins.md``:

    gan --plugins-dir examples/plugins run --reg r2 --set regularizers.r2.gamma=0.1

The term differentiates D's output w.r.t. the fake images of the D phase, so it makes its own D pass
on a detached copy that requires grad (the phase's shared fake pass has no gradient path to its input).
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field

from ganforge import hookimpl
from ganforge.core.config import ComponentConfig
from ganforge.core.loss import LossTerm, PhaseContext
from ganforge.core.penalties import r1_penalty
from ganforge.core.specs import RegularizerSpec
from ganforge.core.stats import report


class R2Config(ComponentConfig):
    """Gradient penalty on fake images."""

    name: Literal["r2"] = "r2"
    gamma: float = Field(1.0, ge=0, description="Weight gamma: loss gamma / 2 * ||dD(G(z))/dx||^2; 0: off.")
    interval: int | None = Field(16, ge=1, description="Lazy: every N minibatches, loss x N (1 or None: every "
                                 "minibatch).")


class R2Term(LossTerm):
    name = "r2"
    player = "D"

    def __init__(self, cfg: R2Config) -> None:
        self.cfg = cfg
        self.interval = cfg.interval if (cfg.interval or 0) > 1 else None

    @property
    def enabled(self) -> bool:
        return self.cfg.gamma > 0

    def __call__(self, ctx: PhaseContext) -> torch.Tensor:
        fake = ctx.fake().img.detach().requires_grad_(True)  # [N, C, H, W]; in a Dreg phase: a fresh G pass
        logits = ctx.loss.run_D(fake, ctx.batch.gen_c, ctx.batch.cur_nimg).logits  # [N, K]
        penalty = r1_penalty(logits, fake)  # [N]
        report("Loss/r2_penalty", penalty)
        return (penalty * (self.cfg.gamma / 2)).mean()


@hookimpl
def ganforge_register_losses():
    return [RegularizerSpec(factory=R2Term, config=R2Config, player="D",
                            summary="R2: gradient penalty on fake images (lazy every 16).",
                            paper="Mescheder et al., ICML 2018; Huang et al., NeurIPS 2024")]
