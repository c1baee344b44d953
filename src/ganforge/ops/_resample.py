"""Geometry of the two-stage resampling kernel shared by ``upfirdn2d`` and ``filtered_lrelu``.

The CUDA kernel (``csrc/resample_kernel.cuh``) evaluates, independently per axis::

    tmp[m] = sum_i  in[i]  * A[i * up + off_a - m]      0 <= m < mid,   0 <= index < taps_a
    tmp[m] = act(tmp[m])                                 (identity, leaky ReLU, or a stored mask)
    out[o] = sum_m  tmp[m] * C[m - o * down + off_c]     0 <= index < taps_c

Stage A upsamples and filters, stage C filters and decimates. ``A`` and ``C`` are correlation
weights (already flipped and scaled), separable (one vector per axis) or 2-D. The adjoint of such a
pass is again such a pass (:meth:`Plan.transpose`), which gives every backward pass and, by
transposing again, gradients of any order.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Axis:
    """One axis of a two-stage pass (see the module docstring)."""

    inp: int
    up: int
    off_a: int
    taps_a: int
    mid: int
    down: int
    off_c: int
    taps_c: int
    out: int

    def transpose(self) -> Axis:
        return Axis(inp=self.out, up=self.down, off_a=self.taps_c - 1 - self.off_c, taps_a=self.taps_c,
                    mid=self.mid, down=self.up, off_c=self.taps_a - 1 - self.off_a, taps_c=self.taps_a,
                    out=self.inp)


def _flip(f: torch.Tensor) -> torch.Tensor:
    return f.flip(list(range(f.ndim)))


@dataclass(frozen=True)
class Plan:
    """Both axes plus the stage filters. ``a``/``c`` are a 2-D filter ``[taps_y, taps_x]`` or a
    pair ``(fx, fy)`` of 1-D filters."""

    x: Axis
    y: Axis
    a: torch.Tensor | tuple[torch.Tensor, torch.Tensor]
    c: torch.Tensor | tuple[torch.Tensor, torch.Tensor]

    def transpose(self) -> Plan:
        def flip(f: torch.Tensor | tuple[torch.Tensor, torch.Tensor]):
            return tuple(_flip(t) for t in f) if isinstance(f, tuple) else _flip(f)

        return Plan(x=self.x.transpose(), y=self.y.transpose(), a=flip(self.c), c=flip(self.a))

    def to(self, dtype: torch.dtype, device: torch.device) -> Plan:
        def conv(f):
            return tuple(t.to(dtype=dtype, device=device).contiguous() for t in f) if isinstance(f, tuple) \
                else f.to(dtype=dtype, device=device).contiguous()

        return dataclasses.replace(self, a=conv(self.a), c=conv(self.c))

    def geometry(self) -> list[int]:
        x, y = self.x, self.y
        return [x.up, y.up, x.off_a, y.off_a, x.mid, y.mid, x.down, y.down, x.off_c, y.off_c, x.out, y.out]

    def filters(self) -> list[torch.Tensor]:
        """``[fa, fa_y, fc, fc_y]`` as the extension takes them (``fa_y`` empty when 2-D)."""
        out = []
        for f in (self.a, self.c):
            if isinstance(f, tuple):
                out += [f[0], f[1]]
            else:
                out += [f, f.new_empty([0])]
        return out


def opmath_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.float64 if dtype == torch.float64 else torch.float32


def corr_weight(f: torch.Tensor, flip_filter: bool, gain: float) -> torch.Tensor:
    """Correlation weight of a convolution filter: flipped unless ``flip_filter``, times ``gain``."""
    w = f if flip_filter else _flip(f)
    return w * gain if gain != 1 else w
