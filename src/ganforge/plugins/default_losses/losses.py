"""Non-saturating logistic and hinge losses on top of the shared phase contract."""

from __future__ import annotations

from typing import Any, Literal

import torch
import torch.nn.functional as F
from pydantic import Field

from ganforge.core.config import ComponentConfig
from ganforge.core.loss import GANLoss


class _BaseLossConfig(ComponentConfig):
    r1_gamma: float = Field(10.0, ge=0, description="R1 weight gamma (loss gamma/2 * ||dD(x)/dx||^2 on reals); 0: off.")
    r1_interval: int | None = Field(16, ge=1, description="Lazy R1 every N minibatches (loss x N); 1 or None: every step.")
    style_mixing_prob: float = Field(0.0, ge=0, le=1, description="Style mixing probability (style-based generators).")
    blur_init_sigma: float = Field(0.0, ge=0, description="Initial sigma of the D-input blur (StyleGAN3-R uses 10).")
    blur_fade_kimg: float = Field(0.0, ge=0, description="kimg over which the D-input blur fades to 0.")


class LogisticConfig(_BaseLossConfig):
    name: Literal["logistic"] = "logistic"


class HingeConfig(_BaseLossConfig):
    name: Literal["hinge"] = "hinge"
    r1_gamma: float = Field(0.0, ge=0, description="R1 weight gamma on reals; 0: off (the Projected GAN setting).")


def _kwargs(cfg: _BaseLossConfig) -> dict[str, Any]:
    return cfg.model_dump(exclude={"name"})


class LogisticLoss(GANLoss):
    """G: softplus(-D(G(z))); D: softplus(D(G(z))) + softplus(-D(x)); per-sample mean over heads."""

    def __init__(self, cfg: LogisticConfig, **components: Any):
        super().__init__(**components, **_kwargs(cfg))

    def g_loss(self, fake_logits: torch.Tensor) -> torch.Tensor:
        return F.softplus(-fake_logits).mean(dim=1)

    def d_loss_fake(self, fake_logits: torch.Tensor) -> torch.Tensor:
        return F.softplus(fake_logits).mean(dim=1)

    def d_loss_real(self, real_logits: torch.Tensor) -> torch.Tensor:
        return F.softplus(-real_logits).mean(dim=1)


class HingeLoss(GANLoss):
    """G: -D(G(z)); D: relu(1 + D(G(z))) + relu(1 - D(x)); averaged over all logits of all heads."""

    def __init__(self, cfg: HingeConfig, **components: Any):
        super().__init__(**components, **_kwargs(cfg))

    def g_loss(self, fake_logits: torch.Tensor) -> torch.Tensor:
        return (-fake_logits).mean(dim=1)

    def d_loss_fake(self, fake_logits: torch.Tensor) -> torch.Tensor:
        return F.relu(1 + fake_logits).mean(dim=1)

    def d_loss_real(self, real_logits: torch.Tensor) -> torch.Tensor:
        return F.relu(1 - real_logits).mean(dim=1)
