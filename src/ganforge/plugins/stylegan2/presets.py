"""Presets reproducing the official StyleGAN2 training configurations.

* ``stylegan2``: StyleGAN3's ``train.py --cfg stylegan2`` (UPSTREAM.md section 2.1): map depth 8, style
  mixing 0.9, path length (weight 2, every 4 minibatches, no weight gradients), lr 0.002, batch 32,
  EMA ``batch * 10 / 32`` kimg with ramp-up 0.05, R1 gamma 10 (train.py makes ``--gamma`` mandatory;
  10 is the paper's FFHQ-1024 value).
* ``stylegan2-paper256``, ``-paper512``, ``-paper1024``, ``-cifar``, ``-ada-stylegan2``: the rows of
  StyleGAN2-ADA's ``--cfg`` table (section 3), whose mapping running mean uses ``w_avg_beta=0.995``.
* ``stylegan2-auto<res>``: StyleGAN2-ADA's ``--cfg auto`` evaluated for one GPU at a resolution (the only
  inputs of its formula are the resolution and the GPU count).

The official ``--gamma``, ``--mirror``, ``--aug`` and ``--batch`` are ``gan run --gamma`` (``regularizers.r1.gamma``),
``--mirror`` (``dataset.xflip``), ``--aug ada|none`` (the ``augment`` section) and ``--batch``
(``training.batch``) on top of any preset.
"""

from __future__ import annotations

from typing import Any

__all__ = ["PRESETS", "ada_table_config", "auto_config", "AUTO_RESOLUTIONS"]

PAPER = ("Karras et al., Training Generative Adversarial Networks with Limited Data, NeurIPS 2020 "
         "(StyleGAN2-ADA)")
SG3_PAPER = "Karras et al., Alias-Free Generative Adversarial Networks, NeurIPS 2021 (its stylegan2 config)"
AUTO_RESOLUTIONS = (32, 64, 128, 256, 512, 1024)

# StyleGAN2-ADA's cfg table: ref_gpus, kimg, mb, mbstd, fmaps, lrate, gamma, ema, ramp, map
_ADA_TABLE: dict[str, tuple[int, int, int, int, float, float, float, float, float | None, int]] = {
    "stylegan2": (8, 25000, 32, 4, 1, 0.002, 10, 10, None, 8),
    "paper256": (8, 25000, 64, 8, 0.5, 0.0025, 1, 20, None, 8),
    "paper512": (8, 25000, 64, 8, 1, 0.0025, 0.5, 20, None, 8),
    "paper1024": (8, 25000, 32, 4, 1, 0.002, 2, 10, None, 8),
    "cifar": (2, 100000, 64, 32, 1, 0.0025, 0.01, 500, 0.05, 2),
}
_ADA_SUMMARIES = {
    "stylegan2": "gamma 10, batch 32, EMA 10 kimg",
    "paper256": "cbase 16384, gamma 1, batch 64, mbstd 8",
    "paper512": "gamma 0.5, batch 64, mbstd 8, lr 0.0025",
    "paper1024": "gamma 2, batch 32, lr 0.002",
    "cifar": "map 2, D orig, no path length or mixing, gamma 0.01",
}


def _config(*, kimg: float, batch: int, mbstd: int, fmaps: float, lrate: float, gamma: float,
            ema: float | None, ramp: float | None, map_depth: int, w_avg_beta: float, mixing: float = 0.9,
            pl_weight: float = 2.0, d_arch: str = "resnet") -> dict[str, Any]:
    cbase = int(fmaps * 32768)
    config: dict[str, Any] = {
        "generator": {"name": "stylegan2", "map_depth": map_depth, "cbase": cbase, "cmax": 512,
                      "w_avg_beta": w_avg_beta, "num_fp16_res": 4, "conv_clamp": 256, "style_mixing_prob": mixing},
        "discriminator": {"name": "stylegan2", "architecture": d_arch, "cbase": cbase, "cmax": 512,
                          "mbstd_group_size": mbstd, "num_fp16_res": 4, "conv_clamp": 256},
        "loss": {"name": "logistic"},
        "regularizers": {"r1": {"gamma": gamma, "interval": 16}},
        "training": {"kimg": kimg, "batch": batch, "glr": lrate, "dlr": lrate, "betas": [0.0, 0.99],
                     "eps": 1e-8, "ema_kimg": ema, "ema_rampup": ramp},
    }
    if pl_weight > 0:
        config["regularizers"]["path_length"] = {"pl_weight": pl_weight, "interval": 4, "pl_batch_shrink": 2,
                                                 "pl_decay": 0.01, "pl_no_weight_grad": True}
    return config


def ada_table_config(cfg: str) -> dict[str, Any]:
    """One row of StyleGAN2-ADA's ``--cfg`` table as a run configuration (batch as the reference setup)."""
    _gpus, kimg, mb, mbstd, fmaps, lrate, gamma, ema, ramp, map_depth = _ADA_TABLE[cfg]
    cifar = cfg == "cifar"
    return _config(kimg=kimg, batch=mb, mbstd=mbstd, fmaps=fmaps, lrate=lrate, gamma=gamma, ema=ema,
                   ramp=ramp, map_depth=map_depth, w_avg_beta=0.995, mixing=0.0 if cifar else 0.9,
                   pl_weight=0.0 if cifar else 2.0, d_arch="orig" if cifar else "resnet")


def auto_config(resolution: int, gpus: int = 1) -> dict[str, Any]:
    """StyleGAN2-ADA's ``--cfg auto`` formula for a resolution and a GPU count."""
    mb = max(min(gpus * min(4096 // resolution, 32), 64), gpus)
    return _config(kimg=25000, batch=mb, mbstd=min(mb // gpus, 4), fmaps=1 if resolution >= 512 else 0.5,
                   lrate=0.002 if resolution >= 1024 else 0.0025, gamma=0.0002 * resolution ** 2 / mb,
                   ema=mb * 10 / 32, ramp=0.05, map_depth=2, w_avg_beta=0.995)


def _sg3_stylegan2() -> dict[str, Any]:
    # ema None: batch * 10 / 32 kimg, as StyleGAN3's train.py
    config = _config(kimg=25000, batch=32, mbstd=4, fmaps=1, lrate=0.002, gamma=10, ema=None, ramp=0.05,
                     map_depth=8, w_avg_beta=0.998)
    config["generator"]["fused_modconv_default"] = "inference_only"
    return config


#: name -> (config, summary, paper)
PRESETS: dict[str, tuple[dict[str, Any], str, str]] = {
    "stylegan2": (_sg3_stylegan2(), "StyleGAN3 repo's train.py --cfg stylegan2: map depth 8, style mixing "
                  "0.9, path length 2 (lazy 4), R1 gamma 10 (lazy 16), lr 0.002, batch 32.", SG3_PAPER),
}
for _name, _summary in _ADA_SUMMARIES.items():
    _key = "stylegan2-ada-stylegan2" if _name == "stylegan2" else f"stylegan2-{_name}"
    PRESETS[_key] = (ada_table_config(_name), f"StyleGAN2-ADA --cfg {_name} ({_summary}).", PAPER)
for _res in AUTO_RESOLUTIONS:
    _mb = max(min(4096 // _res, 32), 1)
    PRESETS[f"stylegan2-auto{_res}"] = (
        auto_config(_res), f"StyleGAN2-ADA --cfg auto at {_res}x{_res} on 1 GPU (batch {_mb}, "
        f"gamma {0.0002 * _res ** 2 / _mb:g}, map depth 2).", PAPER)
