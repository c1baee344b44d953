"""Projected GAN: the projected discriminator and the FastGAN generators.

Hook implementations only; networks (and torch) are imported when a factory is called.
See ``docs/plugins/projected.md``.
"""

from __future__ import annotations

from typing import Any

from ganforge import hookimpl
from ganforge.core.specs import DiscriminatorSpec, GeneratorSpec
from ganforge.plugins.projected.config import (
    FastGANConfig,
    FastGANLiteConfig,
    ProjectedConfig,
    check_projected,
)

PROJECTED_PAPER = "Sauer et al., Projected GANs Converge Faster, NeurIPS 2021 (arXiv:2111.01007)"
FASTGAN_PAPER = ("Liu et al., Towards Faster and Stabilized GAN Training for High-fidelity Few-shot Image "
                 "Synthesis, ICLR 2021 (arXiv:2101.04775)")


@hookimpl
def ganforge_register_discriminators() -> list[DiscriminatorSpec]:
    return [DiscriminatorSpec(
        factory="ganforge.plugins.projected.discriminator:build_projected", config=ProjectedConfig, paper=PROJECTED_PAPER,
        summary="Projected GAN discriminator: frozen EfficientNet-Lite0 features, fixed random cross-channel/"
                "cross-scale projections, four spectrally normalised mini-discriminators",
        # upstream (stylegan2 configuration): D lr 0.002; hinge loss without R1; DiffAugment
        # color,translation,cutout on reals and fakes
        suggests={"loss": {"name": "hinge"}, "augment": {"name": "diffaugment"}, "training": {"dlr": 0.002}},
        check=check_projected, min_resolution=8, max_resolution=None, power_of_two=False, channels=(1, 3),
        conditional=True, tiny={"pretrained": False})]


@hookimpl
def ganforge_register_generators() -> list[GeneratorSpec]:
    common: dict[str, Any] = {
        "factory": "ganforge.plugins.projected.fastgan:build_fastgan", "options": {"noise_mode", "update_emas"}, "paper": FASTGAN_PAPER, "min_resolution": 8, "max_resolution": 1024,
        "power_of_two": True, "conditional": True, "tiny": {"z_dim": 16, "ngf": 4},
        # upstream train.py sets G and D lr to 0.0002 for both FastGAN configurations
        "suggests": {"training": {"glr": 0.0002, "dlr": 0.0002}},
    }
    return [
        GeneratorSpec(config=FastGANConfig, **common,
                      summary="FastGAN generator: skip-layer excitation, two-conv up-blocks with noise "
                              "(105.7 M parameters at 256x256)"),
        GeneratorSpec(config=FastGANLiteConfig, **common,
                      summary="FastGAN-lite generator: skip-layer excitation, one-conv up-blocks "
                              "(79.4 M parameters at 256x256)"),
    ]
