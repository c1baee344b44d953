"""StyleGAN3 (alias-free) generators T and R, the equivariance metrics, and the official-pickle importer.

Hook implementations only; networks and torch load when a factory runs. See
``docs/plugins/stylegan3.md``.
"""

from __future__ import annotations

from typing import Any

from ganforge import hookimpl
from ganforge.core.specs import GeneratorSpec, MetricSpec

PAPER = ("Karras et al., Alias-Free Generative Adversarial Networks, NeurIPS 2021 "
         "(https://arxiv.org/abs/2106.12423)")

#: Official train.py settings for --cfg stylegan3-t/-r (the R blur schedule is in its config's defaults).
SUGGESTS = {"training.glr": 0.0025}
#: Forward options of the generators (``ganforge.core.options``); StyleGAN3 has no noise inputs and
#: accepts ``noise_mode`` only for the common generator interface.
OPTIONS = frozenset({"truncation_psi", "truncation_cutoff", "update_emas", "noise_mode", "force_fp32"})

_SUMMARIES = {
    "stylegan3": "StyleGAN3-T (alias-free, translation equivariant); same as stylegan3-t",
    "stylegan3-t": "StyleGAN3-T: alias-free generator, translation equivariant (3x3 convs, sinc filters)",
    "stylegan3-r": "StyleGAN3-R: alias-free generator, translation and rotation equivariant (1x1 convs, "
                   "radial filters)",
}


@hookimpl
def ganforge_register_generators() -> list[GeneratorSpec]:
    from ganforge.plugins.stylegan3.config import GENERATOR_CONFIGS

    return [GeneratorSpec(factory="ganforge.plugins.stylegan3.generator:build_generator", config=model,
                          summary=_SUMMARIES[name], paper=PAPER, options=OPTIONS,
                          provides={"mapping", "synthesis", "input_transform"}, suggests=SUGGESTS,
                          min_resolution=16, max_resolution=None, power_of_two=True, conditional=True,
                          tiny={"z_dim": 16, "w_dim": 16, "channel_base": 256, "channel_max": 16, "num_layers": 4})
            for name, model in GENERATOR_CONFIGS.items()]


@hookimpl
def ganforge_register_metrics() -> list[MetricSpec]:
    from ganforge.plugins.stylegan3.config import METRIC_CONFIGS

    # the equivariance metrics transform the generator's input (G.synthesis.input.transform)
    return [MetricSpec(factory="ganforge.plugins.stylegan3.metrics:make_metric", config=model,
                       summary=(model.__doc__ or "").strip(), paper=PAPER,
                       requires=frozenset({"generator.input_transform"}))
            for model in METRIC_CONFIGS.values()]


@hookimpl
def ganforge_import_network(record: Any, role: str) -> Any:
    """Official StyleGAN3 ``Generator`` records (T and R) become our generator."""
    from ganforge.plugins.stylegan3.importer import import_generator, is_stylegan3_generator

    if role not in ("G", "G_ema") or not is_stylegan3_generator(record):
        return None
    return import_generator(record)
