"""Upsample, FIR-filter and downsample 2-D images (``upfirdn2d``) and its helpers.

Per channel: (1) insert ``up - 1`` zeros after every sample, (2) pad (negative values crop),
(3) convolve with the FIR filter ``f`` keeping only outputs whose footprint lies inside the padded
signal, (4) keep every ``down``-th sample. Output size per axis::

    (in * up + pad0 + pad1 - taps) // down + 1

The reference path never materialises the zero-inserted image: upsampling is a depthwise
transposed convolution with stride ``up`` (a polyphase filter), downsampling a strided depthwise
convolution, and 1-D (separable) filters run as two 1-D passes, in the input's memory layout
(see ``_utils.CL_MIN_CHANNELS`` for why). The result has the layout of the input. Gradients of any order with respect to ``x`` come from autograd.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

from . import _build
from ._resample import Axis, Plan, corr_weight, opmath_dtype
from ._utils import (
    check_image,
    filter_size,
    pad_axis,
    parse_padding,
    parse_scaling,
    restore_layout,
    to_compute_layout,
    wants_channels_last,
)

__all__ = ["setup_filter", "upfirdn2d", "filter2d", "upsample2d", "downsample2d"]

IntOrPair = int | Sequence[int]


def setup_filter(f: Any, device: torch.device | str = torch.device("cpu"), normalize: bool = True,
                 flip_filter: bool = False, gain: float = 1, separable: bool | None = None) -> torch.Tensor:
    """Make a float32 FIR filter tensor for :func:`upfirdn2d`.

    Args:
        f: None (identity), a scalar, a 1-D or a 2-D array-like.
        device: where to put the result.
        normalize: scale so the taps sum to 1.
        flip_filter: flip the filter (turns convolution into correlation).
        gain: overall gain; a 2-D filter is multiplied by ``gain``, a 1-D one by ``sqrt(gain)``
            (it is applied twice).
        separable: keep a 1-D filter 1-D; default: only when it has at least 8 taps (short 1-D
            filters become their 2-D outer product, which is faster for few taps).

    Returns:
        ``[taps]`` (separable) or ``[fh, fw]``.
    """
    f = torch.as_tensor(1.0 if f is None else f, dtype=torch.float32)
    if f.ndim == 0:
        f = f.reshape(1)
    if f.ndim not in (1, 2) or f.numel() == 0:
        raise ValueError(f"filter must be a scalar, 1-D or 2-D and non-empty, got shape {tuple(f.shape)}")
    if separable is None:
        separable = f.ndim == 1 and f.numel() >= 8
    if f.ndim == 1 and not separable:
        f = torch.outer(f, f)
    if f.ndim != (1 if separable else 2):
        raise ValueError("a 2-D filter cannot be separable")
    if normalize:
        f = f / f.sum()
    if flip_filter:
        f = f.flip(list(range(f.ndim)))
    f = f * (gain ** (f.ndim / 2))
    return f.to(device=device)


def _check_filter(f: torch.Tensor | None) -> None:
    filter_size(f)  # validates
    if f is not None and not f.is_floating_point():
        raise TypeError(f"filter must be floating point, got {f.dtype}")


# -- reference implementation --------------------------------------------------------------------

def _axis_pass(x: torch.Tensor, w: torch.Tensor, up: int, down: int, p0: int, p1: int, dim: int) -> torch.Tensor:
    """One 1-D pass along ``dim`` (3 = x, 2 = y) with correlation weight ``w`` [taps]."""
    taps, channels = w.shape[0], x.shape[1]
    along_x = dim == 3
    if taps == 1 and up == 1:  # a scaled, padded, decimated copy
        x = pad_axis(x, dim, p0, p1)
        if down > 1:
            x = x[..., ::down] if along_x else x[:, :, ::down]
        return x * w[0] if float(w[0]) != 1 else x
    weight = (w.view(1, 1, 1, taps) if along_x else w.view(1, 1, taps, 1)).expand(channels, 1, -1, -1)
    if up == 1:
        shared = max(0, min(p0, p1))  # symmetric part of the padding goes to conv2d itself
        x = pad_axis(x, dim, p0 - shared, p1 - shared)
        return F.conv2d(x, weight, stride=(1, down) if along_x else (down, 1),
                        padding=(0, shared) if along_x else (shared, 0), groups=channels)
    # Polyphase upsampling: a stride-`up` transposed convolution never touches inserted zeros.
    # The full output has (in - 1) * up + taps samples; keep [taps - 1 - p0, in * up + p1).
    crop0, crop1 = taps - 1 - p0, taps - up - p1
    shared = max(0, min(crop0, crop1, taps - 1))
    # Zeros wanted past the end (up to up - 1 of them) come from output_padding: padding the result
    # afterwards would copy the whole upsampled tensor once more.
    extra = shared - crop1 if 0 < shared - crop1 < up else 0
    y = F.conv_transpose2d(x, weight.flip(dim), stride=(1, up) if along_x else (up, 1),
                           padding=(0, shared) if along_x else (shared, 0),
                           output_padding=(0, extra) if along_x else (extra, 0), groups=channels)
    y = pad_axis(y, dim, shared - crop0, shared - crop1 - extra)
    if down > 1:
        y = y[..., ::down] if along_x else y[:, :, ::down]
    return y


def _pass_2d(x: torch.Tensor, w: torch.Tensor, upx: int, upy: int, downx: int, downy: int,
             px0: int, px1: int, py0: int, py1: int) -> torch.Tensor:
    """A non-separable pass with 2-D correlation weight ``w`` [fh, fw]."""
    fh, fw = w.shape
    channels = x.shape[1]
    if fh == 1 and fw == 1 and upx == 1 and upy == 1:  # a scaled, padded, decimated copy
        x = pad_axis(pad_axis(x, 3, px0, px1), 2, py0, py1)[:, :, ::downy, ::downx]
        return x * w[0, 0] if float(w[0, 0]) != 1 else x
    weight = w[None, None].expand(channels, 1, -1, -1)
    if upx == 1 and upy == 1:
        sx, sy = max(0, min(px0, px1)), max(0, min(py0, py1))
        x = pad_axis(pad_axis(x, 3, px0 - sx, px1 - sx), 2, py0 - sy, py1 - sy)
        return F.conv2d(x, weight, stride=(downy, downx), padding=(sy, sx), groups=channels)
    cx0, cx1, cy0, cy1 = fw - 1 - px0, fw - upx - px1, fh - 1 - py0, fh - upy - py1
    sx, sy = max(0, min(cx0, cx1, fw - 1)), max(0, min(cy0, cy1, fh - 1))
    y = F.conv_transpose2d(x, weight.flip([2, 3]), stride=(upy, upx), padding=(sy, sx), groups=channels)
    y = pad_axis(pad_axis(y, 3, sx - cx0, sx - cx1), 2, sy - cy0, sy - cy1)
    if downx > 1 or downy > 1:
        y = y[:, :, ::downy, ::downx]
    return y


def _resample_ref(x: torch.Tensor, f: torch.Tensor | None, upx: int, upy: int, downx: int, downy: int,
                  px0: int, px1: int, py0: int, py1: int, flip_filter: bool, gain: float) -> torch.Tensor:
    """upfirdn2d on a tensor already in compute layout; may return a non-dense view."""
    if f is None:
        f = torch.ones([1, 1], dtype=x.dtype, device=x.device)
    w = corr_weight(f.to(device=x.device, dtype=x.dtype), flip_filter, gain ** (f.ndim / 2))
    if w.ndim == 2:
        return _pass_2d(x, w, upx, upy, downx, downy, px0, px1, py0, py1)
    passes = [(upx / downx, (w, upx, downx, px0, px1, 3)), (upy / downy, (w, upy, downy, py0, py1, 2))]
    for _, args in sorted(passes, key=lambda p: p[0]):  # shrink first, grow last
        x = _axis_pass(x, *args)
    return x


def _output_size(x: torch.Tensor, f: torch.Tensor | None, up: IntOrPair, down: IntOrPair,
                 padding: IntOrPair) -> tuple[int, int]:
    upx, upy = parse_scaling(up, "up")
    downx, downy = parse_scaling(down, "down")
    px0, px1, py0, py1 = parse_padding(padding)
    fw, fh = filter_size(f)
    out_w = (x.shape[3] * upx + px0 + px1 - fw) // downx + 1
    out_h = (x.shape[2] * upy + py0 + py1 - fh) // downy + 1
    if out_w < 1 or out_h < 1:
        raise ValueError(f"upfirdn2d: input {tuple(x.shape)} with filter {fh}x{fw}, up={up}, down={down}, "
                         f"padding={padding} gives an empty output ({out_h}x{out_w})")
    return out_w, out_h


def _upfirdn2d_ref(x: torch.Tensor, f: torch.Tensor | None, up: IntOrPair = 1, down: IntOrPair = 1,
                   padding: IntOrPair = 0, flip_filter: bool = False, gain: float = 1) -> torch.Tensor:
    """Pure-PyTorch :func:`upfirdn2d` (same arguments, no ``impl``)."""
    check_image(x)
    _check_filter(f)
    _output_size(x, f, up, down, padding)
    upx, upy = parse_scaling(up, "up")
    downx, downy = parse_scaling(down, "down")
    px0, px1, py0, py1 = parse_padding(padding)
    channels_last = wants_channels_last(x)
    x_work = to_compute_layout(x, multi_pass=False)  # keep the caller's layout (see _utils)
    y = restore_layout(_resample_ref(x_work, f, upx, upy, downx, downy, px0, px1, py0, py1, flip_filter, gain),
                       channels_last)
    if y.untyped_storage().data_ptr() == x.untyped_storage().data_ptr():
        y = y.clone()  # never return (a view of) the input
    return y


# -- compiled implementation ---------------------------------------------------------------------

def _plan(x: torch.Tensor, f: torch.Tensor | None, upx: int, upy: int, downx: int, downy: int,
          px0: int, px1: int, py0: int, py1: int, flip_filter: bool, gain: float) -> Plan:
    """The two-stage kernel plan computing upfirdn2d (see ``_resample``)."""
    if f is None:
        f = torch.ones([1, 1])
    w = corr_weight(f.detach().to(opmath_dtype(x.dtype)), flip_filter, gain ** (f.ndim / 2))
    one = w.new_ones([1])
    fw, fh = filter_size(f)

    def axis(n: int, up: int, down: int, p0: int, p1: int, taps: int, filter_first: bool) -> Axis:
        out = (n * up + p0 + p1 - taps) // down + 1
        if filter_first:  # stage A upsamples and filters, stage C only decimates
            return Axis(n, up, p0, taps, n * up + p0 + p1 - taps + 1, down, 0, 1, out)
        return Axis(n, 1, p0, 1, n + p0 + p1, down, 0, taps, out)  # stage C filters and decimates

    if w.ndim == 1:
        fx_first, fy_first = upx > 1 or downx == 1, upy > 1 or downy == 1
        return Plan(x=axis(x.shape[3], upx, downx, px0, px1, fw, fx_first),
                    y=axis(x.shape[2], upy, downy, py0, py1, fh, fy_first),
                    a=(w if fx_first else one, w if fy_first else one),
                    c=(one if fx_first else w, one if fy_first else w))
    first = upx > 1 or upy > 1 or (downx == 1 and downy == 1)
    return Plan(x=axis(x.shape[3], upx, downx, px0, px1, fw, first),
                y=axis(x.shape[2], upy, downy, py0, py1, fh, first),
                a=w if first else (one, one), c=(one, one) if first else w)


class _Upfirdn2dCuda(torch.autograd.Function):
    """upfirdn2d through the compiled kernel; its backward is again upfirdn2d (any order)."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, f: torch.Tensor | None, ext: Any, upx: int, upy: int,
                downx: int, downy: int, px0: int, px1: int, py0: int, py1: int, flip_filter: bool,
                gain: float) -> torch.Tensor:
        plan = _plan(x, f, upx, upy, downx, downy, px0, px1, py0, py1, flip_filter, gain)
        plan = plan.to(opmath_dtype(x.dtype), x.device)
        y = ext.upfirdn2d(x, *plan.filters(), plan.geometry())
        ctx.f, ctx.ext, ctx.args = f, ext, (upx, upy, downx, downy, px0, px1, py0, py1, flip_filter, gain)
        ctx.in_size = x.shape[2:]
        return y

    @staticmethod
    def backward(ctx: Any, dy: torch.Tensor):
        upx, upy, downx, downy, px0, px1, py0, py1, flip_filter, gain = ctx.args
        fw, fh = filter_size(ctx.f)
        in_h, in_w = ctx.in_size
        out_h, out_w = dy.shape[2:]
        pads = (fw - px0 - 1, in_w * upx - out_w * downx + px0 - upx + 1,
                fh - py0 - 1, in_h * upy - out_h * downy + py0 - upy + 1)
        dx = _Upfirdn2dCuda.apply(dy, ctx.f, ctx.ext, downx, downy, upx, upy, *pads, not flip_filter, gain)
        return (dx,) + (None,) * 12


