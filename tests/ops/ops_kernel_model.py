"""A slow, obviously-correct Python model of the compiled kernels' interface.

``FAKE_EXT`` has the functions of the CUDA extensions (``upfirdn2d``, ``filtered_lrelu``,
``bias_act``) with their exact signatures, computed with dense float64 operators. Monkeypatching
``ganforge.ops._build.select`` to return it runs the ops' CUDA code paths (autograd functions,
geometry planning, backward transposes) on CPU tensors. The C++ kernels themselves are checked
against the same model through their CPU emulation (test_ops_csrc.py).
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import torch


def _operator(filters, rows: int, cols: int, index_y, index_x, rows_in: int, cols_in: int) -> torch.Tensor:
    """Dense 4-D operator K[a, b, i, j] = f[index_y(a, i), index_x(b, j)] of a stage (0 where the
    index falls outside the filter); ``f`` is 2-D or the outer product of a separable pair."""
    f, f_y = filters
    f = torch.outer(f_y.double(), f.double()) if f_y.numel() else f.double()
    ky = index_y(torch.arange(rows)[:, None], torch.arange(rows_in)[None, :])  # [a, i]
    kx = index_x(torch.arange(cols)[:, None], torch.arange(cols_in)[None, :])  # [b, j]
    ok_y = (ky >= 0) & (ky < f.shape[0])
    ok_x = (kx >= 0) & (kx < f.shape[1])
    k = f[ky.clamp(0, f.shape[0] - 1)[:, None, :, None], kx.clamp(0, f.shape[1] - 1)[None, :, None, :]]
    return k * (ok_y[:, None, :, None] & ok_x[None, :, None, :])


def resample(x, bias, fa, fa_y, fc, fc_y, signs, geom, mode, gain, slope, clamp):
    up_x, up_y, off_ax, off_ay, mid_x, mid_y, down_x, down_y, off_cx, off_cy, out_x, out_y = geom
    n, c, h, w = x.shape
    v = x.double()
    if bias.numel():
        v = v + bias.double().view(1, -1, 1, 1)
    a_op = _operator((fa, fa_y), mid_y, mid_x, lambda m, i: i * up_y + off_ay - m,
                     lambda m, i: i * up_x + off_ax - m, h, w)
    tmp = (v.reshape(n * c, h * w) @ a_op.reshape(mid_y * mid_x, h * w).T).reshape(n, c, mid_y, mid_x)
    if mode in (1, 2):
        neg = ~(tmp > 0)
        tmp = torch.where(neg, tmp * slope, tmp) * gain
        clamped = (tmp.abs() > clamp) if clamp >= 0 else torch.zeros_like(neg)
        if clamp >= 0:
            tmp = tmp.clamp(-clamp, clamp)
        if mode == 2:
            signs.copy_(neg.to(torch.uint8) | (clamped.to(torch.uint8) << 1))
    elif mode == 3:
        code = signs.to(torch.int64)
        deriv = torch.where(code & 1 == 1, torch.tensor(slope * gain, dtype=torch.float64),
                            torch.tensor(gain, dtype=torch.float64))
        tmp = tmp * torch.where(code & 2 == 2, torch.zeros_like(deriv), deriv)
    c_op = _operator((fc, fc_y), out_y, out_x, lambda o, m: m - o * down_y + off_cy,
                     lambda o, m: m - o * down_x + off_cx, mid_y, mid_x)
    y = (tmp.reshape(n * c, -1) @ c_op.reshape(out_y * out_x, -1).T).reshape(n, c, out_y, out_x).to(x.dtype)
    cl = x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()
    return y.contiguous(memory_format=torch.channels_last if cl else torch.contiguous_format)


def upfirdn2d(x, fa, fa_y, fc, fc_y, geom):
    none = x.new_empty([0])
    return resample(x, none, fa, fa_y, fc, fc_y, none.to(torch.uint8), geom, 0, 1.0, 1.0, -1.0)


_SELU_SCALE, _SELU_ALPHA = 1.0507009873554805, 1.6732632423543772


def activation(act: int, s: torch.Tensor, alpha: float):
    """(f, f', f'') of activation index ``act`` (see ganforge.ops.bias_act.ACTIVATIONS)."""
    one, zero = torch.ones_like(s), torch.zeros_like(s)
    pos = s > 0
    if act == 2:
        return torch.where(pos, s, zero), torch.where(pos, one, zero), zero
    if act == 3:
        return torch.where(pos, s, s * alpha), torch.where(pos, one, one * alpha), zero
    if act == 4:
        t = torch.tanh(s)
        return t, 1 - t * t, -2 * t * (1 - t * t)
    if act in (5, 8, 9):
        g = 1 / (1 + torch.exp(-s))
        if act == 5:
            return g, g * (1 - g), g * (1 - g) * (1 - 2 * g)
        if act == 8:
            return torch.where(s > 20, s, torch.log1p(torch.exp(s))), g, g * (1 - g)
        return s * g, g * (1 + s * (1 - g)), g * (1 - g) * (2 + s * (1 - 2 * g))
    if act == 6:
        e = torch.exp(s)
        return torch.where(pos, s, e - 1), torch.where(pos, one, e), torch.where(pos, zero, e)
    if act == 7:
        e = torch.exp(s)
        return (torch.where(pos, _SELU_SCALE * s, _SELU_SCALE * _SELU_ALPHA * (e - 1)),
                torch.where(pos, one * _SELU_SCALE, _SELU_SCALE * _SELU_ALPHA * e),
                torch.where(pos, zero, _SELU_SCALE * _SELU_ALPHA * e))
    return s, one, zero


def bias_act(x, b, xref, dy, act, grad, alpha, gain, clamp, dim):
    shape = [-1 if i == dim else 1 for i in range(x.ndim)]
    bias = b.double().reshape(shape) if b.numel() else 0.0
    v = x.double()
    if grad == 0:
        f, _, _ = activation(act, v + bias, alpha)
        out = f * gain
        if clamp >= 0:
            out = out.clamp(-clamp, clamp)
        return out.to(x.dtype)
    f, d1, d2 = activation(act, xref.double() + bias, alpha)
    keep = ((f * gain).abs() <= clamp) if clamp >= 0 else torch.ones_like(f, dtype=torch.bool)
    out = v * d1 * gain if grad == 1 else v * dy.double() * d2 * gain
    return torch.where(keep, out, torch.zeros_like(out)).to(x.dtype)


FAKE_EXT = SimpleNamespace(upfirdn2d=upfirdn2d, filtered_lrelu=resample, bias_act=bias_act)

__all__ = ["FAKE_EXT", "resample", "upfirdn2d", "bias_act", "activation", "math"]
