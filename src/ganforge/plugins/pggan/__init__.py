"""PGGAN generator and discriminator, with the frequency-bias up/down-sampling variants.

Hook implementations only; the networks (and torch) are imported when a factory is called.
See ``docs/plugins/pggan.md``.
"""

from __future__ import annotations

from typing import Any

from ganforge import hookimpl
from ganforge.core.specs import DiscriminatorSpec, GeneratorSpec
from ganforge.plugins.pggan.config import PGGANDiscriminatorConfig, PGGANGeneratorConfig, check_run

PAPER = ("Karras et al., Progressive Growing of GANs for Improved Quality, Stability, and Variation, "
         "ICLR 2018; variants from Schwarz et al., On the Frequency Bias of Generative Models, NeurIPS 2021")


@hookimpl
def ganforge_register_generators() -> list[GeneratorSpec]:
    return [GeneratorSpec(
        factory="ganforge.plugins.pggan.generator:build_generator", config=PGGANGeneratorConfig, paper=PAPER,
        summary="PGGAN generator (pixel norm, equalized lr) with nearest/bilinear/zeros/shuffle upsampling "
                "and optional progressive growing",
        min_resolution=8, max_resolution=1024, power_of_two=True, conditional=True,
        tiny={"z_dim": 16, "fmaps_base": 256, "fmaps_max": 16})]


@hookimpl
def ganforge_register_discriminators() -> list[DiscriminatorSpec]:
    return [DiscriminatorSpec(
        factory="ganforge.plugins.pggan.discriminator:build_discriminator", config=PGGANDiscriminatorConfig, paper=PAPER, check=check_run,
        summary="PGGAN discriminator (minibatch stddev, projection head when conditional) with "
                "avg/stride/blurpool downsampling and optional progressive growing",
        min_resolution=8, max_resolution=1024, power_of_two=True, conditional=True,
        tiny={"fmaps_base": 256, "fmaps_max": 16, "mbstd_group_size": 2})]


#: The built-in default of `gan run` with no arguments: a small PGGAN pair on the procedural shapes
#: dataset, sized to finish on a 2-core laptop CPU in about two minutes.
QUICKSTART = {
    "generator": {"name": "pggan", "z_dim": 128, "fmaps_base": 2048, "fmaps_max": 64, "fused_scale": True},
    "discriminator": {"name": "pggan", "fmaps_base": 2048, "fmaps_max": 64, "mbstd_group_size": 4},
    "loss": {"name": "logistic"},
    "regularizers": {"r1": {"gamma": 0.1, "interval": 16}},
    "dataset": {"name": "shapes", "resolution": 32},
    "training": {"kimg": 6, "batch": 32, "glr": 0.002, "dlr": 0.002, "kimg_per_tick": 1, "ema_kimg": 1,
                 "image_snapshot_ticks": 2, "network_snapshot_ticks": 3, "grid": [8, 6]},
}


@hookimpl
def ganforge_register_presets() -> list[Any]:
    from ganforge.core.specs import PresetSpec

    return [PresetSpec(name="quickstart", config=QUICKSTART, paper=PAPER,
                       summary="Default of `gan run`: a small PGGAN on 32x32 procedural shapes, ~2 minutes on a "
                               "2-core CPU.")]
