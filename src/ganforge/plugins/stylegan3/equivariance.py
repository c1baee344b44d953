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


def _shift(x: torch.Tensor, dx: int, dy: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``z[y, x] = x[y - dy, x - dx]`` with zeros shifted in, and the mask of valid pixels."""
    h, w = x.shape[2], x.shape[3]
    z, m = torch.zeros_like(x), torch.zeros_like(x)
    if abs(dx) < w and abs(dy) < h:
        z[:, :, max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = \
            x[:, :, max(-dy, 0):h + min(-dy, 0), max(-dx, 0):w + min(-dx, 0)]
        m[:, :, max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = 1
    return z, m


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
    n = aflt * up * 2 - 1
    taps = ((torch.arange(n, dtype=torch.float64) + 1) / up - aflt).roll(1 - aflt * up)  # 0 first (FFT order)
    yi, xi = torch.meshgrid(taps, taps, indexing="ij")
    xo, yo = (torch.stack([xi, yi], dim=2) @ mat[:2, :2].t()).unbind(2)

    def circular_conv(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
        return torch.fft.ifftn(torch.fft.fftn(p) * torch.fft.fftn(q)).real

    f = circular_conv(sinc(xi * cutoff_in) * sinc(yi * cutoff_in),
                      sinc(xo * cutoff_out) * sinc(yo * cutoff_out))
    win = circular_conv(lanczos_window(xi, a) * lanczos_window(yi, a),
                        lanczos_window(xo, a) * lanczos_window(yo, a))
    f = f * win
    c = (aflt - amax) * up
    f = f.roll([aflt * up - 1] * 2, dims=[0, 1])[c:-c, c:-c]  # centre, crop to +-amax pixels
    f = F.pad(f, [0, 1, 0, 1]).reshape(amax * 2, up, amax * 2, up)
    f = f / f.sum(dim=[0, 2], keepdim=True) / up ** 2
    return f.reshape(amax * 2 * up, amax * 2 * up)[:-1, :-1].to(torch.float32)


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
    theta = torch.linalg.inv(mat)
    theta[:2, 2] *= 2  # image units (width 1) -> normalised units (width 2)
    theta[0, 2] += 1 / up / w  # the upsampled grid is offset by half an upsampled pixel
    theta[1, 2] += 1 / up / h
    theta[0, :] *= w / (w + p / up * 2)  # normalised units of the output -> of the padded upsampled image
    theta[1, :] *= h / (h + p / up * 2)
    grid = F.affine_grid(theta[:2, :3].unsqueeze(0).repeat([n, 1, 1]).to(x.device), list(x.shape),
                         align_corners=False)
    y = upsample2d(x, f, up=up, padding=p)
    z = grid_sample(y, grid)
    m = torch.zeros_like(y)
    c = p * 2 + 1
    m[:, :, c:-c, c:-c] = 1
    return z, grid_sample(m, grid)


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
    m = torch.zeros_like(y)
    c = f.shape[0] // 2
    m[:, :, c:-c, c:-c] = 1
    return y, m


def psnr(sq_err_sum: float, mask_sum: float) -> float:
    """PSNR in dB for images in [-1, 1] from the accumulated masked squared error and mask sums."""
    if mask_sum <= 0:
        return float("nan")
    mse = sq_err_sum / mask_sum
    return float("inf") if mse <= 0 else float(PEAK_DB - 10 * np.log10(mse))
