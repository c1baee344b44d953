"""Factories: our config + the data's :class:`~ganforge.core.specs.DataInfo` -> the ``ganforge.nn`` networks.

The translation to upstream constructor arguments lives here (and, reversed, in ``importer.py``), so a
config and an official ``init_kwargs`` dict describe the same network.
"""

from __future__ import annotations

from typing import Any

from ganforge.core.errors import ConfigError
from ganforge.core.specs import DataInfo
from ganforge.nn.stylegan2_discriminator import StyleGAN2Discriminator
from ganforge.nn.stylegan2_generator import StyleGAN2Generator
from ganforge.plugins.stylegan2.config import (
    StyleGAN2DiscriminatorConfig,
    StyleGAN2GeneratorConfig,
    channel_problems,
)

__all__ = ["build_generator", "build_discriminator", "generator_kwargs", "discriminator_kwargs"]


def generator_kwargs(cfg: StyleGAN2GeneratorConfig) -> dict[str, Any]:
    """Upstream ``Generator`` keyword arguments (StyleGAN3-codebase layout: synthesis kwargs flat)."""
    mapping: dict[str, Any] = {"num_layers": cfg.map_depth, "lr_multiplier": cfg.map_lr_multiplier,
                               "w_avg_beta": cfg.w_avg_beta}
    if cfg.embed_features is not None:
        mapping["embed_features"] = cfg.embed_features
    if cfg.layer_features is not None:
        mapping["layer_features"] = cfg.layer_features
    return {
        "z_dim": cfg.z_dim, "w_dim": cfg.w_dim, "mapping_kwargs": mapping,
        "channel_base": cfg.cbase, "channel_max": cfg.cmax, "num_fp16_res": cfg.num_fp16_res,
        "architecture": cfg.architecture, "conv_clamp": cfg.conv_clamp,
        "fused_modconv_default": cfg.fused_modconv_default, "fp16_channels_last": cfg.fp16_channels_last,
        "resample_filter": list(cfg.resample_filter), "use_noise": cfg.use_noise,
    }


def discriminator_kwargs(cfg: StyleGAN2DiscriminatorConfig) -> dict[str, Any]:
    """Upstream ``Discriminator`` keyword arguments."""
    return {
        "architecture": cfg.architecture, "channel_base": cfg.cbase, "channel_max": cfg.cmax,
        "num_fp16_res": cfg.num_fp16_res, "conv_clamp": cfg.conv_clamp, "cmap_dim": cfg.cmap_dim,
        "block_kwargs": {"freeze_layers": cfg.freeze_layers, "fp16_channels_last": cfg.fp16_channels_last,
                         "resample_filter": list(cfg.resample_filter)},
        "mapping_kwargs": {"num_layers": cfg.map_depth, "lr_multiplier": cfg.map_lr_multiplier},
        "epilogue_kwargs": {"mbstd_group_size": cfg.mbstd_group_size,
                            "mbstd_num_channels": cfg.mbstd_num_channels},
    }


def build_generator(cfg: StyleGAN2GeneratorConfig, info: DataInfo) -> StyleGAN2Generator:
    """The generator for data of ``info.resolution`` x ``info.channels`` with ``info.label_dim`` classes."""
    for problem in channel_problems("generator", cfg, info.resolution):
        raise ConfigError(problem)
    G = StyleGAN2Generator(c_dim=info.label_dim, img_resolution=info.resolution,
                           img_channels=info.channels, **generator_kwargs(cfg))
    G.style_mixing_prob = cfg.style_mixing_prob
    return G


def build_discriminator(cfg: StyleGAN2DiscriminatorConfig, info: DataInfo) -> StyleGAN2Discriminator:
    """The discriminator for data described by ``info``."""
    for problem in channel_problems("discriminator", cfg, info.resolution):
        raise ConfigError(problem)
    return StyleGAN2Discriminator(c_dim=info.label_dim, img_resolution=info.resolution,
                                  img_channels=info.channels, **discriminator_kwargs(cfg))
