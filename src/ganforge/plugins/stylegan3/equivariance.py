"""Equivariance metrics EQ-T, EQ-T (fractional) and EQ-R.

Karras et al., "Alias-Free Generative Adversarial Networks", NeurIPS 2021
(https://arxiv.org/abs/2106.12423), section 3 and appendix E. A generator is equivariant to a
transformation when transforming its input (here: StyleGAN3's Fourier-feature input, through
``G.synthesis.input.transform``) transforms its output image the same way. Each metric draws a
transformation per batch, generates the image with and without it, transforms the untransformed
image itself, and reports the PSNR (peak-to-peak 2, i.e. images in [-1, 1]) between the two over the
pixels that are valid in both:

``PSNR = 20 log10(2) - 10 log10( sum(mask * (ref - img)^2) / sum(mask) )``, sums over all samples.

* EQ-T: translation ``t ~ U(-0.125, 0.125)`` x image size, rounded to whole pixels; the reference is
  the image shifted by those pixels (zeros shifted in are masked out).
* EQ-T (fractional): the same without rounding; the reference is resampled with a separable
  Lanczos (a = 3) windowed sinc.
* EQ-R: rotation ``U(-pi, pi)``; the reference is the image rotated with a band-limited affine filter
  (the convolution of an axis-aligned and a rotated 2-D sinc, windowed by the convolution of the
  two Lanczos windows, 4x oversampled) followed by bilinear sampling. The generator's output is
  passed through the same filter without resampling ("pseudo-rotation") so that both sides lose the
  same frequencies.

Functions take and return ``[N, C, H, W]`` images and a mask of the same shape.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from ganforge.ops import filter2d, grid_sample, upsample2d

__all__ = ["sinc", "lanczos_window", "rotation_matrix", "integer_translation", "fractional_translation",
           "bandlimited_affine_filter", "affine_resample", "fractional_rotation", "pseudo_rotation", "psnr",
           "PEAK_DB"]

#: ``20 log10(2)``: the PSNR of images in [-1, 1] whose MSE is 1.
PEAK_DB = 20 * math.log10(2)


def sinc(x: torch.Tensor) -> torch.Tensor:
    """Normalised sinc ``sin(pi x) / (pi x)`` (1 at 0)."""
    y = (x * math.pi).abs()
    return torch.where(y < 1e-30, torch.ones_like(x), torch.sin(y) / y.clamp(min=1e-30))


def lanczos_window(x: torch.Tensor, a: int) -> torch.Tensor:
    """``sinc(x / a)`` inside ``|x| < a``, 0 outside."""
    u = x.abs() / a
    return torch.where(u < 1, sinc(u), torch.zeros_like(x))


def rotation_matrix(angle: float | torch.Tensor) -> torch.Tensor:
    """``[[cos a, sin a, 0], [-sin a, cos a, 0], [0, 0, 1]]`` float32 (the ``gen_images.py`` convention)."""
    a = torch.as_tensor(angle, dtype=torch.float32)
    c, s = torch.cos(a), torch.sin(a)
    zero, one = torch.zeros_like(a), torch.ones_like(a)
    rows = [torch.stack([c, s, zero]), torch.stack([-s, c, zero]), torch.stack([zero, zero, one])]
    return torch.stack(rows)


def _overlap(size: int, shift: int) -> tuple[slice, slice]:
    """Destination and source ranges along one axis of a shift by ``shift`` samples (``|shift| < size``):
    destination sample ``i`` takes source sample ``i - shift``."""
    start, stop = max(shift, 0), size + min(shift, 0)
    return slice(start, stop), slice(start - shift, stop - shift)


def _box_mask(like: torch.Tensor, rows: slice, cols: slice) -> torch.Tensor:
    """Zeros shaped like ``like`` with ones on ``[..., rows, cols]``."""
    mask = torch.zeros_like(like)
    mask[..., rows, cols] = 1
    return mask


def _shift(x: torch.Tensor, dx: int, dy: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``z[y, x] = x[y - dy, x - dx]`` with zeros shifted in, and the mask of valid pixels."""
    h, w = x.shape[2], x.shape[3]
    if abs(dx) >= w or abs(dy) >= h:  # shifted out entirely
        return torch.zeros_like(x), torch.zeros_like(x)
    (rows, src_rows), (cols, src_cols) = _overlap(h, dy), _overlap(w, dx)
    z = torch.zeros_like(x)
    z[..., rows, cols] = x[..., src_rows, src_cols]
    return z, _box_mask(x, rows, cols)