def upfirdn2d(x: torch.Tensor, f: torch.Tensor | None, up: IntOrPair = 1, down: IntOrPair = 1,
              padding: IntOrPair = 0, flip_filter: bool = False, gain: float = 1,
              impl: str = "auto") -> torch.Tensor:
    """Upsample, pad, FIR-filter and downsample a batch of 2-D images.

    Args:
        x: ``[N, C, H, W]`` float16/32/64.
        f: FIR filter (float): 2-D ``[fh, fw]``, 1-D ``[taps]`` applied along x then y (separable),
            or None (identity). See :func:`setup_filter`.
        up: upsampling factor, ``int`` or ``[x, y]``.
        down: downsampling factor, ``int`` or ``[x, y]``.
        padding: ``int``, ``[px, py]`` or ``[x0, x1, y0, y1]`` in the upsampled domain; negative
            values crop.
        flip_filter: False: true convolution; True: correlation.
        gain: the filter is scaled by ``gain ** (f.ndim / 2)``.
        impl: ``'auto'`` (compiled kernel for CUDA tensors when it builds), ``'cuda'`` or ``'ref'``.

    Returns:
        ``[N, C, (H * up_y + y0 + y1 - fh) // down_y + 1, (W * up_x + x0 + x1 - fw) // down_x + 1]``
        with the dtype and memory layout of ``x``.
    """
    check_image(x)
    _check_filter(f)
    ext = _build.select("upfirdn2d", impl, x.device)
    if ext is None:
        return _upfirdn2d_ref(x, f, up=up, down=down, padding=padding, flip_filter=flip_filter, gain=gain)
    _output_size(x, f, up, down, padding)
    return _Upfirdn2dCuda.apply(x, f, ext, *parse_scaling(up, "up"), *parse_scaling(down, "down"),
                                *parse_padding(padding), bool(flip_filter), float(gain))


