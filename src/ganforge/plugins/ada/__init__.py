"""ADA: the adaptive discriminator augmentation pipeline, usable with any generator/discriminator pair.

Hook implementations only; the pipeline (and torch) is imported when it is built.
See ``docs/plugins/ada.md``.
"""

from __future__ import annotations

from typing import Any

from ganforge import hookimpl
from ganforge.core.specs import AugmentSpec
from ganforge.plugins.ada.config import AdaConfig, check_run

PAPER = ("Karras et al., Training Generative Adversarial Networks with Limited Data, NeurIPS 2020 "
         "(https://arxiv.org/abs/2006.06676)")


@hookimpl
def ganforge_register_augments() -> list[AugmentSpec]:
    return [AugmentSpec(
        factory="ganforge.plugins.ada.augment:build_augment_pipe", config=AdaConfig, paper=PAPER, check=check_run,
        summary="ADA pipeline (blit, geom, color, filter, noise, cutout; presets bgc etc.) with the adaptive "
                "p controller; p is kept in checkpoints")]


@hookimpl
def ganforge_import_network(record: Any, role: str) -> Any:
    if role != "augment_pipe" or record.class_name != "AugmentPipe":
        return None
    from ganforge.plugins.ada.importer import import_augment_pipe

    return import_augment_pipe(record, role)
