"""The metric objects: ``factory(cfg) -> metric`` with ``compute(ctx) -> {"results", "provenance"}``.

Two-set metrics (FID, KID, PR, the EfficientNet proxy) compare real with generated images, or, for
``gan metrics compare A B``, image set A (the reference, "real") with image set B
(``ctx.options["compare"] = (A, B)``).
"""

from __future__ import annotations

import contextlib
import datetime
from collections.abc import Callable, Iterator
from typing import Any

import torch

from ganforge import __version__
from ganforge.core.errors import ConfigError
from ganforge.core.metrics import MetricContext
from ganforge.plugins.default_metrics import formulas
from ganforge.plugins.default_metrics.detectors import Detector, get_detector
from ganforge.plugins.default_metrics.sources import Progress, generator_stats, imageset_stats, real_dataset_config, \
    real_stats
from ganforge.plugins.default_metrics.stats import FeatureSet

__all__ = ["FID", "KID", "PR", "IS", "progress_bars", "make_metric"]


@contextlib.contextmanager
def progress_bars(enabled: bool) -> Iterator[Progress]:
    """A factory of rich progress bars (``(description, total) -> advance``); no-ops when disabled."""
    if not enabled:
        yield lambda desc, total: (lambda n: None)
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), refresh_per_second=2, transient=True) as bars:
        def factory(desc: str, total: int) -> Callable[[int], None]:
            task = bars.add_task(desc, total=total)
            return lambda n: bars.advance(task, n)

        yield factory


def _show_progress(ctx: MetricContext) -> bool:
    return bool(ctx.progress) and ctx.rank == 0


def _device(ctx: MetricContext) -> torch.device:
    return torch.device(ctx.device)


class _TwoSets:
    """Base of metrics on (real, generated) features."""

    kind = "inception"
    keep_rows = False  # the metric needs the feature vectors themselves
    keep_moments = True  # the metric needs their mean and covariance
    need_logits = False

    def __init__(self, cfg: Any):
        self.cfg = cfg

    def fn(self, det: Detector) -> Callable[[torch.Tensor], torch.Tensor]:
        return det.features

    def score(self, real: FeatureSet, gen: FeatureSet, ctx: MetricContext) -> dict[str, float]:
        raise NotImplementedError

    def compute(self, ctx: MetricContext) -> dict[str, Any]:
        cfg = self.cfg
        det = get_detector(self.kind, cfg, _device(ctx), need_logits=self.need_logits)
        fn = self.fn(det)
        flags = {"keep_rows": self.keep_rows, "keep_moments": self.keep_moments}
        prov: dict[str, Any] = {}
        with progress_bars(_show_progress(ctx)) as bars:
            compare = ctx.options.get("compare")
            if compare is not None:
                real, rp = imageset_stats(compare[0], det, fn, cfg, progress=bars, **flags)
                gen, gp = imageset_stats(compare[1], det, fn, cfg, progress=bars, **flags)
                prov.update(reference=rp["dataset"], reference_hash=rp["dataset_hash"], compared=gp["dataset"],
                            compared_hash=gp["dataset_hash"], stats_cache=[rp["stats_cache"], gp["stats_cache"]])
            else:
                if ctx.G is None:
                    raise ConfigError("needs a generator (--network)", cfg.name)
                data_cfg = real_dataset_config(ctx.dataset_config, cfg, ctx.G)
                real, rp = real_stats(data_cfg, det, fn, cfg, max_items=cfg.num_real, progress=bars, **flags)
                gen = generator_stats(ctx.G, det, fn, cfg, seed=ctx.seed, device=_device(ctx),
                                      dataset_config=ctx.dataset_config, progress=bars, **flags)
                prov.update(dataset=rp["dataset"], dataset_hash=rp["dataset_hash"], stats_cache=rp["stats_cache"])
        results = self.score(real, gen, ctx)
        prov.update(num_real=real.count, num_gen=gen.count)
        return {"results": results, "provenance": provenance(ctx, det, prov)}


