"""Built-in augmentations usable with any generator/discriminator pair: ``diffaugment``.

Hook implementations only; the modules are imported when the augmentation is built.
"""

from ganforge import hookimpl
from ganforge.core.specs import AugmentSpec
from ganforge.plugins.default_augments.config import DiffAugmentConfig


@hookimpl
def ganforge_register_augments():
    return [AugmentSpec(
        factory="ganforge.plugins.default_augments.diffaugment:build_diffaugment", config=DiffAugmentConfig,
        summary="DiffAugment: differentiable color, translation and cutout on every image D sees",
        paper="Zhao et al., Differentiable Augmentation for Data-Efficient GAN Training, NeurIPS 2020 "
              "(arXiv:2006.10738)")]
