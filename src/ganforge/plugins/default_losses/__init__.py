"""Built-in base losses: non-saturating logistic and hinge, each with optional R1."""

from ganforge import hookimpl
from ganforge.core.specs import LossSpec


@hookimpl
def ganforge_register_losses():
    from ganforge.plugins.default_losses.losses import HingeConfig, HingeLoss, LogisticConfig, LogisticLoss

    return [
        LossSpec(
            name="logistic", factory=LogisticLoss, config=LogisticConfig,
            summary="Non-saturating logistic loss with lazy R1 (StyleGAN2/3).",
            paper="Goodfellow et al., Generative Adversarial Nets, NeurIPS 2014; R1: Mescheder et al., ICML 2018",
        ),
        LossSpec(
            name="hinge", factory=HingeLoss, config=HingeConfig,
            summary="Hinge loss (Projected GAN, SAGAN); R1 off by default.",
            paper="Lim & Ye, Geometric GAN, 2017",
        ),
    ]
