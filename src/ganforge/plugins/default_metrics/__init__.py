"""Built-in metrics: FID, KID, precision/recall, IS, PPL (StyleGAN2/3 definitions) and a fast
EfficientNet-Lite0 proxy; the ``gan metrics`` command. See ``docs/metrics.md``."""

from __future__ import annotations

from typing import Any

from ganforge import hookimpl
from ganforge.core.specs import MetricSpec

_PAPERS = {
    "fid": "Heusel et al., GANs Trained by a Two Time-Scale Update Rule..., NeurIPS 2017 (arXiv:1706.08500)",
    "kid": "Bińkowski et al., Demystifying MMD GANs, ICLR 2018 (arXiv:1801.01401)",
    "pr5": "Kynkäänniemi et al., Improved Precision and Recall Metric..., NeurIPS 2019 (arXiv:1904.06991)",
    "is5": "Salimans et al., Improved Techniques for Training GANs, NeurIPS 2016 (arXiv:1606.03498)",
    "ppl": "Karras et al., A Style-Based Generator Architecture for GANs, CVPR 2019 (arXiv:1812.04948)",
    "fd_": "Proxy of FID (Heusel et al. 2017) in EfficientNet-Lite0 features (Tan & Le, ICML 2019)",
}


@hookimpl
def ganforge_register_metrics() -> list[MetricSpec]:
    from ganforge.plugins.default_metrics.configs import METRIC_CONFIGS

    return [MetricSpec(factory="ganforge.plugins.default_metrics.metrics:make_metric", config=model,
                       summary=(model.__doc__ or "").strip(), paper=_PAPERS[name[:3]],
                       # PPL interpolates in W: it needs a style-based generator
                       requires=frozenset({"generator.mapping", "generator.synthesis"}) if name.startswith("ppl")
                       else frozenset())
            for name, model in METRIC_CONFIGS.items()]


@hookimpl
def ganforge_register_commands(app: Any) -> None:
    from ganforge.plugins.default_metrics.cli import make_metrics_app

    app.add_typer(make_metrics_app(), name="metrics")
