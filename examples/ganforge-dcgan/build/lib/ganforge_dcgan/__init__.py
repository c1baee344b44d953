"""ganforge plugin: DCGAN generator and discriminator (hook implementations only)."""

from ganforge import hookimpl
from ganforge.core.specs import DiscriminatorSpec, GeneratorSpec

__version__ = "0.1.0"

PAPER = "Radford et al., Unsupervised Representation Learning with Deep Convolutional GANs, ICLR 2016"


@hookimpl
def ganforge_register_generators():
    from ganforge_dcgan.networks import DCGANGenerator, GeneratorConfig

    return [GeneratorSpec(name="dcgan", factory=DCGANGenerator, config=GeneratorConfig, paper=PAPER,
                          summary="DCGAN generator: transposed convolutions, batch norm, tanh output.",
                          min_resolution=8, conditional=False)]


@hookimpl
def ganforge_register_discriminators():
    from ganforge_dcgan.networks import DCGANDiscriminator, DiscriminatorConfig

    return [DiscriminatorSpec(name="dcgan", factory=DCGANDiscriminator, config=DiscriminatorConfig, paper=PAPER,
                              summary="DCGAN discriminator: strided convolutions and leaky ReLU (no batch norm, "
                                      "so R1 works per sample).",
                              min_resolution=8, conditional=False)]
