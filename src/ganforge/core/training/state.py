"""Saving and restoring the complete training state (exact resume) and network snapshots."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import torch

from ganforge.core import distributed as dist
from ganforge.core.checkpoint import FORMAT, FORMAT_VERSION, atomic_save, versions
from ganforge.core.errors import CheckpointError
from ganforge.core.training.run import Run
from ganforge.core.training.setup import Phase, capture_rng, restore_rng

__all__ = ["CHECKPOINT_NAME", "save_training_state", "restore_training_state", "save_network_snapshot",
           "snapshot_name"]

CHECKPOINT_NAME = "checkpoint.pt"


def snapshot_name(cur_nimg: int) -> str:
    return f"network-snapshot-{cur_nimg // 1000:06d}.pt"


def _header(run: Run, kind: str) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "kind": kind,
        "config": run.config.to_dict(),
        "info": run.info.to_dict(),
        "versions": versions(),
    }


def _optimizers(phases: list[Phase]) -> dict[str, torch.optim.Optimizer]:
    """Optimisers by player (``G``, ``D``, and each auxiliary network's name)."""
    return {phase.player: phase.opt for phase in phases}


def _networks(run: Run) -> dict[str, Any]:
    nets: dict[str, Any] = {"G": run.G.state_dict(), "D": run.D.state_dict(), "G_ema": run.G_ema.state_dict()}
    if run.aux:
        nets["aux"] = {name: module.state_dict() for name, module in run.aux.items()}
    return nets


def save_training_state(run: Run, phases: list[Phase], latent_gen: torch.Generator, progress: dict[str, Any],
                        collectors: dict[str, Any]) -> Path | None:
    """Write ``checkpoint.pt`` atomically (rank 0), with every rank's RNG and partial-statistics state."""
    per_rank = {"rng": capture_rng(run.device, latent_gen),
                "collectors": {name: c.state_dict() for name, c in collectors.items()}}
    gathered = dist.all_gather_object(per_rank)
    if not run.is_main:
        return None
    data = _header(run, "training")
    data.update({
        "networks": _networks(run),
        "augment": run.augment.state_dict() if run.augment is not None else None,
        "loss": run.loss.state_dict(),
        "optimizers": {name: opt.state_dict() for name, opt in _optimizers(phases).items()},
        "progress": dict(progress),
        "ranks": gathered,
    })
    path = run.run_dir / CHECKPOINT_NAME
    atomic_save(data, path)
    return path


def restore_training_state(run: Run, data: dict[str, Any], phases: list[Phase], latent_gen: torch.Generator,
                           collectors: dict[str, Any], path: str) -> dict[str, Any]:
    """Load networks, optimisers, augmentation and loss state, RNG and counters; returns the counters."""
    if data.get("kind") != "training":
        raise CheckpointError("is a network snapshot, not a resumable checkpoint; use --resume-from to start a "
                              "new run from its weights", path)
    try:
        run.G.load_state_dict(data["networks"]["G"])
        run.D.load_state_dict(data["networks"]["D"])
        run.G_ema.load_state_dict(data["networks"]["G_ema"])
        saved_aux = data["networks"].get("aux", {})
        for name, module in run.aux.items():
            if name not in saved_aux:
                raise CheckpointError(f"has no state of the auxiliary network {name!r} the configuration "
                                      "builds", path)
            module.load_state_dict(saved_aux[name])
    except RuntimeError as exc:
        raise CheckpointError(f"networks do not fit the configuration: {exc}", path) from None
    if run.augment is not None and data.get("augment") is not None:
        run.augment.load_state_dict(data["augment"])
    run.loss.load_state_dict(data.get("loss", {}))
    for name, opt in _optimizers(phases).items():
        opt.load_state_dict(data["optimizers"][name])
    ranks = data.get("ranks", [])
    if len(ranks) == run.world_size:
        mine = ranks[run.rank]
        restore_rng(mine["rng"], run.device, latent_gen)
        for name, c in collectors.items():
            c.load_state_dict(mine.get("collectors", {}).get(name, {}))
    else:
        if run.is_main:
            warnings.warn(f"{path} was written by {len(ranks)} process(es) and this run has {run.world_size}: "
                          "training continues, but not bit-identically to an uninterrupted run", stacklevel=2)
        if ranks:
            latent_gen.set_state(ranks[0]["rng"]["latent"])
    return dict(data["progress"])


def save_network_snapshot(run: Run, progress: dict[str, Any]) -> Path | None:
    """Write ``network-snapshot-<kimg>.pt`` (networks, config, info) atomically on rank 0."""
    if not run.is_main:
        return None
    data = _header(run, "network")
    data.update({
        "networks": _networks(run),
        "augment": run.augment.state_dict() if run.augment is not None else None,
        "progress": dict(progress),
    })
    path = run.run_dir / snapshot_name(run.cur_nimg)
    atomic_save(data, path)
    return path
