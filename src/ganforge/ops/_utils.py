"""Helpers shared by the op modules: argument parsing, implementation choice and memory layout.

Private: nothing here is part of the public API.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

IMPLS = ("auto", "cuda", "ref")

#: On CPU the reference paths run depthwise convolutions in channels_last layout, where oneDNN
#: vectorises across channels (5-7x faster than NCHW for C >= 16). Below this many channels the
#: layout change costs more than it saves.
CL_MIN_CHANNELS = 8
_CL_DTYPES = (torch.float32, torch.bfloat16)


def check_impl(impl: str) -> str:
    if impl not in IMPLS:
        raise ValueError(f"impl must be one of {', '.join(map(repr, IMPLS))}, got {impl!r}")
    return impl


def check_image(x: Any, what: str = "x") -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{what} must be a torch.Tensor, got {type(x).__name__}")
    if x.ndim != 4:
        raise ValueError(f"{what} must be a 4-D tensor [N, C, H, W], got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise TypeError(f"{what} must be a floating-point tensor, got {x.dtype}")


def parse_scaling(scaling: int | Sequence[int], what: str = "up/down") -> tuple[int, int]:
    """``int`` or ``[x, y]`` -> ``(sx, sy)``, each >= 1."""
    try:
        sx = sy = operator.index(scaling)  # type: ignore[arg-type]
    except TypeError:
        values = [operator.index(s) for s in scaling]  # type: ignore[union-attr]
        if len(values) != 2:
            raise ValueError(f"{what} must be an int or [x, y], got {scaling!r}")
        sx, sy = values
    if sx < 1 or sy < 1:
        raise ValueError(f"{what} factors must be >= 1, got {scaling!r}")
    return sx, sy


def parse_padding(padding: int | Sequence[int]) -> tuple[int, int, int, int]:
    """``int``, ``[px, py]`` or ``[x0, x1, y0, y1]`` -> ``(x0, x1, y0, y1)``; negative values crop."""
    try:
        p = operator.index(padding)  # type: ignore[arg-type]
        return p, p, p, p
    except TypeError:
        values = [operator.index(v) for v in padding]  # type: ignore[union-attr]
    if len(values) == 2:
        px, py = values
        return px, px, py, py
    if len(values) == 4:
        return values[0], values[1], values[2], values[3]
    raise ValueError(f"padding must be an int, [px, py] or [x0, x1, y0, y1], got {padding!r}")


def filter_size(f: torch.Tensor | None) -> tuple[int, int]:
    """``(fw, fh)`` of a FIR filter: None -> 1x1, 1-D (separable) -> taps x taps, 2-D -> [fh, fw]."""
    if f is None:
        return 1, 1
    if not isinstance(f, torch.Tensor) or f.ndim not in (1, 2) or f.numel() == 0:
        raise ValueError(f"a filter must be None or a non-empty 1-D or 2-D tensor, got "
                         f"{tuple(f.shape) if isinstance(f, torch.Tensor) else type(f).__name__}")
    if f.ndim == 1:
        return f.shape[0], f.shape[0]
    return f.shape[1], f.shape[0]


def resampled_size(size: int, up: int, down: int, pad0: int, pad1: int, taps: int) -> int:
    """Length of one axis after upsampling, padding, valid FIR filtering and decimation."""
    return (size * up + pad0 + pad1 - taps) // down + 1


# -- memory layout -------------------------------------------------------------------------------

def wants_channels_last(x: torch.Tensor) -> bool:
    """True when the caller's tensor is laid out channels_last (and not trivially both)."""
    return x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()


def compute_channels_last(x: torch.Tensor) -> bool:
    """Whether depthwise convolutions on ``x`` are faster in channels_last layout."""
    return x.device.type == "cpu" and x.dtype in _CL_DTYPES and x.shape[1] >= CL_MIN_CHANNELS


def to_compute_layout(x: torch.Tensor) -> torch.Tensor:
    """``x`` in the layout in which depthwise convolutions are fastest on its device."""
    return x.contiguous(memory_format=torch.channels_last) if compute_channels_last(x) else x


def restore_layout(y: torch.Tensor, channels_last: bool) -> torch.Tensor:
    """Give the result the caller's layout (and make it dense)."""
    return y.contiguous(memory_format=torch.channels_last if channels_last else torch.contiguous_format)


def pad_axis(x: torch.Tensor, dim: int, p0: int, p1: int) -> torch.Tensor:
    """Pad (positive) or crop (negative, as a view) both ends of one spatial axis (dim 2 or 3)."""
    if p0 < 0 or p1 < 0:
        start = max(-p0, 0)
        stop = x.shape[dim] - max(-p1, 0)
        x = x.narrow(dim, start, stop - start)
        p0, p1 = max(p0, 0), max(p1, 0)
    if p0 or p1:
        x = F.pad(x, [p0, p1] if dim == 3 else [0, 0, p0, p1])
    return x


def requires_grad(*tensors: torch.Tensor | None) -> bool:
    """Whether autograd will record an op on these tensors."""
    return torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)
