"""The metric contract and the runner used by training and ``gan metrics``.

A metric plugin registers a :class:`~ganforge.core.specs.MetricSpec` whose ``factory(cfg)`` returns
an object with ``compute(ctx: MetricContext) -> dict[str, float]``. The runner times it, adds
provenance (what was measured, how, and with which versions) and appends one JSON line to
``metric-<name>.jsonl`` in the run directory.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch

from ganforge import __version__
from ganforge.core.specs import DataInfo

__all__ = ["Metric", "MetricContext", "evaluate_metrics", "append_jsonl"]


class Metric(Protocol):
    def compute(self, ctx: MetricContext) -> dict[str, Any]:
        """Return ``{"results": {name: value}, "provenance": {...}}`` or a plain ``{name: value}`` dict."""
        ...


@dataclass
class MetricContext:
    """What a metric gets to work with.

    Attributes:
        G: the generator to evaluate (``G_ema``), in eval mode on ``device``.
        info: resolution, channels and label size of G's data.
        dataset_config: the dataset component config (for real-image statistics), or None.
        device, rank, world_size: where it runs (metrics gather features across processes).
        network_path: file the generator came from (recorded as provenance).
        run_dir: run directory (results are appended there), or None.
        seed: seed of the latents and labels drawn for generated images.
        progress: show progress bars (rank 0, terminals).
        options: free-form options of the caller (``batch``, ``num_gen``, ...).
    """

    G: torch.nn.Module | None
    info: DataInfo
    dataset_config: Any = None
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    rank: int = 0
    world_size: int = 1
    network_path: str | None = None
    run_dir: Path | None = None
    seed: int = 0
    progress: bool = False
    options: dict[str, Any] = field(default_factory=dict)
    _dataset: Any = None

    def dataset(self) -> Any:
        """The real dataset (built on first use from ``dataset_config``)."""
        if self._dataset is None:
            if self.dataset_config is None:
                from ganforge.core.errors import ConfigError

                raise ConfigError("this metric needs real images; give --data", "--data")
            from ganforge.core.registry import get_registry

            spec = get_registry().get("dataset", self.dataset_config.name)
            self._dataset = spec.build(self.dataset_config)
        return self._dataset


def append_jsonl(path: Path, record: dict[str, Any]) -> None:
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(record, default=str) + "\n")


def evaluate_metrics(configs: list[Any], ctx: MetricContext, registry: Any = None) -> list[dict[str, Any]]:
    """Compute each metric of ``configs``; append results to ``run_dir/metric-<name>.jsonl`` on rank 0."""
    if registry is None:
        from ganforge.core.registry import get_registry

        registry = get_registry()
    records = []
    for cfg in configs:
        spec = registry.get("metric", cfg.name)
        metric = spec.build(cfg)
        start = time.time()
        out = metric.compute(ctx)
        results = out.get("results", out) if isinstance(out, dict) else out
        provenance = out.get("provenance", {}) if isinstance(out, dict) else {}
        record = {
            "metric": cfg.name,
            "results": results,
            "total_time": time.time() - start,
            "num_gpus": ctx.world_size,
            "snapshot_pkl": ctx.network_path,
            "provenance": {"ganforge": __version__, "torch": str(torch.__version__), "seed": ctx.seed,
                           "config": cfg.model_dump(mode="json"), **provenance},
            "timestamp": time.time(),
        }
        records.append(record)
        if ctx.rank == 0 and ctx.run_dir is not None:
            append_jsonl(Path(ctx.run_dir) / f"metric-{cfg.name}.jsonl", record)
    return records
