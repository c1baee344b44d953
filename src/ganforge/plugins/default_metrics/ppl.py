"""Perceptual path length (Karras et al., "A Style-Based Generator Architecture for GANs", CVPR 2019,
arXiv:1812.04948), as StyleGAN2/3's ``ppl2_wend``.

For each sample: latents ``z0, z1`` and a label; in W the path is ``lerp(w0, w1, t)`` (in Z,
``slerp``), ``t = 0`` for ``sampling="end"``; images at ``t`` and ``t + epsilon`` are synthesised
with freshly randomised constant noise; optionally cropped (faces); box-downsampled to 256 when
larger; scaled to [0, 255]; the LPIPS-VGG distance divided by ``epsilon²``. The result is the mean of
the distances between the 1st (lower) and 99th (higher) percentiles.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ganforge.core import distributed as dist
from ganforge.core.errors import ConfigError
from ganforge.core.options import call_network
from ganforge.core.metrics import MetricContext
from ganforge.plugins.default_metrics import formulas
from ganforge.plugins.default_metrics.detectors import get_detector
from ganforge.plugins.default_metrics.metrics import progress_bars, provenance
from ganforge.plugins.default_metrics.sources import real_dataset_config
from ganforge.plugins.default_metrics.stats import gather_rows, rank_items

__all__ = ["PPL", "slerp"]


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation of the directions of ``a`` and ``b`` ``[N, D]`` at ``t`` ``[N, 1]`` (unit norm)."""
    a = a / a.norm(dim=-1, keepdim=True)
    b = b / b.norm(dim=-1, keepdim=True)
    cos = (a * b).sum(dim=-1, keepdim=True).clamp(-1, 1)
    angle = t * torch.acos(cos)
    ortho = b - cos * a
    ortho = ortho / ortho.norm(dim=-1, keepdim=True)
    out = a * torch.cos(angle) + ortho * torch.sin(angle)
    return out / out.norm(dim=-1, keepdim=True)


class PPL:
    """``ppl2_wend`` and its variants (``space``, ``sampling``, ``epsilon``, ``crop``)."""

    def __init__(self, cfg: Any):
        self.cfg = cfg

    def _sample(self, G: torch.nn.Module, det: Any, c: torch.Tensor, device: torch.device) -> torch.Tensor:
        cfg = self.cfg
        b = len(c)
        t = torch.rand([b], device=device) * (1.0 if cfg.sampling == "full" else 0.0)
        z0, z1 = torch.randn([b * 2, G.z_dim], device=device).chunk(2)
        cc = torch.cat([c, c])
        if cfg.space == "w":
            w0, w1 = G.mapping(torch.cat([z0, z1]), cc).chunk(2)
            shape = [-1] + [1] * (w0.ndim - 1)
            wt = torch.cat([w0.lerp(w1, t.view(shape)), w0.lerp(w1, (t + cfg.epsilon).view(shape))])
        else:
            zt0 = slerp(z0, z1, t.unsqueeze(1))
            zt1 = slerp(z0, z1, (t + cfg.epsilon).unsqueeze(1))
            wt = G.mapping(torch.cat([zt0, zt1]), cc)
        for name, buf in G.named_buffers():
            if name.endswith(".noise_const") or name == "noise_const":
                buf.copy_(torch.randn_like(buf))
        img = call_network(G.synthesis, wt, noise_mode="const", force_fp32=True).float()
        if cfg.crop:
            s = img.shape[2] // 8
            img = img[:, :, s * 3: s * 7, s * 2: s * 6]
        factor = int(G.img_resolution) // 256
        if factor > 1:
            n, ch, h, w = img.shape
            img = img.reshape(n, ch, h // factor, factor, w // factor, factor).mean(dim=(3, 5))
        img = (img + 1) * (255 / 2)
        f0, f1 = det.lpips_features(img).chunk(2)
        return (f0 - f1).square().sum(1) / cfg.epsilon ** 2

    def compute(self, ctx: MetricContext) -> dict[str, Any]:
        cfg, G = self.cfg, ctx.G
        if G is None:
            raise ConfigError("needs a generator (--network)", cfg.name)
        if not (hasattr(G, "mapping") and hasattr(G, "synthesis")):
            raise ConfigError(f"needs a style-based generator with mapping and synthesis networks; "
                              f"{type(G).__name__} has none", cfg.name)
        device = torch.device(ctx.device)
        det = get_detector("vgg16", cfg, device, need_lpips=True)
        labels = None
        if int(getattr(G, "c_dim", 0)) > 0:
            from ganforge.core.registry import get_registry

            data_cfg = real_dataset_config(ctx.dataset_config, cfg, G)
            labels = get_registry().get("dataset", data_cfg.name).build(data_cfg)
        items = rank_items(cfg.num_gen, dist.rank(), dist.world_size())
        dists: list[np.ndarray] = []
        rng = np.random.default_rng([ctx.seed, dist.rank()])
        fork = [device] if device.type == "cuda" else []
        with torch.random.fork_rng(devices=fork), torch.no_grad(), progress_bars(ctx.progress and ctx.rank == 0) as bars:
            torch.manual_seed(ctx.seed + dist.rank())
            advance = bars("path segments", cfg.num_gen)
            for start in range(0, len(items), cfg.batch_gen):
                b = len(items[start:start + cfg.batch_gen])
                c = torch.zeros([b, int(getattr(G, "c_dim", 0))], device=device)
                if labels is not None:
                    idx = rng.integers(0, len(labels), b)
                    c = torch.from_numpy(np.stack([labels.get_label(int(i)) for i in idx])).to(device)
                d = gather_rows(self._sample(G, det, c, device).unsqueeze(1))
                dists.append(d[:, 0].cpu().numpy())
                advance(len(d))
        values = np.concatenate(dists)[: cfg.num_gen].astype(np.float64)
        if labels is not None and hasattr(labels, "close"):
            labels.close()
        prov = provenance(ctx, det, {"num_gen": len(values), "num_real": 0, "dataset": None,
                                     "dataset_hash": None, "epsilon": cfg.epsilon,
                                     "space": cfg.space, "sampling": cfg.sampling})
        return {"results": {cfg.name: formulas.ppl_reduce(values)}, "provenance": prov}
