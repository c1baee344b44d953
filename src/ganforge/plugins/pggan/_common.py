"""Helpers both PGGAN networks use: the resolution check and the channel table."""

from __future__ import annotations

import math

from ganforge.core.errors import ConfigError

__all__ = ["LRELU_GAIN", "check_resolution", "channel_counts"]

#: He gain of the layers followed by a leaky ReLU: sqrt(2), the ReLU value, which PGGAN keeps for slope 0.2.
LRELU_GAIN = math.sqrt(2.0)


def check_resolution(resolution: int, what: str) -> int:
    """``log2(resolution)``; raise ``ValueError`` unless it is a power of two in [8, 1024]."""
    log2 = int(math.log2(resolution)) if resolution >= 1 else 0
    if resolution < 8 or resolution > 1024 or 2 ** log2 != resolution:
        raise ValueError(f"PGGAN {what} supports power-of-two resolutions from 8 to 1024, got {resolution}")
    return log2


def channel_counts(resolution: int, fmaps_base: int, fmaps_max: int, divide_channels_by: int,
                   section: str) -> dict[int, int]:
    """``{r: min(fmaps_base // r, fmaps_max) // divide_channels_by}`` for r = 2, 4, ..., resolution.

    ``r = 2`` is the width of the discriminator's hidden dense layer (PGGAN's ``nf(res // 2)`` at 4x4).

    Raises:
        ConfigError: some layer would have no channels (``section`` names the config section).
    """
    counts = {r: min(fmaps_base // r, fmaps_max) // divide_channels_by
              for r in (2 ** i for i in range(1, int(math.log2(resolution)) + 1))}
    empty = [r for r, c in counts.items() if c < 1]
    if empty:
        r = max(empty)  # the channel table falls with resolution: the finest layers are empty first
        formula = f"min({fmaps_base} // {r}, {fmaps_max}) // {divide_channels_by} = 0"
        raise ConfigError(f"layers at {r}x{r} would have no channels: min(fmaps_base // {r}, fmaps_max) // "
                          f"divide_channels_by = {formula}; raise fmaps_base or lower divide_channels_by",
                          f"{section}.divide_channels_by")
    return counts
