"""The console line printed per tick."""

from __future__ import annotations

from ganforge.plugins.default_logging.writers import tick_line


def _stats(**values: float) -> dict:
    return {key.replace("__", "/"): {"mean": value} for key, value in values.items()}


def test_tick_line_shows_sub_kimg_progress_of_short_runs():
    line = tick_line(_stats(Progress__tick=1, Progress__kimg=0.032, Loss__G__loss=1.5, Loss__D__loss=0.25))
    assert "kimg 0.032" in line
    assert "G 1.5000" in line and "D 0.2500" in line


def test_tick_line_keeps_one_decimal_for_long_runs():
    assert "kimg 1204.0 " in tick_line(_stats(Progress__tick=300, Progress__kimg=1204.0))
    assert "kimg 4.0 " in tick_line(_stats(Progress__tick=1, Progress__kimg=4.0))
    assert "kimg 0.0 " in tick_line(_stats(Progress__tick=0, Progress__kimg=0.0))
    assert "augment" not in tick_line(_stats(Progress__kimg=1.0))
    assert "augment 0.125" in tick_line(_stats(Progress__kimg=1.0, Progress__augment=0.125))
