"""Library functions behind ``gan metrics``: evaluate a network, or compare two image sets.

:func:`calc_metrics` is StyleGAN's ``calc_metrics.py``: the dataset (and its x-flip) is looked up
in the network's recorded run configuration unless ``data`` is given; when the network file sits in
a run directory (a ``config.json`` beside it), results are appended to that directory's
``metric-<name>.jsonl``. Under torchrun, or with ``gpus > 1``, every process evaluates its share and
features are gathered.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from ganforge.core import distributed as dist
from ganforge.core.errors import ConfigError, UnknownComponentError
from ganforge.core.metrics import MetricContext, evaluate_metrics
from ganforge.core.specs import DataInfo

__all__ = ["calc_metrics", "compare_image_sets", "parse_metric_list", "COMPARE_METRICS", "metric_configs"]

#: ``gan metrics compare`` names -> the metric whose arithmetic they use.
COMPARE_METRICS = {"fid": "fid50k_full", "kid": "kid50k_full", "pr": "pr50k3_full", "is": "is50k",
                   "fd_effnet_proxy": "fd_effnet_proxy"}


def parse_metric_list(text: str | list[str], choices: list[str], what: str = "--metrics") -> list[str]:
    names = [m.strip() for m in (text.split(",") if isinstance(text, str) else text) if m.strip()]
    if not names:
        raise ConfigError("is empty; name at least one metric", what)
    for name in names:
        if name not in choices:
            raise UnknownComponentError("metric", name, choices)
    return names


def metric_configs(names: list[str], options: dict[str, Any]) -> list[Any]:
    """Config models of ``names`` with the given options applied where the metric has them."""
    from ganforge.core.config import format_validation_error
    from ganforge.core.registry import get_registry
    from pydantic import ValidationError

    registry = get_registry()
    out = []
    for name in names:
        model = registry.get("metric", name).config
        values = {k: v for k, v in options.items() if v is not None and k in model.model_fields}
        try:
            out.append(model(name=name, **values))
        except ValidationError as exc:
            raise ConfigError(format_validation_error(exc, values), f"metric {name}") from None
    return out


def _dataset_config(data: str | None, recorded: dict[str, Any] | None) -> Any:
    from ganforge.core.registry import get_registry

    registry = get_registry()
    if data is not None:
        path = Path(data).expanduser()
        if path.exists():
            readers = [s for s in registry.specs("dataset") if s.reads(str(path))]
            if not readers:
                raise ConfigError(f"{data!r} exists but no dataset plugin reads it", "--data")
            entry: dict[str, Any] = {"name": max(readers, key=lambda s: s.priority).name, "path": str(path)}
        elif registry.has("dataset", data):
            entry = {"name": data}
        else:
            raise ConfigError(f"{data!r} is neither an existing file or folder nor a dataset name "
                              f"(datasets: {', '.join(registry.names('dataset'))})", "--data")
    elif recorded and isinstance(recorded.get("dataset"), dict):
        entry = dict(recorded["dataset"])
    else:
        return None
    spec = registry.get("dataset", entry["name"])
    try:
        return spec.config(**entry)
    except Exception as exc:
        raise ConfigError(f"invalid dataset settings {entry}: {exc}", "--data") from None


def _device(device: str, rank: int) -> torch.device:
    if device == "auto":
        return torch.device(f"cuda:{rank}") if torch.cuda.is_available() else torch.device("cpu")
    if device == "cuda" and torch.cuda.is_available():
        return torch.device(f"cuda:{rank}")
    return torch.device(device)


def _worker(rank: int, world: int, init_method: str | None, job: dict[str, Any]) -> None:
    device = _device(job["device"], rank)
    dist.init_process(rank, world, device.type, init_method)
    try:
        records = _evaluate(job, rank, world, device)
        if rank == 0 and job.get("result_file"):
            Path(job["result_file"]).write_text(json.dumps(records, default=str))
    finally:
        dist.shutdown()


def _evaluate(job: dict[str, Any], rank: int, world: int, device: torch.device) -> list[dict[str, Any]]:
    configs = metric_configs(job["metrics"], job["options"])
    if job.get("compare"):
        ctx = MetricContext(G=None, info=DataInfo(resolution=0), device=device, rank=rank, world_size=world,
                            seed=job["seed"], progress=job["progress"], options={"compare": job["compare"]})
        return evaluate_metrics(configs, ctx)
    from ganforge.core.checkpoint import load_bundle

    bundle = load_bundle(job["network"], device=device)
    G = bundle.generator().eval().requires_grad_(False).to(device)
    network = Path(job["network"])
    run_dir = network.parent if network.is_file() and (network.parent / "config.json").is_file() else None
    ctx = MetricContext(G=G, info=bundle.info or DataInfo(resolution=int(G.img_resolution)),
                        dataset_config=_dataset_config(job["data"], bundle.config), device=device, rank=rank,
                        world_size=world, network_path=str(network), run_dir=run_dir, seed=job["seed"],
                        progress=job["progress"])
    return evaluate_metrics(configs, ctx)


def _launch(job: dict[str, Any], gpus: int) -> list[dict[str, Any]]:
    if dist.under_torchrun():
        rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
        device = _device(job["device"], int(os.environ.get("LOCAL_RANK", rank)))
        dist.init_process(rank, world, device.type, None)
        return _evaluate(job, rank, world, device)
    if gpus <= 1:
        return _evaluate(job, 0, 1, _device(job["device"], 0))
    with tempfile.TemporaryDirectory() as tmp:
        job = {**job, "result_file": os.path.join(tmp, "records.json")}
        dist.launch(_worker, gpus, args=(job,))
        return json.loads(Path(job["result_file"]).read_text())


def calc_metrics(network: str | os.PathLike[str], metrics: str | list[str], *, data: str | None = None,
                 gpus: int = 1, seed: int = 0, device: str = "auto", progress: bool = False,
                 sha256: str | None = None, **options: Any) -> list[dict[str, Any]]:
    """Evaluate ``metrics`` on the generator of ``network``; returns the result records.

    Args:
        network: a network or checkpoint file (any format a plugin reads), an http(s) URL of one (downloaded
            once into the cache, before any process starts) or a run directory.
        metrics: names, as a list or comma-separated.
        data: dataset path or name; default: the dataset recorded in the network's run config.
        gpus: processes to start on this machine (ignored under torchrun).
        seed: seed of latents, labels and noise (results are reproducible for a fixed seed).
        device: ``auto``, ``cpu``, ``cuda``.
        sha256: expected SHA-256 of the network file.
        options: metric config fields applied where a metric has them (``num_gen``, ``detector``,
            ``detector_weights``, ``allow_download``, ...).
    """
    from ganforge.core.registry import get_registry

    names = parse_metric_list(metrics, get_registry().names("metric"))
    metric_configs(names, options)  # validate before loading anything
    from ganforge.core.download import resolve_network

    network = resolve_network(network, sha256)
    if not Path(network).exists():
        raise ConfigError(f"{os.fspath(network)!r} does not exist", "--network")
    job = {"network": os.fspath(network), "metrics": names, "data": data, "seed": seed, "device": device,
           "progress": progress, "options": options, "compare": None}
    return _launch(job, gpus)


def compare_image_sets(reference: str | os.PathLike[str], other: str | os.PathLike[str],
                       metrics: str | list[str] = "fid", *, gpus: int = 1, seed: int = 0, device: str = "auto",
                       progress: bool = False, **options: Any) -> list[dict[str, Any]]:
    """Compare two image sets (folders or zips, any image sizes) as pytorch-fid / clean-fid do.

    ``metrics`` among ``fid``, ``kid``, ``pr``, ``is`` (of ``other``) and ``fd_effnet_proxy``; every
    image of both sets is used. Statistics of both sets are cached by content.
    """
    names = parse_metric_list(metrics, list(COMPARE_METRICS))
    from ganforge.plugins.default_metrics.sources import ImageSet

    for path in (reference, other):
        if not Path(path).exists():
            raise ConfigError(f"{os.fspath(path)!r} does not exist; give two folders or zips of images", "compare")
        ImageSet(path).close()  # refuse an empty or unreadable set before loading any detector
    opts = {**options, "num_real": None, "num_gen": 1}
    job = {"network": None, "metrics": [COMPARE_METRICS[n] for n in names], "data": None, "seed": seed,
           "device": device, "progress": progress, "options": opts,
           "compare": (os.fspath(reference), os.fspath(other))}
    return _launch(job, gpus)
