"""Built-in augmentations usable with any generator/discriminator pair: ``diffaugment``.

Hook implementations only; the modules are imported when a factory is called.
"""

from __future__ import annotations

from typing import Any

from ganforge import hookimpl
from ganforge.core.specs import AugmentSpec
from ganforge.plugins.default_augments.config import DiffAugmentConfig


def _diffaugment(cfg: DiffAugmentConfig, info: Any) -> Any:
    from ganforge.plugins.default_augments.diffaugment import DiffAugment

    return DiffAugment(cfg.policy, translation_ratio=cfg.translation_ratio, cutout_ratio=cfg.cutout_ratio)


@hookimpl
def ganforge_register_augments() -> list[AugmentSpec]:
    return [AugmentSpec(
        name="diffaugment", factory=_diffaugment, config=DiffAugmentConfig,
        summary="DiffAugment: differentiable color, translation and cutout on every image D sees",
        paper="Zhao et al., Differentiable Augmentation for Data-Efficient GAN Training, NeurIPS 2020 "
              "(arXiv:2006.10738)")]
