"""Path-length regularization of the generator.

Karras et al., "Analyzing and Improving the Image Quality of StyleGAN", CVPR 2020
(https://arxiv.org/abs/1912.04958), section 3.2, as in the official ``StyleGAN2Loss``: on a batch shrunk
by ``pl_batch_shrink``, with ``y ~ N(0, I) / sqrt(H * W)``,

    g = d(sum(G(w) * y)) / dw          # [N, num_ws, w_dim]
    L = sqrt(mean over ws of sum over w_dim of g^2)
    a <- lerp(a, mean(L), pl_decay)    # running mean, kept in the checkpoint
    loss = mean((L - a)^2) * pl_weight

The running mean used in the penalty is the freshly updated one *with* its gradient through
``mean(L)`` (as upstream); the stored ``pl_mean`` is detached. The core multiplies the result by the lazy
interval (4 for ``--cfg stylegan2``). ``w`` is what the synthesis network sees, after style mixing.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from ganforge.core.errors import IncompatibleComponentsError
from ganforge.core.loss import LossTerm, PhaseContext
from ganforge.core.stats import report
from ganforge.ops import no_weight_gradients
from ganforge.plugins.stylegan2.config import PathLengthConfig

__all__ = ["PathLengthTerm", "path_lengths", "image_direction"]


def image_direction(img: torch.Tensor) -> torch.Tensor:
    """A random image-space direction ``y ~ N(0, I) / sqrt(H * W)`` shaped like ``img [N, C, H, W]``
    (the scale makes the path length independent of the resolution)."""
    pixels = img.shape[2] * img.shape[3]
    return torch.randn_like(img) / math.sqrt(pixels)


def path_lengths(img: torch.Tensor, ws: torch.Tensor, noise: torch.Tensor, no_weight_grad: bool = True,
                 create_graph: bool = True) -> torch.Tensor:
    """Per-sample path lengths ``[N]`` of ``img [N, C, H, W]`` (computed from ``ws [N, num_ws, w_dim]``)
    along the image-space direction ``noise`` (:func:`image_direction`)."""
    with no_weight_gradients(no_weight_grad):
        (jvp,) = torch.autograd.grad((img * noise).sum(), ws, create_graph=create_graph)  # J^T y, per w
    return jvp.square().sum(2).mean(1).sqrt()


class PathLengthTerm(LossTerm):
    """The regularizer as a :class:`~ganforge.core.loss.LossTerm` of player G (lazy by default)."""

    player = "G"
    name = "path_length"

    def __init__(self, cfg: PathLengthConfig) -> None:
        self.cfg = cfg
        self.interval = cfg.interval if (cfg.interval or 0) > 1 else None
        self.pl_mean: torch.Tensor = torch.zeros([])

    @property
    def enabled(self) -> bool:
        return self.cfg.pl_weight > 0

    def __call__(self, ctx: PhaseContext) -> torch.Tensor:
        batch = ctx.batch
        n = max(batch.gen_z.shape[0] // self.cfg.pl_batch_shrink, 1)
        out = ctx.loss.run_G(batch.gen_z[:n], batch.gen_c[:n])
        img, ws = out.img, out.ws
        if ws is None:
            raise IncompatibleComponentsError([
                f"regularizer 'path_length' needs a generator whose training pass returns its ws (a mapping "
                f"network); {type(ctx.loss.G).__name__} returned none"])
        lengths = path_lengths(img, ws, image_direction(img), no_weight_grad=self.cfg.pl_no_weight_grad)
        pl_mean = self.pl_mean.to(lengths.device).lerp(lengths.mean(), self.cfg.pl_decay)
        self.pl_mean = pl_mean.detach()
        penalty = (lengths - pl_mean).square()
        report("Loss/pl_penalty", penalty)
        value = (penalty * self.cfg.pl_weight).mean()
        report("Loss/G/reg", value)
        return value

    def state_dict(self) -> dict[str, Any]:
        return {"pl_mean": self.pl_mean.detach().cpu().clone()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if "pl_mean" in state:
            self.pl_mean = torch.as_tensor(state["pl_mean"], dtype=torch.float32).detach().clone()

    def __repr__(self) -> str:
        return (f"PathLengthTerm(pl_weight={self.cfg.pl_weight}, interval={self.interval}, "
                f"pl_mean={float(self.pl_mean):.4g})")
