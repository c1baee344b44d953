"""What components may expose to the training loop, as typed protocols.

A component implements the methods that apply to it and nothing else; the loop checks with
``isinstance(obj, Protocol)`` (the protocols are runtime-checkable) and calls what is there. Every
method is optional for a plugin author: a plain ``nn.Module`` generator needs none of them.

==========================  ===================================================================
protocol                    who implements it, and when the loop calls it
==========================  ===================================================================
:class:`TrainingGenerator`  generators with training-only behaviour (style mixing, heatmaps,
                            stochastic depth); every training pass of G goes through it
:class:`DInputTransform`    generators that ask for a transform of every image D sees
                            (StyleGAN3-R's blur); once per D pass
:class:`ProgressAware`      networks whose behaviour follows training progress (PGGAN's level of
                            detail); once per iteration, before the phases
:class:`RealsPreprocessor`  discriminators that adapt real images (PGGAN's fade-in blend); once per
                            iteration, on the real batch
:class:`AdaptiveAugment`    augmentations whose strength follows a training statistic (ADA);
                            every ``adapt_interval`` iterations
:class:`HasStrength`        augmentations with a strength ``p`` to log (``Progress/augment``)
==========================  ===================================================================
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import torch

if TYPE_CHECKING:  # pragma: no cover
    from ganforge.core.loss import GeneratorOutput

__all__ = ["TrainingGenerator", "DInputTransform", "ProgressAware", "RealsPreprocessor", "AdaptiveAugment",
           "HasStrength"]


@runtime_checkable
class TrainingGenerator(Protocol):
    def forward_train(self, z: torch.Tensor, c: torch.Tensor, *, update_emas: bool = False) -> GeneratorOutput:
        """One training pass: images plus what terms may read (``ws``, named ``extras``)."""
        ...


@runtime_checkable
class DInputTransform(Protocol):
    def d_input_transform(self, cur_nimg: int) -> Callable[[torch.Tensor], torch.Tensor] | None:
        """A function applied to every image D sees at ``cur_nimg`` images, or None for none."""
        ...


@runtime_checkable
class ProgressAware(Protocol):
    def set_progress(self, cur_nimg: int) -> None:
        """Follow training progress (called with the number of real images shown so far)."""
        ...


@runtime_checkable
class RealsPreprocessor(Protocol):
    def process_reals(self, img: torch.Tensor) -> torch.Tensor:
        """Real images ``[N, C, H, W]`` in [-1, 1] as D should see them at the current progress."""
        ...


@runtime_checkable
class AdaptiveAugment(Protocol):
    """An augmentation whose strength is adjusted from a statistic the losses report.

    Attributes:
        adapt_stat: name of the statistic to average (``"Loss/signs/real"``), or None for a fixed
            strength.
        adapt_interval: iterations between adjustments.
    """

    adapt_stat: str | None
    adapt_interval: int

    def adapt(self, value: float, nimg_delta: int) -> None:
        """Adjust the strength from the statistic's mean over the last ``nimg_delta`` images."""
        ...


@runtime_checkable
class HasStrength(Protocol):
    p: torch.Tensor
