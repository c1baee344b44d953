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

#: On CPU, oneDNN's depthwise convolutions run 2-7x faster in channels_last layout than in NCHW,
#: but converting NCHW -> channels_last costs about one such pass and the way back about two
#: (measured single-threaded: [1, 128, 278, 278] 29 ms and 58 ms, vs 25-50 ms per 12-tap pass).
#: So a single upfirdn2d keeps the caller's layout, while filtered_lrelu (four passes at up to 4x
#: the input size) switches, given at least this many channels.
CL_MIN_CHANNELS = 8
#: Benchmarks and debugging: "channels_last" or "nchw" forces the layout of the CPU reference paths.
LAYOUT_OVERRIDE: str | None = None
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


# -- memory layout -------------------------------------------------------------------------------

def wants_channels_last(x: torch.Tensor) -> bool:
    """True when the caller's tensor is laid out channels_last (and not trivially both)."""
    return x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()


def compute_channels_last(x: torch.Tensor, multi_pass: bool = True) -> bool:
    """Whether to run depthwise convolutions on ``x`` in channels_last layout (see above)."""
    if LAYOUT_OVERRIDE is not None:
        return LAYOUT_OVERRIDE == "channels_last"
    return (x.device.type == "cpu" and x.dtype in _CL_DTYPES and x.shape[1] >= CL_MIN_CHANNELS
            and (multi_pass or wants_channels_last(x)))


def to_compute_layout(x: torch.Tensor, multi_pass: bool = True) -> torch.Tensor:
    """``x`` in the layout in which the depthwise convolutions will be fastest."""
    return x.contiguous(memory_format=torch.channels_last) if compute_channels_last(x, multi_pass) else x


def restore_layout(y: torch.Tensor, channels_last: bool) -> torch.Tensor:
    """Give the result the caller's layout (and make it dense)."""
    if (not channels_last and y.device.type == "cpu" and not requires_grad(y) and not y.is_contiguous()
            and y.is_contiguous(memory_format=torch.channels_last)):
        return _channels_last_to_nchw(y)
    return y.contiguous(memory_format=torch.channels_last if channels_last else torch.contiguous_format)


def _channels_last_to_nchw(y: torch.Tensor) -> torch.Tensor:
    """NHWC -> NCHW as one 2-D transpose per sample: PyTorch's blocked 2-D transpose copy is about
    4x faster on CPU than the generic strided copy ``contiguous()`` does (measured, 1x128x276x276)."""
    n, c, h, w = y.shape
    out = torch.empty((n, c, h, w), dtype=y.dtype, device=y.device)
    rows = y.permute(0, 2, 3, 1).reshape(n, h * w, c)  # a view: y is channels_last-contiguous
    for i in range(n):
        out[i].view(c, h * w).copy_(rows[i].t())
    return out


def pad_axis(x: torch.Tensor, dim: int, p0: int, p1: int) -> torch.Tensor:
    """Pad (positive) or crop (negative) both ends of one spatial axis (dim 2 or 3).

    The result is the window ``[-p0, size + p1)`` of ``x`` extended by zeros; crops are views.
    """
    size = x.shape[dim]
    start, stop = -p0, size + p1
    lo, hi = max(start, 0), min(stop, size)
    if hi <= lo:  # the window misses the data entirely
        lo = hi = 0
    if lo > 0 or hi < size:
        x = x.narrow(dim, lo, hi - lo)
    before, after = (lo - start, stop - hi) if hi > lo else (stop - start, 0)
    if before or after:
        x = F.pad(x, [before, after] if dim == 3 else [0, 0, before, after])
    return x


def requires_grad(*tensors: torch.Tensor | None) -> bool:
    """Whether autograd will record an op on these tensors."""
    return torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)
