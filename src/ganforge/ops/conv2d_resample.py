"""2-D convolution with optional FIR upsampling/downsampling (``conv2d_resample``).

Definition (what every path below computes): with ``(fw, fh)`` the filter size, the padding is
grown by the filter footprint of the resampling (``upsample2d``/``downsample2d`` rules)::

    up > 1:   x0 += (fw + up - 1) // 2;  x1 += (fw - up) // 2      (same for y with fh)
    down > 1: x0 += (fw - down + 1) // 2; x1 += (fw - down) // 2

and then::

    y = upfirdn2d(x, f if up > 1 else None, up=up, padding=[x0, x1, y0, y1], gain=up**2)
    y = conv2d(y, w)                         # valid; w flipped first when flip_weight=False
    y = upfirdn2d(y, f, down=down)           # only when down > 1

Faster equivalent orderings are used where they apply (the FIR filter is the same for every
channel, so it commutes with the convolution): a 1x1 kernel with only ``down`` filters first and
convolves the small image; a 1x1 kernel with only ``up`` convolves first; ``down`` alone filters
and then runs a strided convolution; ``up`` runs a stride-``up`` transposed convolution (no zero
insertion) followed by the FIR filter; plain symmetric padding is a single ``conv2d``. The
convolutions are :mod:`.conv2d_gradfix`'s, so :func:`~.conv2d_gradfix.no_weight_gradients`
applies.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from . import conv2d_gradfix
from ._utils import check_image, check_impl, filter_size, parse_padding
from .upfirdn2d import upfirdn2d

__all__ = ["conv2d_resample"]


def _conv(x: torch.Tensor, w: torch.Tensor, stride: int = 1, padding: Sequence[int] = (0, 0), groups: int = 1,
          transpose: bool = False, flip_weight: bool = True) -> torch.Tensor:
    """conv2d (correlation with ``w``) or, with ``flip_weight=False``, true convolution."""
    if not flip_weight and (w.shape[2] > 1 or w.shape[3] > 1):
        w = w.flip([2, 3])
    if transpose:
        return conv2d_gradfix.conv_transpose2d(x, w, stride=stride, padding=tuple(padding), groups=groups)
    return conv2d_gradfix.conv2d(x, w, stride=stride, padding=tuple(padding), groups=groups)


def _transpose_weight(w: torch.Tensor, groups: int) -> torch.Tensor:
    """[out, in/g, kh, kw] (conv2d) -> [in, out/g, kh, kw] (conv_transpose2d), per group."""
    out_ch, in_per_group, kh, kw = w.shape
    if groups == 1:
        return w.transpose(0, 1)
    w = w.reshape(groups, out_ch // groups, in_per_group, kh, kw).transpose(1, 2)
    return w.reshape(groups * in_per_group, out_ch // groups, kh, kw)


def conv2d_resample(x: torch.Tensor, w: torch.Tensor, f: torch.Tensor | None = None, up: int = 1, down: int = 1,
                    padding: int | Sequence[int] = 0, groups: int = 1, flip_weight: bool = True,
                    flip_filter: bool = False, impl: str = "auto") -> torch.Tensor:
    """Convolve ``x`` with ``w``, upsampling and/or downsampling with FIR filter ``f``.

    Args:
        x: ``[N, C_in, H, W]``.
        w: ``[C_out, C_in / groups, kh, kw]``.
        f: FIR filter for resampling (see :func:`~.upfirdn2d.setup_filter`), or None.
        up: integer upsampling factor.
        down: integer downsampling factor.
        padding: ``int``, ``[px, py]`` or ``[x0, x1, y0, y1]`` (in the upsampled domain).
        groups: convolution groups.
        flip_weight: True: correlation (like ``conv2d``); False: true convolution.
        flip_filter: False: convolve with ``f``; True: correlate.
        impl: implementation of the FIR steps (``'auto'``, ``'cuda'``, ``'ref'``).

    Returns:
        ``[N, C_out, H', W']``.
    """
    check_image(x)
    check_impl(impl)
    if not isinstance(w, torch.Tensor) or w.ndim != 4 or w.dtype != x.dtype:
        raise ValueError(f"conv2d_resample: w must be a 4-D tensor of dtype {x.dtype}")
    if not isinstance(up, int) or not isinstance(down, int) or up < 1 or down < 1:
        raise ValueError(f"conv2d_resample: up and down must be ints >= 1, got {up!r}, {down!r}")
    if f is not None and (not isinstance(f, torch.Tensor) or f.ndim not in (1, 2) or not f.is_floating_point()):
        raise ValueError("conv2d_resample: f must be None or a 1-D/2-D float filter")
    kh, kw = w.shape[2:]
    fw, fh = filter_size(f)
    px0, px1, py0, py1 = parse_padding(padding)
    if up > 1:
        px0, px1, py0, py1 = px0 + (fw + up - 1) // 2, px1 + (fw - up) // 2, py0 + (fh + up - 1) // 2, py1 + (fh - up) // 2
    if down > 1:
        px0, px1 = px0 + (fw - down + 1) // 2, px1 + (fw - down) // 2
        py0, py1 = py0 + (fh - down + 1) // 2, py1 + (fh - down) // 2
    pad = [px0, px1, py0, py1]

    if kw == 1 and kh == 1 and down > 1 and up == 1:  # filter the big image once, convolve the small one
        x = upfirdn2d(x, f, down=down, padding=pad, flip_filter=flip_filter, impl=impl)
        return _conv(x, w, groups=groups, flip_weight=flip_weight)
    if kw == 1 and kh == 1 and up > 1 and down == 1:  # convolve the small image, then upsample
        x = _conv(x, w, groups=groups, flip_weight=flip_weight)
        return upfirdn2d(x, f, up=up, padding=pad, gain=up ** 2, flip_filter=flip_filter, impl=impl)
    if down > 1 and up == 1:  # FIR first, then a strided convolution
        x = upfirdn2d(x, f, padding=pad, flip_filter=flip_filter, impl=impl)
        return _conv(x, w, stride=down, groups=groups, flip_weight=flip_weight)
    if up > 1:
        # conv(pad(zero_insert(x)), w) == conv_transpose(x, flip(w), stride=up) cropped by
        # (kw - 1 - x0) on the left and (kw - up - x1) on the right; let conv_transpose2d crop the
        # common part and hand the rest (as padding) to the FIR step.
        a = [px0 - (kw - 1), px1 - (kw - up), py0 - (kh - 1), py1 - (kh - up)]
        sx, sy = max(min(-a[0], -a[1]), 0), max(min(-a[2], -a[3]), 0)
        x = _conv(x, _transpose_weight(w, groups), stride=up, padding=[sy, sx], groups=groups, transpose=True,
                  flip_weight=not flip_weight)
        x = upfirdn2d(x, f, padding=[a[0] + sx, a[1] + sx, a[2] + sy, a[3] + sy], gain=up ** 2,
                      flip_filter=flip_filter, impl=impl)
        if down > 1:
            x = upfirdn2d(x, f, down=down, flip_filter=flip_filter, impl=impl)
        return x
    if px0 == px1 and py0 == py1 and px0 >= 0 and py0 >= 0:  # plain convolution
        return _conv(x, w, padding=[py0, px0], groups=groups, flip_weight=flip_weight)
    # no resampling, asymmetric or negative padding: pad/crop, then a valid convolution
    x = upfirdn2d(x, None, padding=pad, impl=impl)
    return _conv(x, w, groups=groups, flip_weight=flip_weight)


def _conv2d_resample_ref(x: torch.Tensor, w: torch.Tensor, f: torch.Tensor | None = None, up: int = 1, down: int = 1,
                         padding: int | Sequence[int] = 0, groups: int = 1, flip_weight: bool = True,
                         flip_filter: bool = False) -> torch.Tensor:
    """:func:`conv2d_resample` with the reference FIR implementation (same arguments, no ``impl``)."""
    return conv2d_resample(x, w, f, up=up, down=down, padding=padding, groups=groups, flip_weight=flip_weight,
                           flip_filter=flip_filter, impl="ref")
