"""Built-in base losses (non-saturating logistic, hinge, WGAN-GP) and the R1 regularizer.

R1 is a regularizer like any other (``--reg r1``; ``--gamma`` sets its weight); the logistic loss
suggests it with StyleGAN2's defaults (gamma 10, lazy every 16 minibatches).
"""

from ganforge import hookimpl
from ganforge.core.specs import LossSpec, RegularizerSpec
from ganforge.plugins.default_losses.losses import HingeConfig, LogisticConfig, WGANGPConfig
from ganforge.plugins.default_losses.regularizers import R1Config

_LOSSES = "ganforge.plugins.default_losses.losses"


@hookimpl
def ganforge_register_losses():
    return [
        LossSpec(factory=f"{_LOSSES}:LogisticLoss", config=LogisticConfig,
                 suggests={"regularizers": {"r1": {}}},
                 summary="Non-saturating logistic loss (StyleGAN2/3); suggests the r1 regularizer.",
                 paper="Goodfellow et al., Generative Adversarial Nets, NeurIPS 2014"),
        LossSpec(factory=f"{_LOSSES}:HingeLoss", config=HingeConfig,
                 summary="Hinge loss (Projected GAN, SAGAN).",
                 paper="Lim & Ye, Geometric GAN, 2017 (arXiv:1705.02894)"),
        LossSpec(factory=f"{_LOSSES}:WGANGPLoss", config=WGANGPConfig,
                 summary="Wasserstein loss with gradient penalty (and PGGAN's drift term).",
                 paper="Gulrajani et al., Improved Training of Wasserstein GANs, NeurIPS 2017 (arXiv:1704.00028)"),
        RegularizerSpec(factory="ganforge.plugins.default_losses.regularizers:R1Term", config=R1Config, player="D",
                        summary="R1 gradient penalty on real images, gamma / 2 * ||dD(x)/dx||^2 (lazy every 16).",
                        paper="Mescheder et al., Which Training Methods for GANs do actually Converge?, ICML 2018"),
    ]
