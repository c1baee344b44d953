"""Filtered leaky ReLU (``filtered_lrelu``), the activation of StyleGAN3.

Steps: add bias; upsample by ``up`` (zero insertion); pad; convolve with ``fu``; multiply by
``gain``; leaky ReLU with negative slope ``slope``; clamp to ``[-clamp, clamp]``; convolve with
``fd``; keep every ``down``-th sample. This equals::

    bias_act(x, b) -> upfirdn2d(fu, up=up, padding, gain=up**2)
                   -> bias_act(act='lrelu', alpha=slope, gain=gain, clamp=clamp)
                   -> upfirdn2d(fd, down=down)

but the reference path never builds the zero-inserted image: ``fu`` runs as a polyphase
(stride-``up`` transposed, depthwise) convolution and ``fd`` as a strided depthwise convolution,
each as two 1-D passes when the filter is separable, in channels_last layout on CPU. ``gain`` is
folded into ``fu`` (leaky ReLU is positively homogeneous) and the activation runs in place when no
gradient is recorded. Output width::

    (W * up + px0 + px1 - (fu_w - 1) - (fd_w - 1) + (down - 1)) // down

The compiled kernel fuses everything per output tile and, when a gradient is needed, stores one
byte per upsampled sample (negative / clamped) so the backward pass re-evaluates the leaky ReLU's
derivative without the large intermediate tensor; backward and every higher order is the same
kernel on the transposed geometry (the function is piecewise linear, so that is exact).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

from . import _build
from ._resample import Axis, Plan, corr_weight, opmath_dtype
from ._utils import (
    check_image,
    compute_channels_last,
    filter_size,
    parse_padding,
    requires_grad,
    restore_layout,
    wants_channels_last,
)
from .upfirdn2d import _check_filter, _resample_ref

__all__ = ["filtered_lrelu"]


def _validate(x: torch.Tensor, fu: torch.Tensor | None, fd: torch.Tensor | None, b: torch.Tensor | None,
              up: int, down: int, padding: int | Sequence[int], clamp: float | None) -> tuple[int, int, int, int]:
    check_image(x)
    _check_filter(fu)
    _check_filter(fd)
    if b is not None and (not isinstance(b, torch.Tensor) or b.ndim != 1 or b.shape[0] != x.shape[1]):
        raise ValueError(f"filtered_lrelu: b must be None or [C] = [{x.shape[1]}]")
    for name, factor in (("up", up), ("down", down)):
        if not isinstance(factor, int) or factor < 1:
            raise ValueError(f"filtered_lrelu: {name} must be an int >= 1, got {factor!r}")
    if clamp is not None and clamp < 0:
        raise ValueError(f"filtered_lrelu: clamp must be None or >= 0, got {clamp}")
    px0, px1, py0, py1 = parse_padding(padding)
    fuw, fuh = filter_size(fu)
    fdw, fdh = filter_size(fd)
    out_w = (x.shape[3] * up + px0 + px1 - (fuw - 1) - (fdw - 1) + (down - 1)) // down
    out_h = (x.shape[2] * up + py0 + py1 - (fuh - 1) - (fdh - 1) + (down - 1)) // down
    if out_w < 1 or out_h < 1:
        raise ValueError(f"filtered_lrelu: input {tuple(x.shape)}, up={up}, down={down}, padding={padding} "
                         f"and filters {fuh}x{fuw}/{fdh}x{fdw} give an empty output ({out_h}x{out_w})")
    return px0, px1, py0, py1


def _filtered_lrelu_ref(x: torch.Tensor, fu: torch.Tensor | None = None, fd: torch.Tensor | None = None,
                        b: torch.Tensor | None = None, up: int = 1, down: int = 1,
                        padding: int | Sequence[int] = 0, gain: float = math.sqrt(2), slope: float = 0.2,
                        clamp: float | None = None, flip_filter: bool = False) -> torch.Tensor:
    """Pure-PyTorch :func:`filtered_lrelu` (same arguments, no ``impl``)."""
    px0, px1, py0, py1 = _validate(x, fu, fd, b, up, down, padding, clamp)
    channels_last = wants_channels_last(x)
    grad = requires_grad(x, b)
    cl = compute_channels_last(x)
    fmt = torch.channels_last if cl else torch.contiguous_format
    if b is None:
        h = x.contiguous(memory_format=fmt) if cl else x
    elif grad:
        h = (x + b.to(x.dtype).view(1, -1, 1, 1)).contiguous(memory_format=fmt)
    else:  # add the bias and change layout in one pass
        h = torch.add(x, b.to(x.dtype).view(1, -1, 1, 1), out=torch.empty_like(x, memory_format=fmt))

    fold = gain > 0  # lrelu(g * v) == g * lrelu(v): apply the gain through the filter
    h = _resample_ref(h, fu, up, up, 1, 1, px0, px1, py0, py1, flip_filter, up * up * (gain if fold else 1))
    if grad:
        h = F.leaky_relu(h, slope)
        if not fold:
            h = h * gain
        if clamp is not None:
            h = h.clamp(-clamp, clamp)
    else:
        if h.untyped_storage().data_ptr() == x.untyped_storage().data_ptr():
            h = h.clone()  # never modify the caller's tensor
        F.leaky_relu_(h, slope)
        if not fold:
            h.mul_(gain)
        if clamp is not None:
            h.clamp_(-clamp, clamp)
    h = _resample_ref(h, fd, 1, 1, down, down, 0, 0, 0, 0, flip_filter, 1)
    return restore_layout(h, channels_last)


# -- compiled implementation ---------------------------------------------------------------------

def _plan(x: torch.Tensor, fu: torch.Tensor | None, fd: torch.Tensor | None, up: int, down: int,
          px0: int, px1: int, py0: int, py1: int, flip_filter: bool) -> Plan:
    dtype = opmath_dtype(x.dtype)

    def weights(f: torch.Tensor | None, gain: float):
        if f is None:
            one = torch.full([1], float(math.sqrt(gain)), dtype=dtype)
            return (one, one)
        w = corr_weight(f.detach().to(dtype), flip_filter, gain ** (f.ndim / 2))
        return (w, w) if w.ndim == 1 else w

    fuw, fuh = filter_size(fu)
    fdw, fdh = filter_size(fd)

    def axis(n: int, p0: int, p1: int, tu: int, td: int) -> Axis:
        mid = n * up + p0 + p1 - tu + 1
        return Axis(n, up, p0, tu, mid, down, 0, td, (mid - td) // down + 1)

    plan = Plan(x=axis(x.shape[3], px0, px1, fuw, fdw), y=axis(x.shape[2], py0, py1, fuh, fdh),
                a=weights(fu, up * up), c=weights(fd, 1))
    return plan.to(dtype, x.device)


def _run(ext: Any, x: torch.Tensor, b: torch.Tensor, signs: torch.Tensor, plan: Plan, mode: int,
         gain: float, slope: float, clamp: float) -> torch.Tensor:
    return ext.filtered_lrelu(x, b, *plan.filters(), signs, plan.geometry(), mode, gain, slope, clamp)


#: Kernel modes (``csrc/resample_kernel.cuh``).
MODE_LRELU, MODE_LRELU_SIGNS, MODE_MASK = 1, 2, 3


class _FilteredLReLUCuda(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, b: torch.Tensor, ext: Any, plan: Plan, gain: float, slope: float,
                clamp: float) -> torch.Tensor:
        save = any(ctx.needs_input_grad[:2])
        signs = x.new_empty([x.shape[0], x.shape[1], plan.y.mid, plan.x.mid] if save else [0], dtype=torch.uint8)
        y = _run(ext, x, b.to(x.dtype).contiguous(), signs, plan, MODE_LRELU_SIGNS if save else MODE_LRELU,
                 gain, slope, clamp)
        ctx.save_for_backward(signs)
        ctx.args = (ext, plan, gain, slope, clamp)
        return y

    @staticmethod
    def backward(ctx: Any, dy: torch.Tensor):
        (signs,) = ctx.saved_tensors
        ext, plan, gain, slope, clamp = ctx.args
        dx = _FilteredMaskCuda.apply(dy, signs, ext, plan.transpose(), gain, slope, clamp)
        db = dx.sum([0, 2, 3]) if ctx.needs_input_grad[1] else None
        return dx, db, None, None, None, None, None


class _FilteredMaskCuda(torch.autograd.Function):
    """The linear map 'filter, multiply by the stored leaky ReLU derivative, filter'."""

    @staticmethod
    def forward(ctx: Any, v: torch.Tensor, signs: torch.Tensor, ext: Any, plan: Plan, gain: float, slope: float,
                clamp: float) -> torch.Tensor:
        ctx.save_for_backward(signs)
        ctx.args = (ext, plan, gain, slope, clamp)
        return _run(ext, v, v.new_empty([0]), signs, plan, MODE_MASK, gain, slope, clamp)

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor):
        (signs,) = ctx.saved_tensors
        ext, plan, gain, slope, clamp = ctx.args
        return _FilteredMaskCuda.apply(g, signs, ext, plan.transpose(), gain, slope, clamp), None, None, None, \
            None, None, None


def filtered_lrelu(x: torch.Tensor, fu: torch.Tensor | None = None, fd: torch.Tensor | None = None,
                   b: torch.Tensor | None = None, up: int = 1, down: int = 1, padding: int | Sequence[int] = 0,
                   gain: float = math.sqrt(2), slope: float = 0.2, clamp: float | None = None,
                   flip_filter: bool = False, impl: str = "auto") -> torch.Tensor:
    """Bias, upsample, filter, leaky ReLU, clamp, filter and downsample in one op.

    Args:
        x: ``[N, C, H, W]`` float16/32/64.
        fu: upsampling FIR filter (1-D separable, 2-D, or None for identity).
        fd: downsampling FIR filter (1-D separable, 2-D, or None for identity).
        b: bias ``[C]`` or None.
        up: integer upsampling factor.
        down: integer downsampling factor.
        padding: ``int``, ``[px, py]`` or ``[x0, x1, y0, y1]`` in the upsampled domain (negative
            crops).
        gain: scale after the leaky ReLU (the up filter also gets ``up**2``).
        slope: negative slope of the leaky ReLU.
        clamp: clamp after the activation to ``[-clamp, clamp]``, or None.
        flip_filter: False: true convolution; True: correlation.
        impl: ``'auto'``, ``'cuda'`` or ``'ref'``.

    Returns:
        ``[N, C, out_h, out_w]`` (formula in the module docstring), dtype and layout of ``x``.
    """
    px0, px1, py0, py1 = _validate(x, fu, fd, b, up, down, padding, clamp)
    ext = _build.select("filtered_lrelu", impl, x.device)
    if ext is None:
        return _filtered_lrelu_ref(x, fu, fd, b, up=up, down=down, padding=padding, gain=gain, slope=slope,
                                   clamp=clamp, flip_filter=flip_filter)
    if b is None:
        b = x.new_zeros([x.shape[1]])
    plan = _plan(x, fu, fd, up, down, px0, px1, py0, py1, bool(flip_filter))
    return _FilteredLReLUCuda.apply(x, b, ext, plan, float(gain), float(slope),
                                    float(clamp if clamp is not None else -1))
