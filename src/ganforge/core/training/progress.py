"""The live progress display of training (rank 0, terminals only)."""

from __future__ import annotations

import sys
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

__all__ = ["TrainingProgress", "make_console"]


def make_console() -> Console:
    return Console(stderr=False, highlight=False)


class _KimgColumn(MofNCompleteColumn):
    def render(self, task: Any) -> Any:
        from rich.text import Text

        done = (task.completed or 0) / 1000
        total = (task.total or 0) / 1000
        return Text(f"{done:.1f}/{total:g} kimg", style="progress.download")


class TrainingProgress:
    """A rich progress bar in kimg with the last tick's losses, or nothing when disabled."""

    def __init__(self, console: Console, total_nimg: int, start_nimg: int, enabled: bool):
        self.enabled = enabled and console.is_terminal and sys.stdout.isatty()
        self._progress: Progress | None = None
        self._task: Any = None
        if self.enabled:
            self._progress = Progress(
                TextColumn("[bold]training"), BarColumn(), _KimgColumn(), TextColumn("{task.fields[losses]}"),
                TimeElapsedColumn(), TextColumn("left"), TimeRemainingColumn(),
                console=console, refresh_per_second=2, transient=False,
            )
            self._task = self._progress.add_task("training", total=total_nimg, completed=start_nimg, losses="")

    def __enter__(self) -> TrainingProgress:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._progress is not None:
            self._progress.stop()

    def update(self, cur_nimg: int, losses: str | None = None) -> None:
        if self._progress is None:
            return
        fields = {"losses": losses} if losses is not None else {}
        self._progress.update(self._task, completed=cur_nimg, **fields)
