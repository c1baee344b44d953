"""PGGAN generator and discriminator, with the frequency-bias up/down-sampling variants.

Hook implementations only; the networks (and torch) are imported when a factory is called.
See ``docs/plugins/pggan.md``.
"""

from __future__ import annotations

from typing import Any

from ganforge import hookimpl
from ganforge.core.specs import DiscriminatorSpec, GeneratorSpec
from ganforge.plugins.pggan.config import PGGANDiscriminatorConfig, PGGANGeneratorConfig, check_run

PAPER = ("Karras et al., Progressive Growing of GANs for Improved Quality, Stability, and Variation, "
         "ICLR 2018; variants from Schwarz et al., On the Frequency Bias of Generative Models, NeurIPS 2021")


def _generator(cfg: PGGANGeneratorConfig, info: Any) -> Any:
    from ganforge.plugins.pggan.generator import build_generator

    return build_generator(cfg, info)


def _discriminator(cfg: PGGANDiscriminatorConfig, info: Any) -> Any:
    from ganforge.plugins.pggan.discriminator import build_discriminator

    return build_discriminator(cfg, info)


@hookimpl
def ganforge_register_generators() -> list[GeneratorSpec]:
    return [GeneratorSpec(
        name="pggan", factory=_generator, config=PGGANGeneratorConfig, paper=PAPER,
        summary="PGGAN generator (pixel norm, equalized lr) with nearest/bilinear/zeros/shuffle upsampling "
                "and optional progressive growing",
        min_resolution=8, max_resolution=1024, power_of_two=True, conditional=True)]


@hookimpl
def ganforge_register_discriminators() -> list[DiscriminatorSpec]:
    return [DiscriminatorSpec(
        name="pggan", factory=_discriminator, config=PGGANDiscriminatorConfig, paper=PAPER, check=check_run,
        summary="PGGAN discriminator (minibatch stddev, projection head when conditional) with "
                "avg/stride/blurpool downsampling and optional progressive growing",
        min_resolution=8, max_resolution=1024, power_of_two=True, conditional=True)]
