"""The equivariance metrics as metric components: ``eqt50k_int``, ``eqt50k_frac``, ``eqr50k``.

Each works on any generator with a mapping network and a user-settable input transform
(``G.synthesis.input.transform``, a 3x3 matrix that the generator applies to its input coordinates;
generator specs say so with ``provides={"input_transform"}``). No pretrained network and no real data
are needed. Definitions are in :mod:`.equivariance`; the sampling follows the official metric: one
transformation per batch, ``G.mapping(z, c)`` at truncation 1, ``G.synthesis(ws, noise_mode="const",
force_fp32=True)`` for the untransformed and the transformed image.

Randomness comes from generators seeded with ``(ctx.seed, batch index)``, so a result is reproducible
and independent of the number of processes; with several processes each evaluates every
``world_size``-th batch and the error sums are all-reduced.
"""

from __future__ import annotations

import math
import time
from typing import Any

import torch

from ganforge.core.errors import ConfigError
from ganforge.core.options import call_network
from ganforge.plugins.stylegan3 import equivariance as eq

__all__ = ["EquivarianceMetric", "make_metric", "input_transform"]


def input_transform(G: torch.nn.Module) -> torch.Tensor | None:
    """``G.synthesis.input.transform`` if G has one (a 3x3 float buffer), else None."""
    t = getattr(getattr(getattr(G, "synthesis", None), "input", None), "transform", None)
    return t if isinstance(t, torch.Tensor) and tuple(t.shape) == (3, 3) else None


class EquivarianceMetric:
    """One equivariance metric (``kind`` is ``"eqt_int"``, ``"eqt_frac"`` or ``"eqr"``)."""

    def __init__(self, cfg: Any, kind: str):
        self.cfg, self.kind = cfg, kind

    def _labels(self, n: int, c_dim: int, gen: torch.Generator, device: torch.device) -> torch.Tensor:
        c = torch.zeros([n, c_dim], device=device)
        if c_dim:
            c[torch.arange(n), torch.randint(c_dim, [n], generator=gen).to(device)] = 1
        return c

    @torch.no_grad()
    def _batch(self, G: torch.nn.Module, M: torch.Tensor, index: int, seed: int,
               device: torch.device) -> tuple[float, float]:
        cfg = self.cfg
        gen = torch.Generator().manual_seed(seed * 1_000_003 + index)
        z = torch.randn([cfg.batch_gen, G.z_dim], generator=gen).to(device)
        c = self._labels(cfg.batch_gen, int(getattr(G, "c_dim", 0)), gen, device)
        ws = G.mapping(z, c)

        def synth() -> torch.Tensor:
            return call_network(G.synthesis, ws, noise_mode="const", force_fp32=True).float()

        eye = torch.eye(3, device=M.device, dtype=M.dtype)
        M.copy_(eye)
        orig = synth()
        if self.kind in ("eqt_int", "eqt_frac"):
            t = (torch.rand(2, generator=gen, dtype=torch.float64) * 2 - 1) * cfg.translate_max
            if self.kind == "eqt_int":
                t = torch.round(t * G.img_resolution) / G.img_resolution
            M.copy_(eye)
            M[:2, 2] = -t.to(M.dtype)
            img = synth()
            transform = eq.integer_translation if self.kind == "eqt_int" else eq.fractional_translation
            ref, mask = transform(orig, float(t[0]), float(t[1]))
        else:
            u = torch.rand([], generator=gen, dtype=torch.float64)
            angle = float((u * 2 - 1) * (cfg.rotate_max * math.pi))
            M.copy_(eq.rotation_matrix(-angle).to(M))
            img = synth()
            ref, ref_mask = eq.fractional_rotation(orig, angle)
            img, img_mask = eq.pseudo_rotation(img, angle)
            mask = ref_mask * img_mask
        err = ((ref - img).square() * mask).to(torch.float64).sum()
        return float(err), float(mask.to(torch.float64).sum())

    def compute(self, ctx: Any) -> dict[str, Any]:
        G = ctx.G
        M = input_transform(G) if G is not None else None
        if M is None or not hasattr(G, "mapping"):
            raise ConfigError(f"metric {self.cfg.name!r} needs a generator with a mapping network and a "
                              "user-settable input transform (G.synthesis.input.transform, as StyleGAN3's); "
                              f"{type(G).__name__} has none", "--metrics")
        device = torch.device(ctx.device)
        num_batches = math.ceil(self.cfg.num_gen / self.cfg.batch_gen)
        saved = M.detach().clone()
        start = time.time()
        sums = torch.zeros(2, dtype=torch.float64)
        try:
            for index in range(ctx.rank, num_batches, ctx.world_size):
                err, count = self._batch(G, M, index, int(ctx.seed), device)
                sums += torch.tensor([err, count], dtype=torch.float64)
        finally:
            M.copy_(saved)
        if ctx.world_size > 1:
            from ganforge.core import distributed as dist

            sums = dist.all_reduce_sum(sums.to(device)).cpu()
        value = eq.psnr(float(sums[0]), float(sums[1]))
        provenance = {"num_gen": num_batches * self.cfg.batch_gen, "batch_gen": self.cfg.batch_gen,
                      "transform": self.kind, "translate_max": self.cfg.translate_max,
                      "rotate_max": self.cfg.rotate_max, "detector": "none",
                      "sampling_time": time.time() - start}
        return {"results": {self.cfg.name: value}, "provenance": provenance}


_KINDS = {"eqt50k_int": "eqt_int", "eqt50k_frac": "eqt_frac", "eqr50k": "eqr"}


def make_metric(cfg: Any) -> EquivarianceMetric:
    """The metric object of an equivariance metric config."""
    return EquivarianceMetric(cfg, _KINDS[cfg.name])
