"""Batched homogeneous matrices and the execution of ADA's geometric transforms.

Coordinates are pixel units centred on the image centre (pixel ``(i, j)`` of a ``W x H`` image is at
``(j - (W - 1) / 2, i - (H - 1) / 2)``). A geometric augmentation is one inverse matrix per image,
``G_inv [N, 3, 3]``, mapping an output pixel to the input position it reads.

Two executions (Karras et al., NeurIPS 2020, appendix B):

* :func:`blit`: pure pixel blitting (x-flip, 90-degree rotations, integer translation) moves pixels
  to pixel positions, so it is an exact gather with reflection at the borders.
* :func:`resample`: everything else. Reflect-pad enough to cover the transformed corners plus the
  filter support, upsample 2x with ``Hz_geom``, sample bilinearly (``ganforge.ops.grid_sample``,
  differentiable twice w.r.t. the image, for R1 through the augmentation), downsample 2x with
  ``Hz_geom`` as a correlation, crop. Identity transforms come back exactly (orthogonal wavelet).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

from ganforge.ops import downsample2d, grid_sample, upsample2d

__all__ = ["matrix", "translate2d", "scale2d", "rotate2d", "translate3d", "scale3d", "rotate3d",
           "reflect_index", "is_blit", "filter_delay", "blit", "resample"]


def matrix(rows: Sequence[Sequence[Any]], n: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """Stack scalars and ``[N]`` tensors into ``[N, R, C]`` matrices (row-major ``rows``)."""
    cells = [torch.as_tensor(v, dtype=dtype, device=device).expand(n) for row in rows for v in row]
    return torch.stack(cells, dim=-1).reshape(n, len(rows), len(rows[0]))


def translate2d(tx: Any, ty: Any, n: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    return matrix([[1, 0, tx], [0, 1, ty], [0, 0, 1]], n, device, dtype)


def scale2d(sx: Any, sy: Any, n: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    return matrix([[sx, 0, 0], [0, sy, 0], [0, 0, 1]], n, device, dtype)


def rotate2d(theta: Any, n: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """Counter-clockwise rotation by ``theta`` radians (in x-right, y-down pixel coordinates: clockwise)."""
    theta = torch.as_tensor(theta, dtype=dtype, device=device)
    c, s = torch.cos(theta), torch.sin(theta)
    return matrix([[c, -s, 0], [s, c, 0], [0, 0, 1]], n, device, dtype)


def translate3d(tx: Any, ty: Any, tz: Any, n: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    return matrix([[1, 0, 0, tx], [0, 1, 0, ty], [0, 0, 1, tz], [0, 0, 0, 1]], n, device, dtype)


def scale3d(sx: Any, sy: Any, sz: Any, n: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    return matrix([[sx, 0, 0, 0], [0, sy, 0, 0], [0, 0, sz, 0], [0, 0, 0, 1]], n, device, dtype)


def rotate3d(axis: Sequence[float], theta: Any, n: int, device: torch.device,
             dtype: torch.dtype) -> torch.Tensor:
    """Rotation by ``theta`` about the unit ``axis`` (Rodrigues' formula), homogeneous ``[N, 4, 4]``."""
    x, y, z = (float(a) for a in axis[:3])
    theta = torch.as_tensor(theta, dtype=dtype, device=device)
    c, s = torch.cos(theta), torch.sin(theta)
    d = 1 - c
    return matrix([[x * x * d + c, x * y * d - z * s, x * z * d + y * s, 0],
                   [y * x * d + z * s, y * y * d + c, y * z * d - x * s, 0],
                   [z * x * d - y * s, z * y * d + x * s, z * z * d + c, 0],
                   [0, 0, 0, 1]], n, device, dtype)


def reflect_index(i: torch.Tensor, size: int, periodic: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Reflect integer positions into ``[0, size)`` like ``F.pad(mode="reflect")`` (edge not repeated).

    Returns ``(index, inside)``. Without ``periodic``, ``inside`` is False beyond one reflection
    (``i < -(size - 1)`` or ``i > 2 (size - 1)``), where the filtered path's padding (at most
    ``size - 1``) ends and zeros begin. With ``periodic``, reflections repeat (period ``2 (size - 1)``)
    and everything is inside: the extension ``F.pad`` refuses for pads of ``size`` or more.
    """
    last = size - 1
    if last == 0:
        return torch.zeros_like(i), torch.ones_like(i, dtype=torch.bool)
    inside = torch.ones_like(i, dtype=torch.bool) if periodic else (i >= -last) & (i <= 2 * last)
    if periodic:
        i = torch.remainder(i, 2 * last)
    i = torch.where(i < 0, -i, i)
    i = torch.where(i > last, 2 * last - i, i)
    return i.clamp(0, last), inside


def is_blit(G_inv: torch.Tensor, height: int, width: int, tol: float = 1e-3) -> torch.Tensor:
    """``[N]`` bool: ``G_inv`` ``[N, 3, 3]`` maps every pixel centre onto a pixel centre (an x-flip,
    quarter turn or integer translation, or a composition of them), up to ``tol`` pixels."""
    lin = G_inv[:, :2, :2]
    integer_lin = ((lin - lin.round()).abs() <= tol).flatten(1).all(dim=1)
    unimodular = (torch.linalg.det(lin.round().to(torch.float64)).abs() - 1).abs() < 0.5
    corner = torch.tensor([-(width - 1) / 2, -(height - 1) / 2, 1.0], device=G_inv.device, dtype=G_inv.dtype)
    src = (G_inv @ corner)[:, :2] + torch.tensor([(width - 1) / 2, (height - 1) / 2], device=G_inv.device,
                                                 dtype=G_inv.dtype)
    on_grid = ((src - src.round()).abs() <= tol).all(dim=1)
    return integer_lin & unimodular & on_grid


def _pixel_grid(h: int, w: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """Centred homogeneous coordinates of every pixel, ``[3, H * W]`` (row-major)."""
    ys = torch.arange(h, device=device, dtype=dtype) - (h - 1) / 2
    xs = torch.arange(w, device=device, dtype=dtype) - (w - 1) / 2
    yy, xx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([xx.flatten(), yy.flatten(), torch.ones_like(xx).flatten()])


def filter_delay(f: torch.Tensor) -> float:
    """DC group delay of the FIR filter ``f`` [L] relative to its midpoint, in samples:
    ``(L - 1) / 2 - sum(n f[n]) / sum(f)`` (0 for symmetric filters, 0.402 for ``sym6``)."""
    f = f.detach().to(torch.float64).cpu()
    n = torch.arange(f.numel(), dtype=torch.float64)
    return float((f.numel() - 1) / 2 - (n * f).sum() / f.sum())


def blit(images: torch.Tensor, G_inv: torch.Tensor) -> torch.Tensor:
    """Exact pixel blitting: ``out[y, x] = images[reflect(G_inv (x, y))]``.

    Args:
        images: ``[N, C, H, W]``.
        G_inv: ``[N, 3, 3]`` mapping output to input pixels; must map pixel centres to pixel centres
            (signed permutations with integer translations; rounding absorbs float error).

    Returns:
        ``[N, C, H, W]``; gathers are differentiable to any order.
    """
    n, c, h, w = images.shape
    src = G_inv.to(torch.float64) @ _pixel_grid(h, w, images.device, torch.float64)  # [N, 3, H*W]
    ix = torch.round(src[:, 0] + (w - 1) / 2).long()
    iy = torch.round(src[:, 1] + (h - 1) / 2).long()
    ix, in_x = reflect_index(ix, w)
    iy, in_y = reflect_index(iy, h)
    flat = (iy * w + ix).unsqueeze(1).expand(n, c, h * w)
    out = images.reshape(n, c, h * w).gather(2, flat)
    inside = in_x & in_y
    if not bool(inside.all()):
        out = out * inside.unsqueeze(1).to(out.dtype)
    return out.reshape(n, c, h, w)


def resample(images: torch.Tensor, G_inv: torch.Tensor, Hz_geom: torch.Tensor) -> torch.Tensor:
    """Filtered geometric resampling (module docstring) of ``images`` [N, C, H, W] by ``G_inv`` [N, 3, 3].

    The filter support is ``Hz_geom.numel() // 4`` pixels (3 for the 12-tap ``sym6``); padding is one
    amount per side for the whole batch, clamped to ``size - 1`` (the most reflection can give).
    """
    n, c, h, w = images.shape
    device, dtype = images.device, G_inv.dtype
    pad_f = Hz_geom.shape[0] // 4
    cx, cy = (w - 1) / 2, (h - 1) / 2

    # Padding: how far the transformed corners reach beyond the image, plus the filter support.
    corners = torch.tensor([[-cx, cx, cx, -cx], [-cy, -cy, cy, cy], [1.0, 1.0, 1.0, 1.0]], device=device,
                           dtype=dtype)
    reach = (G_inv @ corners)[:, :2, :].permute(1, 0, 2).reshape(2, -1)  # [xy, N * 4]
    need = torch.cat([-reach, reach]).amax(dim=1)  # [x0, y0, x1, y1]: farthest source position per side
    need = need - torch.tensor([cx, cy, cx, cy], device=device, dtype=dtype) + 2 * pad_f
    limit = torch.tensor([w - 1, h - 1, w - 1, h - 1], device=device, dtype=dtype)
    px0, py0, px1, py1 = (int(v) for v in torch.minimum(need.clamp(min=0), limit).ceil().tolist())
    images = F.pad(images, [px0, px1, py0, py1], mode="reflect")
    G = translate2d((px0 - px1) / 2, (py0 - py1) / 2, n, device, dtype) @ G_inv  # the pad moved the centre

    # 2x upsampling: coordinates double. The filter is not symmetric: the upsampled image lags the
    # ideal half-pixel grid by its DC group delay (and the correlation in the downsampling leads by
    # as much), which conjugating the transform by that translation compensates.
    images = upsample2d(images, Hz_geom.to(images.dtype), up=2)
    G = scale2d(2, 2, n, device, dtype) @ G @ scale2d(0.5, 0.5, n, device, dtype)
    d = filter_delay(Hz_geom)
    G = translate2d(-d, -d, n, device, dtype) @ G @ translate2d(d, d, n, device, dtype)

    # Bilinear sampling onto the upsampled output grid (the image plus the filter margin), in the
    # normalised coordinates of affine_grid/grid_sample (align_corners=False: +-1 at the outer edges).
    out_h, out_w = (h + 2 * pad_f) * 2, (w + 2 * pad_f) * 2
    in_h, in_w = images.shape[2], images.shape[3]
    to_pixels = scale2d(out_w / 2, out_h / 2, n, device, dtype)
    theta = scale2d(2 / in_w, 2 / in_h, n, device, dtype) @ G @ to_pixels
    grid = F.affine_grid(theta[:, :2, :].to(images.dtype), [n, c, out_h, out_w], align_corners=False)
    images = grid_sample(images, grid)

    # 2x downsampling with the same filter as a correlation, cropping the margin.
    return downsample2d(images, Hz_geom.to(images.dtype), down=2, padding=-2 * pad_f, flip_filter=True)