def provenance(ctx: MetricContext, det: Detector, extra: dict[str, Any]) -> dict[str, Any]:
    """The provenance fields of every result line (``docs/metrics.md``)."""
    return {**det.provenance(), "seed": ctx.seed, "network": ctx.network_path, "ganforge": __version__,
            "time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "num_processes": ctx.world_size, **extra}


def _key(ctx: MetricContext, name: str, short: str) -> str:
    return short if "compare" in ctx.options else name


class FID(_TwoSets):
    """Fréchet Inception distance (Heusel et al., NeurIPS 2017)."""

    def score(self, real: FeatureSet, gen: FeatureSet, ctx: MetricContext) -> dict[str, float]:
        mu_g, sigma_g = gen.gaussian()
        mu_r, sigma_r = real.gaussian()
        return {_key(ctx, self.cfg.name, "fid"): formulas.frechet_distance(mu_g, sigma_g, mu_r, sigma_r)}


class KID(_TwoSets):
    """Kernel Inception distance (Bińkowski et al., ICLR 2018)."""

    keep_rows = True
    keep_moments = False

    def score(self, real: FeatureSet, gen: FeatureSet, ctx: MetricContext) -> dict[str, float]:
        kid = formulas.kernel_inception_distance(real.rows(), gen.rows(), self.cfg.num_subsets,
                                                 self.cfg.max_subset_size, seed=ctx.seed)
        return {_key(ctx, self.cfg.name, "kid"): kid}


class PR(_TwoSets):
    """Improved precision and recall in VGG16 feature space (Kynkäänniemi et al., NeurIPS 2019)."""

    kind = "vgg16"
    keep_rows = True
    keep_moments = False

    def score(self, real: FeatureSet, gen: FeatureSet, ctx: MetricContext) -> dict[str, float]:
        device = _device(ctx)
        choice = self.cfg.distance_dtype
        dtype = torch.float16 if choice == "float16" or (choice == "auto" and device.type == "cuda") else torch.float32
        if dtype == torch.float16 and device.type != "cuda":
            dtype = torch.float32
        precision, recall = formulas.precision_recall(
            torch.from_numpy(real.rows()).to(device), torch.from_numpy(gen.rows()).to(device),
            self.cfg.nhood_size, self.cfg.row_batch_size, self.cfg.col_batch_size, dtype)
        prefix = _key(ctx, self.cfg.name, "")
        return {f"{prefix}_precision".lstrip("_"): precision, f"{prefix}_recall".lstrip("_"): recall}


class IS:
    """Inception score (Salimans et al., NeurIPS 2016): softmax of the 1008-way logits without bias."""

    def __init__(self, cfg: Any):
        self.cfg = cfg

    def compute(self, ctx: MetricContext) -> dict[str, Any]:
        cfg = self.cfg
        det = get_detector("inception", cfg, _device(ctx), need_logits=True)
        compare = ctx.options.get("compare")
        with progress_bars(_show_progress(ctx)) as bars:
            if compare is not None:
                gen, gp = imageset_stats(compare[1], det, det.probs, cfg, keep_rows=True, progress=bars)
                extra = {"compared": gp["dataset"], "compared_hash": gp["dataset_hash"]}
            else:
                if ctx.G is None:
                    raise ConfigError("needs a generator (--network)", cfg.name)
                gen = generator_stats(ctx.G, det, det.probs, cfg, seed=ctx.seed, device=_device(ctx),
                                      dataset_config=ctx.dataset_config, keep_rows=True, progress=bars)
                extra = {}
        extra.setdefault("dataset", None)
        extra.setdefault("dataset_hash", None)  # IS uses no real images
        splits = min(cfg.num_splits, gen.count)  # a tiny set cannot fill 10 splits
        extra["num_splits"] = splits
        mean, std = formulas.inception_score(gen.rows(), splits)
        key = _key(ctx, cfg.name, "is")
        return {"results": {f"{key}_mean": mean, f"{key}_std": std},
                "provenance": provenance(ctx, det, {"num_gen": gen.count, "num_real": 0, **extra})}


class Proxy(FID):
    """PROXY (not FID): Fréchet distance of EfficientNet-Lite0 features."""

    kind = "effnet-lite0"

    def score(self, real: FeatureSet, gen: FeatureSet, ctx: MetricContext) -> dict[str, float]:
        mu_g, sigma_g = gen.gaussian()
        mu_r, sigma_r = real.gaussian()
        return {_key(ctx, self.cfg.name, "fd_effnet_proxy"): formulas.frechet_distance(mu_g, sigma_g, mu_r, sigma_r)}


_CLASSES: dict[str, type] = {"fid50k_full": FID, "fid10k_full": FID, "fid50k": FID, "kid50k_full": KID, "kid50k": KID,
                             "pr50k3_full": PR, "pr50k3": PR, "is50k": IS, "fd_effnet_proxy": Proxy}


def make_metric(cfg: Any) -> Any:
    """The metric object for a config."""
    if cfg.name.startswith("ppl"):
        from ganforge.plugins.default_metrics.ppl import PPL

        return PPL(cfg)
    return _CLASSES[cfg.name](cfg)
