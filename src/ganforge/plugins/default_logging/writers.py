"""stats.jsonl, console tick lines and TensorBoard scalars (rank 0 only)."""

from __future__ import annotations

import json
from typing import Any

__all__ = ["start", "tick", "end", "format_time", "tick_line"]

_KEY = "default_logging"


def format_time(seconds: float) -> str:
    """``"1d 02h 03m"`` style, as the official tick line."""
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h {(s // 60) % 60:02d}m"
    return f"{s // 86400}d {(s // 3600) % 24:02d}h {(s // 60) % 60:02d}m"


def _mean(stats: dict[str, Any], key: str) -> float | None:
    row = stats.get(key)
    return row["mean"] if isinstance(row, dict) else None


def tick_line(stats: dict[str, Any]) -> str:
    kimg = _mean(stats, "Progress/kimg") or 0
    # one decimal as the official logs, more for the sub-kimg ticks of short CPU runs
    kimg_text = f"{kimg:.1f}" if kimg == 0 or kimg >= 10 or round(kimg, 1) == round(kimg, 3) else f"{kimg:.3f}"
    parts = [f"tick {int(_mean(stats, 'Progress/tick') or 0):<5d}", f"kimg {kimg_text:<8s}",
             f"time {format_time(_mean(stats, 'Timing/total_sec') or 0):<12s}",
             f"sec/tick {(_mean(stats, 'Timing/sec_per_tick') or 0):<7.1f}",
             f"sec/kimg {(_mean(stats, 'Timing/sec_per_kimg') or 0):<7.2f}",
             f"maintenance {(_mean(stats, 'Timing/maintenance_sec') or 0):<6.1f}",
             f"cpumem {(_mean(stats, 'Resources/cpu_mem_gb') or 0):<6.2f}"]
    gpu = _mean(stats, "Resources/peak_gpu_mem_gb")
    if gpu is not None:
        parts.append(f"gpumem {gpu:<6.2f}")
    aug = _mean(stats, "Progress/augment")
    if aug is not None:
        parts.append(f"augment {aug:.3f}")
    for key, label in (("Loss/G/loss", "G"), ("Loss/D/loss", "D")):
        value = _mean(stats, key)
        if value is not None:
            parts.append(f"{label} {value:.4f}")
    return " ".join(parts)


def _trim_stats(path: Any, next_tick: int) -> None:
    """On resume, drop lines of ticks after the checkpoint (written before a crash), keep the rest."""
    if not path.exists():
        return
    kept = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut short by a crash
            tick = row.get("Progress/tick", {}).get("mean") if isinstance(row.get("Progress/tick"), dict) else None
            if tick is None or tick < next_tick:
                kept.append(line if line.endswith("\n") else line + "\n")
    tmp = path.with_suffix(".jsonl.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.writelines(kept)
    tmp.replace(path)


def start(run: Any) -> None:
    if not run.is_main:
        return
    path = run.run_dir / "stats.jsonl"
    if run.resumed:
        _trim_stats(path, run.cur_tick)
    state: dict[str, Any] = {"jsonl": open(path, "a", encoding="utf-8"), "tb": None}
    if getattr(run.config.training, "tensorboard", True):
        try:
            from torch.utils.tensorboard import SummaryWriter

            state["tb"] = SummaryWriter(str(run.run_dir), purge_step=int(run.cur_nimg / 1000) if run.resumed else None)
        except ImportError:
            pass
    run.extra[_KEY] = state


def tick(run: Any, stats: dict[str, Any]) -> None:
    if not run.is_main:
        return
    state = run.extra.get(_KEY)
    if state is None:
        return
    state["jsonl"].write(json.dumps(stats, allow_nan=True) + "\n")
    state["jsonl"].flush()
    run.log(tick_line(stats))
    tb = state["tb"]
    if tb is not None:
        step = int(run.cur_nimg / 1000)
        for name, row in stats.items():
            if isinstance(row, dict) and "mean" in row:
                tb.add_scalar(name, row["mean"], global_step=step, walltime=stats.get("timestamp"))
        tb.flush()


def end(run: Any) -> None:
    state = run.extra.pop(_KEY, None)
    if state is None:
        return
    state["jsonl"].close()
    if state["tb"] is not None:
        state["tb"].close()
