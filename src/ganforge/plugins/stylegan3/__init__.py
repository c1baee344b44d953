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

#: Official train.py settings for --cfg stylegan3-t (batch-dependent ones at batch 32; see the docs).
SUGGESTS_T = {"training.glr": 0.0025, "loss.style_mixing_prob": 0.0}
#: ... and for stylegan3-r: the D-input blur, sigma 10 fading over batch * 200 / 32 kimg.
SUGGESTS_R = {**SUGGESTS_T, "loss.blur_init_sigma": 10.0, "loss.blur_fade_kimg": 200.0}

_SUMMARIES = {
    "stylegan3": "StyleGAN3-T (alias-free, translation equivariant); same as stylegan3-t",
    "stylegan3-t": "StyleGAN3-T: alias-free generator, translation equivariant (3x3 convs, sinc filters)",
    "stylegan3-r": "StyleGAN3-R: alias-free generator, translation and rotation equivariant (1x1 convs, "
                   "radial filters)",
}


def _generator(cfg: Any, info: Any) -> Any:
    from ganforge.plugins.stylegan3.generator import build_generator

    return build_generator(cfg, info)


def _metric(cfg: Any) -> Any:
    from ganforge.plugins.stylegan3.metrics import make_metric

    return make_metric(cfg)


@hookimpl
def ganforge_register_generators() -> list[GeneratorSpec]:
    from ganforge.plugins.stylegan3.config import GENERATOR_CONFIGS

    return [GeneratorSpec(name=name, factory=_generator, config=model, summary=_SUMMARIES[name], paper=PAPER,
                          provides={"mapping", "synthesis", "input_transform"},
                          suggests=SUGGESTS_R if name == "stylegan3-r" else SUGGESTS_T,
                          min_resolution=16, max_resolution=None, power_of_two=True, conditional=True)
            for name, model in GENERATOR_CONFIGS.items()]


@hookimpl
def ganforge_register_metrics() -> list[MetricSpec]:
    from ganforge.plugins.stylegan3.config import METRIC_CONFIGS

    return [MetricSpec(name=name, factory=_metric, config=model, summary=(model.__doc__ or "").strip(),
                       paper=PAPER) for name, model in METRIC_CONFIGS.items()]


@hookimpl
def ganforge_check_config(config: Any, registry: Any) -> list[str]:
    """The equivariance metrics need a generator that declares a user-settable input transform."""
    names = [m.name for m in config.metrics if m.name in ("eqt50k_int", "eqt50k_frac", "eqr50k")]
    if not names:
        return []
    spec = registry.get("generator", config.generator.name)
    if "input_transform" in spec.provides:
        return []
    return [f"metric {name!r} transforms the generator's input (G.synthesis.input.transform); generator "
            f"{spec.name!r} does not provide 'input_transform'" for name in names]


@hookimpl
def ganforge_import_network(record: Any, role: str) -> Any:
    """Official StyleGAN3 ``Generator`` records (T and R) become our generator."""
    from ganforge.plugins.stylegan3.importer import import_generator, is_stylegan3_generator

    if role not in ("G", "G_ema") or not is_stylegan3_generator(record):
        return None
    return import_generator(record)
