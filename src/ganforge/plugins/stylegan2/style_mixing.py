"""Style-mixing grids (``gan style-mix``), as the official StyleGAN2-ADA ``style_mixing.py``.

Every row seed and column seed is mapped to W (``z = RandomState(seed).randn(z_dim)``), truncated as
upstream (``w_avg + (w - w_avg) * psi`` on all ws), and rendered. Cell (row, col) takes the row seed's ws
and replaces the ws listed in ``styles`` (default 0-6: the coarse and middle styles of a 1024 network)
by the column seed's. Output: ``<row>-<col>.png`` for every pair (the diagonal-like ``<s>-<s>.png`` for
each seed alone) and ``grid.png``: an empty top-left corner, the column images along the top, the row
images down the left side and the mixes inside.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ganforge.core.errors import ConfigError
from ganforge.core.images import save_png, to_uint8

__all__ = ["style_mix"]


@torch.no_grad()
def style_mix(G: torch.nn.Module, outdir: str | os.PathLike[str], row_seeds: Sequence[int],
              col_seeds: Sequence[int], styles: Sequence[int], *, trunc: float = 1.0,
              noise_mode: str = "const", class_idx: int | None = None, batch: int = 8, device: Any = "cpu",
              progress: Callable[[int, int], None] | None = None) -> Path:
    """Write the per-pair PNGs and ``grid.png`` to ``outdir``; returns the grid's path."""
    from ganforge.core.generate import make_labels

    if not (hasattr(G, "mapping") and hasattr(G, "synthesis")):
        raise ConfigError(f"{type(G).__name__} has no mapping/synthesis networks; style mixing needs a "
                          "style-based generator", "--network")
    num_ws = int(G.num_ws) if hasattr(G, "num_ws") else int(G.synthesis.num_ws)
    bad = [s for s in styles if not 0 <= s < num_ws]
    if bad:
        raise ConfigError(f"style indices {bad} are out of range; this network has ws 0..{num_ws - 1}",
                          "--styles")
    if trunc != 1 and getattr(G.mapping, "w_avg", None) is None:
        raise ConfigError("this network keeps no running mean of w; use --trunc 1", "--trunc")
    device = torch.device(device)
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    seeds = list(dict.fromkeys(list(row_seeds) + list(col_seeds)))
    z = torch.from_numpy(np.stack([np.random.RandomState(int(s) % (1 << 32)).randn(G.z_dim) for s in seeds]))
    c = make_labels(len(seeds), G.c_dim, class_idx if G.c_dim else None)
    ws = torch.cat([G.mapping(zz.to(device), cc.to(device)) for zz, cc in zip(z.split(batch), c.split(batch),
                                                                                strict=True)])
    if trunc != 1:
        w_avg = G.mapping.w_avg
        ws = w_avg + (ws - w_avg) * trunc
    w_of = dict(zip(seeds, ws, strict=True))
    pairs = list(dict.fromkeys([(s, s) for s in seeds] + [(r, col) for r in row_seeds for col in col_seeds]))
    mixed = []
    for r, col in pairs:
        w = w_of[r].clone()
        w[list(styles)] = w_of[col][list(styles)]
        mixed.append(w)
    images: dict[tuple[int, int], np.ndarray] = {}
    done = 0
    for start in range(0, len(pairs), batch):
        chunk = torch.stack(mixed[start:start + batch])
        arr = to_uint8(G.synthesis(chunk, noise_mode=noise_mode).float().cpu()).numpy()
        for pair, img in zip(pairs[start:start + batch], arr, strict=True):
            images[pair] = img
            save_png(out / f"{pair[0]}-{pair[1]}.png", img)
        done += len(chunk)
        if progress is not None:
            progress(done, len(pairs))
    h, w, ch = next(iter(images.values())).shape
    canvas = np.zeros([h * (len(row_seeds) + 1), w * (len(col_seeds) + 1), ch], dtype=np.uint8)
    for i, col in enumerate(col_seeds):
        canvas[:h, w * (i + 1): w * (i + 2)] = images[(col, col)]
    for j, r in enumerate(row_seeds):
        canvas[h * (j + 1): h * (j + 2), :w] = images[(r, r)]
        for i, col in enumerate(col_seeds):
            canvas[h * (j + 1): h * (j + 2), w * (i + 1): w * (i + 2)] = images[(r, col)]
    path = out / "grid.png"
    save_png(path, canvas)
    return path
