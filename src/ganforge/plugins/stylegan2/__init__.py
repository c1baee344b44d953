"""StyleGAN2: generator, discriminator, path-length regularizer, official presets, import of official
pickles, and the ``gan video`` / ``gan style-mix`` tools.

Hook implementations only; networks (and torch) are imported when a factory or hook body runs.
See ``docs/plugins/stylegan2.md``.
"""

from __future__ import annotations

from typing import Any

from ganforge import hookimpl
from ganforge.core.specs import DiscriminatorSpec, GeneratorSpec, PresetSpec, RegularizerSpec
from ganforge.plugins.stylegan2.config import (
    PathLengthConfig,
    StyleGAN2DiscriminatorConfig,
    StyleGAN2GeneratorConfig,
    check_discriminator_run,
    check_generator_run,
    check_path_length_run,
)

PAPER = ("Karras et al., Analyzing and Improving the Image Quality of StyleGAN, CVPR 2020 "
         "(https://arxiv.org/abs/1912.04958)")


_NETWORKS = "ganforge.plugins.stylegan2.networks"
#: Forward options of the generator (``ganforge.core.options``).
GENERATOR_OPTIONS = frozenset({"truncation_psi", "truncation_cutoff", "update_emas", "noise_mode", "force_fp32",
                               "fused_modconv"})


@hookimpl
def ganforge_register_generators() -> list[GeneratorSpec]:
    return [GeneratorSpec(
        factory=f"{_NETWORKS}:build_generator", config=StyleGAN2GeneratorConfig, paper=PAPER,
        check=check_generator_run, options=GENERATOR_OPTIONS,
        summary="StyleGAN2 generator: mapping network, modulated convolutions with demodulation, noise, "
                "orig/skip/resnet, fp16 on CUDA; official parameter names (official pickles load)",
        provides=frozenset({"mapping", "synthesis"}), min_resolution=4, power_of_two=True, conditional=True,
        tiny={"z_dim": 16, "w_dim": 16, "map_depth": 2, "cbase": 256, "cmax": 16})]


@hookimpl
def ganforge_register_discriminators() -> list[DiscriminatorSpec]:
    return [DiscriminatorSpec(
        factory=f"{_NETWORKS}:build_discriminator", config=StyleGAN2DiscriminatorConfig, paper=PAPER,
        check=check_discriminator_run, options={"update_emas", "force_fp32"},
        summary="StyleGAN2 discriminator (also StyleGAN3's): orig/skip/resnet, minibatch std, projection "
                "conditioning, Freeze-D, fp16 on CUDA; official parameter names",
        min_resolution=8, power_of_two=True, conditional=True,
        tiny={"cbase": 256, "cmax": 16, "mbstd_group_size": 2, "map_depth": 2})]


@hookimpl
def ganforge_register_losses() -> list[RegularizerSpec]:
    return [RegularizerSpec(
        factory="ganforge.plugins.stylegan2.path_length:PathLengthTerm", config=PathLengthConfig, player="G",
        paper=PAPER,
        summary="Path-length regularization of G (lazy, running mean kept in checkpoints)",
        requires=frozenset({"generator.mapping", "generator.synthesis"}), check=check_path_length_run)]


@hookimpl
def ganforge_register_presets() -> list[PresetSpec]:
    from ganforge.plugins.stylegan2.presets import PRESETS

    return [PresetSpec(name=name, config=config, summary=summary, paper=paper)
            for name, (config, summary, paper) in PRESETS.items()]


@hookimpl
def ganforge_import_network(record: Any, role: str) -> Any:
    if role == "augment_pipe":
        return None
    from ganforge.plugins.stylegan2.importer import import_network

    return import_network(record, role)


@hookimpl
def ganforge_register_commands(app: Any) -> None:
    from ganforge.plugins.stylegan2.cli import register

    register(app)