# -- convenience wrappers --------------------------------------------------------------------------

def filter2d(x: torch.Tensor, f: torch.Tensor | None, padding: IntOrPair = 0, flip_filter: bool = False,
             gain: float = 1, impl: str = "auto") -> torch.Tensor:
    """Filter with ``f`` keeping the size ("same" padding ``[fw//2, (fw-1)//2, fh//2, (fh-1)//2]``),
    plus ``padding``."""
    px0, px1, py0, py1 = parse_padding(padding)
    fw, fh = filter_size(f)
    pad = [px0 + fw // 2, px1 + (fw - 1) // 2, py0 + fh // 2, py1 + (fh - 1) // 2]
    return upfirdn2d(x, f, padding=pad, flip_filter=flip_filter, gain=gain, impl=impl)


def upsample2d(x: torch.Tensor, f: torch.Tensor | None, up: IntOrPair = 2, padding: IntOrPair = 0,
               flip_filter: bool = False, gain: float = 1, impl: str = "auto") -> torch.Tensor:
    """Upsample by ``up`` with filter ``f`` (output ``in * up`` plus ``padding``); the filter
    gain is multiplied by ``up_x * up_y`` so the mean is preserved."""
    upx, upy = parse_scaling(up, "up")
    px0, px1, py0, py1 = parse_padding(padding)
    fw, fh = filter_size(f)
    pad = [px0 + (fw + upx - 1) // 2, px1 + (fw - upx) // 2, py0 + (fh + upy - 1) // 2, py1 + (fh - upy) // 2]
    return upfirdn2d(x, f, up=(upx, upy), padding=pad, flip_filter=flip_filter, gain=gain * upx * upy, impl=impl)


def downsample2d(x: torch.Tensor, f: torch.Tensor | None, down: IntOrPair = 2, padding: IntOrPair = 0,
                 flip_filter: bool = False, gain: float = 1, impl: str = "auto") -> torch.Tensor:
    """Filter with ``f`` and downsample by ``down`` (output ``in // down`` plus ``padding``)."""
    downx, downy = parse_scaling(down, "down")
    px0, px1, py0, py1 = parse_padding(padding)
    fw, fh = filter_size(f)
    pad = [px0 + (fw - downx + 1) // 2, px1 + (fw - downx) // 2, py0 + (fh - downy + 1) // 2, py1 + (fh - downy) // 2]
    return upfirdn2d(x, f, down=(downx, downy), padding=pad, flip_filter=flip_filter, gain=gain, impl=impl)

