"""The :class:`Run` object that run hooks receive."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ganforge.core.config import RunConfig
from ganforge.core.specs import DataInfo

__all__ = ["Run"]


@dataclass
class Run:
    """State of a training run, as plugins see it in run hooks.

    Attributes:
        config: the resolved configuration.
        run_dir: the run directory (config.json, stats.jsonl, snapshots, checkpoint.pt).
        info: resolution, channels and label size of the data.
        rank, world_size: this process and the number of processes.
        device: the device of this process.
        G, D, G_ema, augment, loss, dataset: the components.
        aux: auxiliary networks of the loss terms, by name (G-LIS's reverser ``R``).
        cur_nimg, cur_tick, batch_idx: progress counters (images shown to D, ticks, iterations).
        resumed: True when this process continues a run from its checkpoint.
        console: the rich console to print through (keeps the progress display intact).
    """

    config: RunConfig
    run_dir: Path
    info: DataInfo
    rank: int = 0
    world_size: int = 1
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    G: Any = None
    D: Any = None
    G_ema: Any = None
    augment: Any = None
    loss: Any = None
    aux: dict[str, Any] = field(default_factory=dict)
    dataset: Any = None
    cur_nimg: int = 0
    cur_tick: int = 0
    batch_idx: int = 0
    resumed: bool = False
    console: Any = None
    start_time: float = field(default_factory=time.time)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def total_nimg(self) -> int:
        return int(round(self.config.training.kimg * 1000))

    @property
    def kimg(self) -> float:
        return self.cur_nimg / 1000

    def log(self, message: str, *, style: str | None = None) -> None:
        """Print on rank 0 (through the progress console) and append to ``log.txt``."""
        if not self.is_main:
            return
        if self.console is not None:
            self.console.print(message, style=style, highlight=False, markup=False, soft_wrap=True)
        else:
            print(message, flush=True)
        with open(self.run_dir / "log.txt", "a", encoding="utf-8") as f:
            f.write(message + "\n")
