"""``ganforge.train``: resolve, check, create the run directory, launch the processes.

Example::

    import ganforge
    result = ganforge.train({"training": {"kimg": 2}})             # the defaults, 2 kimg
    result = ganforge.train(resume="runs/00003-pggan-pggan-shapes")  # continue exactly
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ganforge.core import distributed as dist
from ganforge.core.checkpoint import read_checkpoint
from ganforge.core.compat import check_compatibility
from ganforge.core.config import RunConfig, is_resolved, resolve_config
from ganforge.core.errors import CheckpointError, ConfigError
from ganforge.core.registry import get_registry
from ganforge.core.training.loop import Job, training_loop
from ganforge.core.training.run import Run
from ganforge.core.training.setup import build_dataset
from ganforge.core.training.state import CHECKPOINT_NAME

__all__ = ["train", "prepare", "find_checkpoint", "RunResult", "Run", "make_run_dir"]


@dataclass
class RunResult:
    """What :func:`train` returns."""

    run_dir: Path
    status: str
    cur_nimg: int
    config: RunConfig
    applied_defaults: list[str]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.+-]+", "-", text).strip("-") or "run"


def make_run_dir(config: RunConfig, data_name: str, world: int) -> Path:
    """Create ``<outdir>/<NNNNN>-<generator>-<disc>-<data>-gpus<N>-batch<B>[-<desc>]``."""
    outdir = Path(config.outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    ids = [int(m.group(1)) for p in outdir.iterdir() if p.is_dir() and (m := re.match(r"^(\d+)-", p.name))]
    desc = f"{config.generator.name}-{config.discriminator.name}-{_slug(data_name)}-gpus{world}-batch{config.training.batch}"
    if config.desc:
        desc += f"-{_slug(config.desc)}"
    run_id = max(ids, default=-1) + 1
    while True:  # another process may race us for the same id
        path = outdir / f"{run_id:05d}-{desc}"
        try:
            path.mkdir()
            return path
        except FileExistsError:
            run_id += 1


def find_checkpoint(resume: str | os.PathLike[str], outdir: str | os.PathLike[str] = "runs") -> Path:
    """Resolve ``--resume``: a run directory, a checkpoint file, or ``latest`` (newest run in ``outdir``)."""
    resume = os.fspath(resume)
    if resume == "latest":
        root = Path(outdir)
        runs = sorted((p for p in root.glob("*") if p.is_dir() and (p / CHECKPOINT_NAME).is_file()),
                      key=lambda p: (p / CHECKPOINT_NAME).stat().st_mtime)
        if not runs:
            raise CheckpointError(f"no run with a {CHECKPOINT_NAME} in {root}; nothing to resume", "--resume latest")
        return runs[-1] / CHECKPOINT_NAME
    path = Path(resume)
    if path.is_dir():
        if not (path / CHECKPOINT_NAME).is_file():
            raise CheckpointError(f"has no {CHECKPOINT_NAME}; only runs that wrote one can be resumed", str(path))
        return path / CHECKPOINT_NAME
    if not path.is_file():
        raise CheckpointError("no such run directory or checkpoint", str(path))
    return path


def _world(gpus: int) -> int:
    return int(os.environ["WORLD_SIZE"]) if dist.under_torchrun() else max(1, gpus)


def prepare(config: RunConfig | Mapping[str, Any] | str | os.PathLike[str] | None = None, *,
            resume: str | os.PathLike[str] | None = None, gpus: int = 1, kimg: float | None = None,
            outdir: str | None = None) -> tuple[RunConfig, list[str], Any, Path | None]:
    """Resolve and check a run without starting it. Returns ``(config, applied, info, checkpoint)``."""
    registry = get_registry()
    applied: list[str] = []
    checkpoint: Path | None = None
    if resume is not None:
        checkpoint = find_checkpoint(resume, outdir or "runs")
        data = read_checkpoint(checkpoint)
        if data.get("kind") != "training":
            raise CheckpointError("is a network snapshot, not a resumable checkpoint; use --resume-from to start a "
                                  "new run from its weights", str(checkpoint))
        raw = data["config"]
        if kimg is not None:
            raw = {**raw, "training": {**raw["training"], "kimg": kimg}}
        config, _ = resolve_config(raw, registry=registry)
        done = data["progress"]["cur_nimg"]
        if done >= config.training.kimg * 1000:
            raise ConfigError(f"the run in {checkpoint.parent} already reached {done / 1000:.1f} kimg of "
                              f"{config.training.kimg:g}; give --kimg larger than that to train longer", "--kimg")
        from ganforge.core.specs import DataInfo

        return config, applied, DataInfo(**data["info"]), checkpoint
    if isinstance(config, RunConfig) and is_resolved(config, registry):
        pass  # validated once already
    elif isinstance(config, RunConfig):
        config, applied = resolve_config(config.to_dict(), registry=registry)
    else:
        overrides = {"training.kimg": kimg} if kimg is not None else None
        config, applied = resolve_config(config, overrides=overrides, registry=registry)
    if outdir is not None:
        config = config.model_copy(update={"outdir": outdir})
    dataset = build_dataset(config, registry)
    info = dataset.info
    if hasattr(dataset, "close"):
        dataset.close()
    check_compatibility(config, info, registry, world=_world(gpus))
    return config, applied, info, checkpoint


def train(config: RunConfig | Mapping[str, Any] | str | os.PathLike[str] | None = None, *,
          resume: str | os.PathLike[str] | None = None, gpus: int = 1, kimg: float | None = None,
          outdir: str | None = None, plugins_dir: str | None = None,
          resume_from: str | os.PathLike[str] | None = None) -> RunResult:
    """Train a GAN.

    Args:
        config: a :class:`RunConfig`, a dict in the run-file layout, or the path of a TOML/JSON run file
            (None: the defaults).
        resume: continue a run exactly: its directory, its ``checkpoint.pt``, or ``"latest"``.
        gpus: processes to start on this machine (ignored under torchrun, which starts them).
        kimg: override ``training.kimg`` (also to extend a finished run on resume).
        outdir: override ``outdir``.
        plugins_dir: a directory of one-file plugins every process loads.
        resume_from: start a new run from the weights of a network file or URL (matching names and shapes are
            copied; G_ema too when the file has it).

    Returns:
        A :class:`RunResult` (run directory, final status, images shown).

    Raises:
        GanforgeError: bad configuration, incompatible components or data, unreadable checkpoint,
            divergence (:class:`~ganforge.core.errors.TrainingDivergedError`).
    """
    config, applied, info, checkpoint = prepare(config, resume=resume, gpus=gpus, kimg=kimg, outdir=outdir)
    world = _world(gpus)
    if checkpoint is not None:
        run_dir = checkpoint.parent
        if not dist.under_torchrun() or int(os.environ.get("RANK", "0")) == 0:
            for stale in run_dir.glob(".*.tmp"):  # left by a process killed while writing
                stale.unlink(missing_ok=True)
    elif dist.under_torchrun():
        # every torchrun process gets here: rank 0 names the run directory, the others learn it
        import torch.distributed as tdist

        if not tdist.is_initialized():
            tdist.init_process_group(backend="nccl" if _uses_cuda(config) else "gloo")
        path = str(make_run_dir(config, info.name, world)) if tdist.get_rank() == 0 else None
        run_dir = Path(dist.broadcast_object(path))
    else:
        run_dir = make_run_dir(config, info.name, world)
    if checkpoint is None and (not dist.under_torchrun() or dist.rank() == 0):
        with open(run_dir / "config.json", "w", encoding="utf-8") as f:
            json.dump(config.to_dict(), f, indent=2)
    if resume_from is not None:  # a URL is downloaded (or found in the cache) here, once, before any process starts
        from ganforge.core.download import resolve_network

        resume_from = resolve_network(resume_from)
    spawned = world > 1 and not dist.under_torchrun()
    # in this process the loop takes the validated config as is; spawned processes get its dict
    job = Job(config=config.to_dict() if spawned else config, run_dir=str(run_dir),
              resume=str(checkpoint) if checkpoint else None,
              resume_from=os.fspath(resume_from) if resume_from is not None else None, plugins_dir=plugins_dir)
    result: dict[str, Any] = {}

    def _capture(rank: int, world: int, init_method: str | None, job: Job) -> None:
        result.update(training_loop(rank, world, init_method, job))

    if spawned:
        dist.launch(training_loop, world, (job,))
        status, nimg = _final_state(run_dir)
    else:
        dist.launch(_capture, world, (job,))
        status, nimg = result.get("status", "done"), result.get("cur_nimg", 0)
    return RunResult(run_dir=run_dir, status=status, cur_nimg=nimg, config=config, applied_defaults=applied)


def _uses_cuda(config: RunConfig) -> bool:
    import torch

    return config.training.device != "cpu" and torch.cuda.is_available()


def _final_state(run_dir: Path) -> tuple[str, int]:
    ckpt = run_dir / CHECKPOINT_NAME
    if ckpt.is_file():
        progress = read_checkpoint(ckpt).get("progress", {})
        return "done", int(progress.get("cur_nimg", 0))
    return "unknown", 0
