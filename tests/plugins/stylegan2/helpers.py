"""Small StyleGAN2 networks and official-layout snapshots of them, for the stylegan2 tests."""

from __future__ import annotations

from typing import Any

import torch

from ganforge.core.specs import DataInfo
from ganforge.plugins.stylegan2.config import StyleGAN2DiscriminatorConfig, StyleGAN2GeneratorConfig
from ganforge.plugins.stylegan2.networks import build_discriminator, build_generator, generator_kwargs
from ganforge.testing.official_pickle import persistent, write_official_pickle

SMALL_G = dict(z_dim=16, w_dim=16, map_depth=2, cbase=256, cmax=16)
SMALL_D = dict(cbase=256, cmax=16, mbstd_group_size=2)

# What the embedded module source of an official snapshot declares (never executed by anyone).
SG2_SOURCE = "\n".join(f"class {name}(torch.nn.Module):\n    pass" for name in (
    "FullyConnectedLayer", "Conv2dLayer", "MappingNetwork", "SynthesisLayer", "ToRGBLayer", "SynthesisBlock",
    "SynthesisNetwork", "Generator", "DiscriminatorBlock", "MinibatchStdLayer", "DiscriminatorEpilogue",
    "Discriminator"))
SG3_SOURCE = "\n".join(f"class {name}(torch.nn.Module):\n    pass" for name in (
    "FullyConnectedLayer", "MappingNetwork", "SynthesisInput", "SynthesisLayer", "SynthesisNetwork", "Generator"))

_UPSTREAM_NAMES = {"StyleGAN2Generator": "Generator", "StyleGAN2Discriminator": "Discriminator",
                   "MinibatchStd": "MinibatchStdLayer"}


def g_config(**kw: Any) -> StyleGAN2GeneratorConfig:
    return StyleGAN2GeneratorConfig(**{**SMALL_G, **kw})


def d_config(**kw: Any) -> StyleGAN2DiscriminatorConfig:
    return StyleGAN2DiscriminatorConfig(**{**SMALL_D, **kw})


def make_G(res: int = 16, c_dim: int = 0, channels: int = 3, **kw: Any) -> torch.nn.Module:
    return build_generator(g_config(**kw), DataInfo(res, channels, c_dim))


def make_D(res: int = 16, c_dim: int = 0, channels: int = 3, **kw: Any) -> torch.nn.Module:
    return build_discriminator(d_config(**kw), DataInfo(res, channels, c_dim))


@torch.no_grad()
def randomize(module: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Give every learned tensor and running statistic a random non-trivial value (filters stay)."""
    gen = torch.Generator().manual_seed(seed)
    lr_mult = {f"{name}.{leaf}": getattr(m, "lr_multiplier", 1.0) for name, m in module.named_modules()
               for leaf in ("weight", "bias")}
    for name, t in list(module.named_parameters()) + list(module.named_buffers()):
        if name.endswith("resample_filter") or not t.is_floating_point():
            continue
        leaf = name.rsplit(".", 1)[-1]
        scale = {"bias": 0.2, "noise_strength": 0.3, "w_avg": 1.0}.get(leaf, 1.0) / lr_mult.get(name, 1.0)
        t.copy_(torch.randn(t.shape, generator=gen) * scale + (1.0 if name.endswith("affine.bias") else 0.0))
    return module


def _plain_attributes(module: torch.nn.Module) -> dict[str, Any]:
    """The plain attributes an official object pickles in its state (ints, floats, strings, ...)."""
    out = {}
    for key, value in vars(module).items():
        if key.startswith("_") or key == "training":
            continue
        if isinstance(value, bool | int | float | str | type(None)):
            out[key] = value
        elif isinstance(value, list) and all(isinstance(v, int | float) for v in value):
            out[key] = list(value)
    return out


def sg3_layout_kwargs(G: torch.nn.Module, cfg: StyleGAN2GeneratorConfig) -> dict[str, Any]:
    kw = generator_kwargs(cfg)
    return {**kw, "c_dim": G.c_dim, "img_resolution": G.img_resolution, "img_channels": G.img_channels}


def ada_layout_kwargs(G: torch.nn.Module, cfg: StyleGAN2GeneratorConfig, omit_defaults: bool = False) -> dict[str, Any]:
    """StyleGAN2-ADA's nested layout, as its train.py writes it (num_fp16_res/conv_clamp set explicitly unless
    ``omit_defaults``, when the class defaults and recorded attributes must be used)."""
    kw = generator_kwargs(cfg)
    mapping = {"num_layers": cfg.map_depth}
    synthesis = {"channel_base": cfg.cbase, "channel_max": cfg.cmax, "architecture": cfg.architecture}
    if not omit_defaults:
        synthesis.update(num_fp16_res=kw["num_fp16_res"], conv_clamp=kw["conv_clamp"])
        mapping["w_avg_beta"] = cfg.w_avg_beta
    return {"z_dim": cfg.z_dim, "w_dim": cfg.w_dim, "c_dim": G.c_dim, "img_resolution": G.img_resolution,
            "img_channels": G.img_channels, "mapping_kwargs": mapping, "synthesis_kwargs": synthesis}


def d_kwargs(D: torch.nn.Module, cfg: StyleGAN2DiscriminatorConfig) -> dict[str, Any]:
    return {"c_dim": D.c_dim, "img_resolution": D.img_resolution, "img_channels": D.img_channels,
            "architecture": cfg.architecture, "channel_base": cfg.cbase, "channel_max": cfg.cmax,
            "num_fp16_res": cfg.num_fp16_res, "conv_clamp": cfg.conv_clamp,
            "block_kwargs": {"freeze_layers": cfg.freeze_layers},
            "mapping_kwargs": {}, "epilogue_kwargs": {"mbstd_group_size": cfg.mbstd_group_size}}


def official(module: torch.nn.Module, top_kwargs: dict[str, Any], source: str = SG2_SOURCE,
             attributes: bool = True, class_names: dict[str, str] | None = None) -> Any:
    """``module`` as an official persistence object (top-level init_kwargs; plain attributes recorded)."""
    names = {**_UPSTREAM_NAMES, **(class_names or {})}
    return persistent(
        module, source,
        class_name=lambda m: names.get(type(m).__name__, type(m).__name__),
        init_kwargs=lambda path, m: top_kwargs if path == "" else {},
        extra_state=(lambda path, m: _plain_attributes(m)) if attributes else None)


def write_snapshot(path: Any, G: torch.nn.Module | None, D: torch.nn.Module | None, G_ema: torch.nn.Module | None,
                   g_kwargs: dict[str, Any] | None = None, dk: dict[str, Any] | None = None,
                   source: str = SG2_SOURCE, attributes: bool = True) -> None:
    nets: dict[str, Any] = {"augment_pipe": None}
    for role, net in (("G", G), ("G_ema", G_ema)):
        nets[role] = official(net, g_kwargs or {}, source, attributes) if net is not None else None
    nets["D"] = official(D, dk or {}, source, attributes) if D is not None else None
    write_official_pickle(str(path), nets, training_set_kwargs={"class_name": "training.dataset.ImageFolderDataset",
                                                                "path": "data.zip", "xflip": False})
