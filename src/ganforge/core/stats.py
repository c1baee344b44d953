"""Training statistics: ``report(name, value)`` anywhere, reduced across processes once per tick.

Each line of ``stats.jsonl`` holds, for every reported name, ``{"num": n, "mean": m, "std": s}``
over the tick (and over all processes), plus ``timestamp`` and the progress counters. Reporting is
cheap: values are accumulated as float64 sums on the device they live on, synchronised only when
the tick ends.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from typing import Any

import torch

__all__ = ["report", "report0", "Collector", "reset", "set_rank", "collector", "add_listener", "remove_listener"]

_rank = 0


def set_rank(rank: int) -> None:
    """Tell the module which process it is in (``report0`` only records on rank 0)."""
    global _rank
    _rank = rank


class Collector:
    """Accumulates ``[count, sum, sum of squares, non-finite count]`` per name.

    Args:
        regex: when given, only names matching it are accumulated (listeners such as ADA's).
    """

    def __init__(self, regex: str | None = None) -> None:
        self._acc: dict[str, torch.Tensor] = {}
        self._regex = re.compile(regex) if regex else None

    def wants(self, name: str) -> bool:
        return self._regex is None or self._regex.fullmatch(name) is not None

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Partial sums (kept in checkpoints so a resumed run continues them exactly)."""
        return {name: acc.detach().cpu().clone() for name, acc in self._acc.items()}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self._acc = {name: acc.clone().to(torch.float64) for name, acc in state.items()}

    def add(self, name: str, value: Any) -> None:
        if isinstance(value, torch.Tensor):
            v = value.detach().flatten().to(torch.float64)
        else:
            v = torch.as_tensor(value, dtype=torch.float64).flatten()
        if v.numel() == 0:
            return
        finite = torch.isfinite(v)
        moments = torch.stack([finite.sum().to(torch.float64), torch.where(finite, v, 0).sum(),
                               torch.where(finite, v.square(), 0).sum(), (~finite).sum().to(torch.float64)])
        acc = self._acc.get(name)
        if acc is None:
            self._acc[name] = moments
        else:
            acc += moments.to(acc.device)

    def names(self) -> list[str]:
        return sorted(self._acc)

    def reduce(self, names: Iterable[str] | None = None, all_reduce: Any = None) -> dict[str, dict[str, float]]:
        """Mean/std/num per name (summed over processes with ``all_reduce(tensor)`` if given); resets."""
        names = sorted(self._acc) if names is None else list(names)
        if not names:
            self._acc.clear()
            return {}
        rows = [self._acc.get(n, torch.zeros(4, dtype=torch.float64)).cpu() for n in names]
        stacked = torch.stack(rows)
        if all_reduce is not None:
            stacked = all_reduce(stacked)
        self._acc.clear()
        out: dict[str, dict[str, float]] = {}
        for name, (num, s, sq, nonfinite) in zip(names, stacked.tolist(), strict=True):
            if num <= 0 and nonfinite <= 0:
                continue
            mean = s / num if num > 0 else float("nan")
            var = max(sq / num - mean * mean, 0.0) if num > 0 else float("nan")
            row = {"num": int(num), "mean": mean, "std": math.sqrt(var) if num > 0 else float("nan")}
            if nonfinite:
                row["nonfinite"] = int(nonfinite)
            out[name] = row
        return out


_collector = Collector()
_listeners: list[Collector] = []


def add_listener(c: Collector) -> Collector:
    """Also feed ``c`` with every reported value whose name it wants."""
    _listeners.append(c)
    return c


def remove_listener(c: Collector) -> None:
    if c in _listeners:
        _listeners.remove(c)


def collector() -> Collector:
    """The process-wide collector the training loop reads at each tick."""
    return _collector


def report(name: str, value: Any) -> Any:
    """Record ``value`` (a number or tensor; every element counts) under ``name``; returns ``value``."""
    _collector.add(name, value)
    for listener in _listeners:
        if listener.wants(name):
            listener.add(name, value)
    return value


def report0(name: str, value: Any) -> Any:
    """Like :func:`report`, on rank 0 only (for values identical on every rank)."""
    if _rank == 0:
        report(name, value)
    return value


def reset() -> None:
    """Clear the process-wide collector and drop all listeners."""
    _collector._acc.clear()
    _listeners.clear()
