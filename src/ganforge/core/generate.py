"""Generating images from a network, with the conventions of the official tools.

Seed ``k`` draws ``z = RandomState(k).randn(1, z_dim)`` (float64, cast to float32); images are
converted with ``(x * 127.5 + 128).clamp(0, 255)`` to uint8 and saved as ``seed<k:04d>.png``. So the
same network gives the same images here and in the official ``gen_images.py``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import torch

from ganforge.core.errors import ConfigError
from ganforge.core.options import accepts, call_network

__all__ = ["parse_range", "parse_vec2", "seed_latents", "make_labels", "synthesize", "set_input_transform",
           "accepts"]


def parse_range(text: str | Sequence[int], what: str = "--seeds") -> list[int]:
    """``"0,1,4-6"`` -> ``[0, 1, 4, 5, 6]``."""
    if not isinstance(text, str):
        return [int(v) for v in text]
    out: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        m = re.fullmatch(r"(\d+)\s*-\s*(\d+)", part)
        if m:
            lo, hi = int(m.group(1)), int(m.group(2))
            if hi < lo:
                raise ConfigError(f"range {part!r} ends before it starts", what)
            out.extend(range(lo, hi + 1))
        elif re.fullmatch(r"\d+", part):
            out.append(int(part))
        else:
            raise ConfigError(f"cannot read {part!r}; expected numbers and ranges like 0,1,4-6", what)
    if not out:
        raise ConfigError("is empty; expected numbers and ranges like 0,1,4-6", what)
    return out


def parse_vec2(text: str, what: str) -> tuple[float, float]:
    parts = [p.strip() for p in str(text).split(",")]
    try:
        if len(parts) != 2:
            raise ValueError
        return float(parts[0]), float(parts[1])
    except ValueError:
        raise ConfigError(f"expected two comma-separated numbers like 0.1,-0.2, got {text!r}", what) from None


def seed_latents(seeds: Iterable[int], z_dim: int) -> torch.Tensor:
    """``[len(seeds), z_dim]`` float32 latents, row k = ``RandomState(seed_k).randn(1, z_dim)``."""
    rows = [np.random.RandomState(int(s) % (1 << 32)).randn(1, z_dim) for s in seeds]
    return torch.from_numpy(np.concatenate(rows)).to(torch.float32)


def make_labels(n: int, c_dim: int, class_idx: int | None) -> torch.Tensor:
    """One-hot labels of ``class_idx`` (zeros for unconditional networks)."""
    c = torch.zeros([n, c_dim])
    if c_dim > 0:
        if class_idx is None:
            raise ConfigError(f"the network is conditional ({c_dim} classes); choose one with --class 0..{c_dim - 1}",
                              "--class")
        if not 0 <= class_idx < c_dim:
            raise ConfigError(f"class {class_idx} is out of range; the network has classes 0..{c_dim - 1}", "--class")
        c[:, class_idx] = 1
    return c


def set_input_transform(G: torch.nn.Module, translate: tuple[float, float] = (0.0, 0.0), rotate: float = 0.0) -> None:
    """Set StyleGAN3's user transform (translation, rotation in degrees) on ``G.synthesis.input.transform``."""
    target = getattr(getattr(getattr(G, "synthesis", None), "input", None), "transform", None)
    if target is None:
        raise ConfigError("--translate/--rotate need a generator with a Fourier-feature input "
                          "(StyleGAN3: G.synthesis.input.transform); this one has none", "--translate")
    a = rotate / 360 * 2 * math.pi
    m = torch.tensor([[math.cos(a), math.sin(a), translate[0]],
                      [-math.sin(a), math.cos(a), translate[1]],
                      [0.0, 0.0, 1.0]], dtype=torch.float64)
    target.copy_(torch.linalg.inv(m).to(target.dtype))


@torch.no_grad()
def synthesize(G: torch.nn.Module, z: torch.Tensor, c: torch.Tensor, *, truncation_psi: float = 1.0,
               truncation_cutoff: int | None = None, noise_mode: str = "const", batch: int = 8,
               device: Any = "cpu") -> torch.Tensor:
    """Images ``[N, C, H, W]`` float32 from ``G(z, c)``, in batches, on ``device``.

    Truncation needs a generator whose forward takes ``truncation_psi`` (style-based ones).
    """
    device = torch.device(device)
    if (truncation_psi != 1 or truncation_cutoff is not None) and not accepts(G, "truncation_psi"):
        raise ConfigError(f"{type(G).__name__} has no truncation (no mapping network); use --trunc 1", "--trunc")
    if noise_mode not in ("const", "random", "none"):
        raise ConfigError(f"noise mode must be const, random or none, got {noise_mode!r}", "--noise-mode")
    out = []
    for zz, cc in zip(z.split(batch), c.split(batch), strict=True):
        img = call_network(G, zz.to(device), cc.to(device), truncation_psi=truncation_psi,
                                  truncation_cutoff=truncation_cutoff, noise_mode=noise_mode)
        out.append(img.float().cpu())
    return torch.cat(out)
