"""Progressive growing: the level-of-detail (lod) schedule and the state both PGGAN networks share.

Karras et al., "Progressive Growing of GANs for Improved Quality, Stability, and Variation",
ICLR 2018, section 3 and appendix A.1 (https://arxiv.org/abs/1710.10196). ``lod`` counts halvings
of the output resolution: ``lod = 0`` is the full resolution ``R``, ``lod = log2(R) - 2`` is 4x4. Training
starts at 4x4; every phase of ``training_kimg + transition_kimg`` thousand real images first trains at
the current resolution for ``training_kimg``, then fades the next one in linearly over
``transition_kimg`` (``lod`` falls by 1), until ``lod`` reaches 0 and stays there.
"""

from __future__ import annotations

import math

import torch

__all__ = ["lod_schedule", "ProgressiveMixin"]


def lod_schedule(cur_nimg: int, num_lods: int, training_kimg: float, transition_kimg: float) -> float:
    """The lod after ``cur_nimg`` real images, in ``[0, num_lods]``.

    Args:
        cur_nimg: real images shown to the discriminator so far.
        num_lods: ``log2(resolution) - 2``, the lod of the 4x4 stage.
        training_kimg: kimg spent at each resolution before the next fades in.
        transition_kimg: kimg of each fade-in (0 switches at once).
    """
    phase_kimg = training_kimg + transition_kimg
    if phase_kimg <= 0:
        return 0.0
    kimg = cur_nimg / 1000.0
    phase = math.floor(kimg / phase_kimg)
    lod = float(num_lods - phase)
    if transition_kimg > 0:
        into_phase = kimg - phase * phase_kimg
        lod -= max(into_phase - training_kimg, 0.0) / transition_kimg
    return min(max(lod, 0.0), float(num_lods))


class ProgressiveMixin:
    """``lod`` buffer, ``set_progress`` and lod checking for a network with ``num_lods`` + 1 stages.

    With ``progressive`` off the network has no per-resolution RGB layers, ``lod`` stays 0 and is not
    read in ``forward``.
    """

    progressive: bool
    num_lods: int
    lod_training_kimg: float
    lod_transition_kimg: float
    lod: torch.Tensor

    def _init_progressive(self, progressive: bool, num_lods: int, training_kimg: float,
                          transition_kimg: float) -> None:
        self.progressive = bool(progressive)
        self.num_lods = int(num_lods)
        self.lod_training_kimg = float(training_kimg)
        self.lod_transition_kimg = float(transition_kimg)
        start = lod_schedule(0, self.num_lods, training_kimg, transition_kimg) if progressive else 0.0
        self.register_buffer("lod", torch.tensor(start, dtype=torch.float32))  # type: ignore[attr-defined]

    def set_progress(self, cur_nimg: int) -> None:
        """Set ``lod`` from the schedule for ``cur_nimg`` real images shown (no-op unless progressive).

        The training loop calls this on G, D and G_ema before every iteration.
        """
        if self.progressive:
            self.lod.fill_(lod_schedule(cur_nimg, self.num_lods, self.lod_training_kimg,
                                        self.lod_transition_kimg))

    def _resolve_lod(self, lod: float | None) -> float:
        """The lod to run at: ``lod`` if given, else the buffer (0 when not progressive)."""
        if lod is None:
            if not self.progressive:
                return 0.0
            lod = self.lod.item()
        lod = float(lod)
        if lod != 0.0 and not self.progressive:
            raise ValueError(f"lod={lod:g} needs progressive=True (only then are there RGB layers per "
                             f"resolution)")
        if not 0.0 <= lod <= self.num_lods:
            raise ValueError(f"lod must be in [0, {self.num_lods}] for this resolution, got {lod:g}")
        return lod

    def _progress_repr(self) -> str:
        if not self.progressive:
            return "progressive=False"
        return (f"progressive=True, lod_training_kimg={self.lod_training_kimg:g}, "
                f"lod_transition_kimg={self.lod_transition_kimg:g}")