def integer_translation(x: torch.Tensor, tx: float, ty: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Shift by ``round(tx * W)``, ``round(ty * H)`` pixels (content moves right/down for positive t)."""
    return _shift(x, round(float(tx) * x.shape[3]), round(float(ty) * x.shape[2]))


def _lanczos_taps(frac: float, a: int) -> torch.Tensor:
    """Weights of samples ``j = -(a-1)..a`` for evaluating at ``-frac`` relative to sample 0, summing to 1."""
    j = torch.arange(-(a - 1), a + 1, dtype=torch.float64) - frac
    taps = sinc(j) * sinc(j / a)
    return taps / taps.sum()


def fractional_translation(x: torch.Tensor, tx: float, ty: float,
                           a: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    """Shift by ``tx * W``, ``ty * H`` pixels with Lanczos-``a`` interpolation.

    With ``t W = i + f`` (``i`` integer, ``0 <= f < 1``): ``z[p] = sum_{j=-(a-1)}^{a} L(j - f) x[p - i - j]``
    per axis, ``L(u) = sinc(u) sinc(u / a)`` normalised; the mask keeps the pixels whose whole
    footprint lies inside the image (``i + a <= p < W + i - (a - 1)``).
    """
    h, w = x.shape[2], x.shape[3]
    sx, sy = float(tx) * w, float(ty) * h
    ix, iy = math.floor(sx), math.floor(sy)
    out = x
    for dim, i, frac in ((3, ix, sx - ix), (2, iy, sy - iy)):
        taps = _lanczos_taps(frac, a).to(x.dtype)
        acc = torch.zeros_like(out)
        for k, j in enumerate(range(-(a - 1), a + 1)):
            shifted, _ = _shift(out, i + j, 0) if dim == 3 else _shift(out, 0, i + j)
            acc = acc + taps[k] * shifted
        out = acc
    mask = torch.zeros_like(x)
    x0, x1 = max(ix + a, 0), min(ix - (a - 1), 0) + w
    y0, y1 = max(iy + a, 0), min(iy - (a - 1), 0) + h
    if x0 < x1 and y0 < y1:
        mask[:, :, y0:y1, x0:x1] = 1
    return out, mask


def _fft_order_positions(aflt: int, up: int) -> torch.Tensor:
    """Positions (input pixels) of the ``2 aflt up - 1`` taps of the design grid in FFT order:
    ``0, 1/up, ..., aflt - 1/up, -(aflt - 1/up), ..., -1/up`` (float64)."""
    n, half = aflt * up * 2 - 1, aflt * up
    ascending = (torch.arange(n, dtype=torch.float64) + (half - 1)) % n  # the index with 0 first
    return (ascending + 1) / up - aflt


def _circular_convolution(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    return torch.fft.ifftn(torch.fft.fftn(p) * torch.fft.fftn(q)).real


def _separable(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``fn(x) * fn(y)``: a separable 2-D function on the coordinates ``(x, y)``."""
    return fn(x) * fn(y)


def _centred_taps(f: torch.Tensor, aflt: int, amax: int, up: int) -> torch.Tensor:
    """The taps of an FFT-ordered ``f`` within ``amax`` input pixels of 0, centred: ``[2 amax up - 1]^2``."""
    n, margin = f.shape[0], (aflt - amax) * up
    index = (torch.arange(margin, n - margin) - (aflt * up - 1)) % n  # centred position -> FFT order
    return f[index][:, index]


def _normalise_phases(f: torch.Tensor, up: int) -> torch.Tensor:
    """Scale each of the ``up x up`` polyphase components of ``f`` (``[k up - 1]^2``) to sum ``1 / up^2``.

    Upsampling by ``up`` convolves every output phase with one component: normalising each keeps
    a constant image constant. One zero row and column close the last phase.
    """
    k = (f.shape[0] + 1) // up
    phases = F.pad(f, [0, 1, 0, 1]).unflatten(0, (k, up)).unflatten(2, (k, up))  # [ky, phase_y, kx, phase_x]
    phases = phases / phases.sum(dim=(0, 2), keepdim=True) / up ** 2
    return phases.flatten(2).flatten(0, 1)[:-1, :-1]


def bandlimited_affine_filter(mat: torch.Tensor, a: int = 3, amax: int = 16, aflt: int = 64, up: int = 4,
                              cutoff_in: float = 1, cutoff_out: float = 1) -> torch.Tensor:
    """The 2-D FIR filter of a band-limited affine resampling, ``[2 amax up - 1]`` squared.

    On a grid of ``2 aflt up - 1`` taps per axis (spacing ``1 / up`` input pixels, FFT order), the
    ideal filter is the circular convolution of an axis-aligned sinc (input band, ``cutoff_in``) and
    a sinc in the transformed coordinates ``(x_o, y_o) = A (x_i, y_i)`` (output band,
    ``cutoff_out``); the window is the convolution of the two Lanczos-``a`` windows. The product is
    centred, cropped to ``amax`` input pixels on each side, and each of the ``up x up`` polyphase
    components is normalised to sum ``1 / up^2`` (so upsampling by ``up`` keeps DC).
    """
    mat = torch.as_tensor(mat, dtype=torch.float64)
    if not a <= amax < aflt:
        raise ValueError(f"need a <= amax < aflt, got a={a}, amax={amax}, aflt={aflt}")
    taps = _fft_order_positions(aflt, up)
    inp = torch.stack(torch.meshgrid(taps, taps, indexing="xy"), dim=-1)  # [y, x, (x_i, y_i)]
    out = inp @ mat[:2, :2].T  # (x_o, y_o) = A (x_i, y_i)
    ideal = _circular_convolution(_separable(lambda u: sinc(u * cutoff_in), *inp.unbind(-1)),
                                  _separable(lambda u: sinc(u * cutoff_out), *out.unbind(-1)))
    window = _circular_convolution(_separable(lambda u: lanczos_window(u, a), *inp.unbind(-1)),
                                   _separable(lambda u: lanczos_window(u, a), *out.unbind(-1)))
    f = _centred_taps(ideal * window, aflt, amax, up)
    return _normalise_phases(f, up).to(torch.float32)


def _sampling_theta(mat: torch.Tensor, width: int, height: int, up: int, pad: int) -> torch.Tensor:
    """The ``[2, 3]`` ``affine_grid`` matrix that samples ``mat^-1`` of every output pixel in the image
    upsampled ``up`` times and padded by ``pad`` upsampled pixels.

    ``mat`` works in image units (the image one unit wide); ``affine_grid`` in normalised units (two
    wide), so the translation doubles; the upsampled grid sits half an upsampled pixel off, which
    shifts it by ``1 / (up * size)``; last, each axis shrinks by ``size / (size + 2 pad / up)``, the
    share of the padded image the original covers.
    """
    theta = torch.linalg.inv(mat)[:2].clone()
    half_pixel = torch.tensor([1 / up / width, 1 / up / height])
    theta[:, 2] = theta[:, 2] * 2 + half_pixel
    coverage = torch.tensor([[width / (width + pad / up * 2)], [height / (height + pad / up * 2)]])
    return theta * coverage


def affine_resample(x: torch.Tensor, mat: torch.Tensor, up: int = 4, a: int = 3,
                    amax: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    """Transform ``x`` by ``mat`` (3x3, image coordinates with the image one unit wide, y down).

    Upsample ``up``-fold with :func:`bandlimited_affine_filter` (padding ``p`` = half its size), then
    sample bilinearly at ``mat^-1`` of each output pixel. The mask is a box ``2p + 1`` pixels inside
    the upsampled image, sampled the same way (so it falls off smoothly at the border).
    """
    n, _, h, w = x.shape
    mat = torch.as_tensor(mat, dtype=torch.float32)
    f = bandlimited_affine_filter(mat, a=a, amax=amax, up=up).to(x.device)
    p = f.shape[0] // 2
    theta = _sampling_theta(mat, w, h, up, p).to(x.device)
    grid = F.affine_grid(theta.expand(n, 2, 3).contiguous(), list(x.shape), align_corners=False)
    y = upsample2d(x, f, up=up, padding=p)
    inner = slice(2 * p + 1, -(2 * p + 1))
    return grid_sample(y, grid), grid_sample(_box_mask(y, inner, inner), grid)


def fractional_rotation(x: torch.Tensor, angle: float | torch.Tensor,
                        a: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    """Rotate by ``angle`` radians (the reference of EQ-R)."""
    return affine_resample(x, rotation_matrix(angle), a=a, amax=a * 2)


def pseudo_rotation(x: torch.Tensor, angle: float | torch.Tensor,
                    a: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    """Filter with the band limits of a rotation by ``angle`` without resampling (EQ-R's treatment of
    the generator's output); the mask drops the filter's half-width at the border."""
    mat = rotation_matrix(-torch.as_tensor(angle, dtype=torch.float32))
    f = bandlimited_affine_filter(mat, a=a, amax=a * 2, up=1).to(x.device)
    y = filter2d(x, f)
    reach = f.shape[0] // 2  # pixels at the border that the filter reads from outside the image
    inner = slice(reach, -reach)
    return y, _box_mask(y, inner, inner)


def psnr(sq_err_sum: float, mask_sum: float) -> float:
    """PSNR in dB for images in [-1, 1] from the accumulated masked squared error and mask sums."""
    if mask_sum <= 0:
        return float("nan")
    mse = sq_err_sum / mask_sum
    return float("inf") if mse <= 0 else float(PEAK_DB - 10 * np.log10(mse))
