"""The ADA augmentation pipeline with its adaptive probability controller.

Karras, Aittala, Hellsten, Laine, Lehtinen, Aila, "Training Generative Adversarial Networks with
Limited Data", NeurIPS 2020 (https://arxiv.org/abs/2006.06676), section 2 and appendix B.

Every transform fires independently per image with probability ``multiplier * p``; the arbitrary
rotation is split into a pre- and a post-anisotropy rotation, each firing with probability
``1 - sqrt(1 - rotate * p)`` so that P(any rotation) = ``rotate * p``. The stages, in order:

1. geometric (``xflip``, ``rotate90``, ``xint``, ``scale``, rotation, ``aniso``, ``xfrac``): one
   inverse 3x3 matrix per image; pure pixel blits run as exact gathers, the rest through the
   filtered resampling of :mod:`ganforge.plugins.ada._geometry`;
2. colour (``brightness``, ``contrast``, ``lumaflip``, ``hue``, ``saturation``): one 4x4 homogeneous
   matrix per image about the luma axis ``v = (1, 1, 1, 0) / sqrt(3)``; grayscale images use the
   mean of its RGB rows;
3. ``imgfilter``: random gains of four octave bands, renormalised to the expected 1/f power profile,
   as one separable zero-phase filter (``Hz_fbank``) with reflect padding;
4. ``noise`` (additive Gaussian, per-image sigma) and ``cutout`` (a zeroed square).

The adaptive controller (ADA heuristic): every ``interval`` iterations the training loop calls
:meth:`AugmentPipe.adapt` with the mean of ``sign(D(real))`` over the interval, ``r_t``, and
``p <- max(p + sign(r_t - target) * images / (kimg * 1000), 0)``. There is no upper clamp: p > 1
saturates the per-transform probabilities, as upstream.

Buffers ``p`` [], ``Hz_geom`` [12] and ``Hz_fbank`` [4, 43] are named as in official snapshots, so
an official ``augment_pipe`` state loads as is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

from ganforge.plugins.ada import _geometry as geo
from ganforge.plugins.ada.config import MULTIPLIERS, STRENGTHS
from ganforge.plugins.ada.filters import EXPECTED_POWER, filter_bank, geom_filter

__all__ = ["AugmentPipe", "AugmentParams", "LUMA_AXIS"]

#: The luma axis of the colour transforms (homogeneous RGB).
LUMA_AXIS = (1 / math.sqrt(3), 1 / math.sqrt(3), 1 / math.sqrt(3), 0.0)

_GEOMETRIC = ("xflip", "rotate90", "xint", "scale", "rotate", "aniso", "xfrac")
_COLOR = ("brightness", "contrast", "lumaflip", "hue", "saturation")


@dataclass
class AugmentParams:
    """Per-image random parameters of one call (``N`` images).

    Attributes:
        G_inv: ``[N, 3, 3]`` output-to-input pixel matrix (centred coordinates), or None when no
            geometric transform is enabled.
        C: ``[N, 4, 4]`` homogeneous colour matrix, or None.
        band_gains: ``[N, 4]`` imgfilter gains ``g`` (the filter is ``g @ Hz_fbank``), or None.
        noise_std: ``[N]`` noise sigma, or None.
        cutout_size: ``[N]`` side of the cutout square (fraction of the size; 0: none), or None.
        cutout_center: ``[N, 2]`` its centre (x, y) in [0, 1], or None.
        fired: per transform name, ``[N]`` bool: whether it fired on each image (``rotate_pre``,
            ``rotate_post`` for the two rotations; ``imgfilter_<band>`` per band).
    """

    G_inv: torch.Tensor | None = None
    C: torch.Tensor | None = None
    band_gains: torch.Tensor | None = None
    noise_std: torch.Tensor | None = None
    cutout_size: torch.Tensor | None = None
    cutout_center: torch.Tensor | None = None
    fired: dict[str, torch.Tensor] = field(default_factory=dict)


class _Draw:
    """Random draws for ``n`` images; with a debug percentile, fixed values and everything fires."""

    def __init__(self, n: int, device: torch.device, dtype: torch.dtype, debug_percentile: float | None,
                 fired: dict[str, torch.Tensor]):
        self.n, self.device, self.dtype, self.dp, self.fired = n, device, dtype, debug_percentile, fired

    def fire(self, prob: Any, name: str) -> torch.Tensor:
        """``[N]`` bool: the transform ``name`` fires with probability ``prob`` (recorded in ``fired``)."""
        if self.dp is not None:
            mask = torch.ones([self.n], dtype=torch.bool, device=self.device)
        else:
            mask = torch.rand([self.n], device=self.device) < prob
        self.fired[name] = mask
        return mask

    def _fixed(self, value: float, shape: tuple[int, ...]) -> torch.Tensor:
        return torch.full([self.n, *shape], value, device=self.device, dtype=self.dtype)

    def uniform(self, shape: tuple[int, ...] = ()) -> torch.Tensor:
        """U(-1, 1)."""
        if self.dp is not None:
            return self._fixed(self.dp * 2 - 1, shape)
        return (torch.rand([self.n, *shape], device=self.device) * 2 - 1).to(self.dtype)

    def normal(self, shape: tuple[int, ...] = ()) -> torch.Tensor:
        """N(0, 1)."""
        if self.dp is not None:
            return self._fixed(float(torch.erfinv(torch.tensor(self.dp * 2 - 1.0))), shape)
        return torch.randn([self.n, *shape], device=self.device).to(self.dtype)

    def integer(self, count: int) -> torch.Tensor:
        """Uniform on {0, ..., count - 1}."""
        if self.dp is not None:
            return self._fixed(float(math.floor(self.dp * count)), ())
        return torch.floor(torch.rand([self.n], device=self.device) * count).to(self.dtype)


class AugmentPipe(torch.nn.Module):
    """ADA augmentation: ``forward(images [N, C, H, W]) -> [N, C, H, W]``, differentiable twice w.r.t. images.

    Args:
        settings: probability multipliers (``xflip`` ... ``cutout``, default 0: disabled) and strengths
            (``xint_max`` ... ``cutout_size``, upstream defaults), as named in ``docs/plugins/ada.md``.
        p: initial augmentation probability (the ``p`` buffer).
        target: ADA target for the watched statistic; None: fixed p (no :meth:`adapt`).
        interval: iterations between adjustments (``adapt_interval``).
        kimg: thousands of images for p to move by 1 (``ada_kimg``).
        stat: the training statistic the controller watches (``adapt_stat``).
    """

    def __init__(self, *, p: float = 0.0, target: float | None = None, interval: int = 4, kimg: float = 500,
                 stat: str = "Loss/signs/real", **settings: Any):
        super().__init__()
        unknown = sorted(set(settings) - set(MULTIPLIERS) - set(STRENGTHS))
        if unknown:
            raise TypeError(f"AugmentPipe got unknown settings {unknown}")
        for name in MULTIPLIERS:
            setattr(self, name, float(settings.get(name, 0)))
        for name, default in STRENGTHS.items():
            value = settings.get(name, default)
            setattr(self, name, [float(v) for v in value] if name == "imgfilter_bands" else float(value))
        self.register_buffer("p", torch.tensor(float(p)))
        self.register_buffer("Hz_geom", geom_filter())
        self.register_buffer("Hz_fbank", torch.as_tensor(filter_bank(num_bands=4), dtype=torch.float32))
        if len(self.imgfilter_bands) != self.Hz_fbank.shape[0]:
            raise ValueError(f"imgfilter_bands needs {self.Hz_fbank.shape[0]} values: {self.imgfilter_bands}")
        self.target = None if target is None else float(target)
        self.adapt_interval = int(interval)
        self.ada_kimg = float(kimg)
        #: The statistic the training loop averages for :meth:`adapt` (None: fixed p).
        self.adapt_stat = stat if self.target is not None else None

    # -- the controller ----------------------------------------------------------------------------
    @torch.no_grad()
    def adapt(self, value: float, nimg_delta: int) -> None:
        """ADA heuristic: move p by ``sign(value - target) * nimg_delta / (kimg * 1000)``, not below 0.

        Args:
            value: mean of the watched statistic (``sign(D(real))``) over the last interval.
            nimg_delta: real images shown over that interval (batch * interval).
        """
        if self.target is None or not math.isfinite(value):
            return
        sign = (value > self.target) - (value < self.target)
        step = sign * nimg_delta / (self.ada_kimg * 1000)
        self.p.copy_((self.p + step).clamp(min=0))

    def extra_repr(self) -> str:
        on = ", ".join(f"{k}={getattr(self, k):g}" for k in MULTIPLIERS if getattr(self, k))
        mode = "fixed p" if self.target is None else \
            f"target={self.target:g}, interval={self.adapt_interval}, kimg={self.ada_kimg:g}"
        return f"p={float(self.p):.4f}, {mode}, {on or 'nothing enabled'}"

    # -- sampling ----------------------------------------------------------------------------------
    def sample(self, n: int, channels: int, height: int, width: int, device: Any = "cpu",
               dtype: torch.dtype = torch.float32, debug_percentile: float | None = None) -> AugmentParams:
        """Draw the per-image parameters for a batch (see :class:`AugmentParams`).

        With ``debug_percentile`` in (0, 1), every enabled transform fires with the parameter value at
        that percentile of its distribution (for visual debugging, as upstream).
        """
        if debug_percentile is not None and not 0 < debug_percentile < 1:
            raise ValueError(f"debug_percentile must lie strictly between 0 and 1, got {debug_percentile}")
        out = AugmentParams()
        mdt = torch.float64 if dtype == torch.float64 else torch.float32  # matrices: at least float32
        draw = _Draw(n, torch.device(device), mdt, debug_percentile, out.fired)
        p = self.p.to(device=draw.device, dtype=torch.float32)
        if any(getattr(self, k) > 0 for k in _GEOMETRIC):
            out.G_inv = self._sample_geometric(draw, p, height, width)
        if any(getattr(self, k) > 0 for k in _COLOR):
            out.C = self._sample_color(draw, p, channels)
        if self.imgfilter > 0:
            out.band_gains = self._sample_band_gains(draw, p)
        if self.noise > 0:
            sigma = draw.normal().abs() * self.noise_std
            if debug_percentile is not None:  # upstream's debug value
                sigma = torch.full_like(sigma, float(torch.erfinv(torch.tensor(debug_percentile))))
                sigma = sigma * self.noise_std
            out.noise_std = torch.where(draw.fire(self.noise * p, "noise"), sigma, 0)
        if self.cutout > 0:
            out.cutout_size = torch.where(draw.fire(self.cutout * p, "cutout"), self.cutout_size, 0.0).to(mdt)
            out.cutout_center = (draw.uniform((2,)) + 1) / 2
        return out

    def _sample_geometric(self, draw: _Draw, p: torch.Tensor, height: int, width: int) -> torch.Tensor:
        """Compose ``G_inv`` [N, 3, 3]; each factor inverts one step, the first step is applied first."""
        m = dict(n=draw.n, device=draw.device, dtype=draw.dtype)
        G = torch.eye(3, device=draw.device, dtype=draw.dtype).expand(draw.n, 3, 3)
        if self.xflip > 0:
            i = torch.where(draw.fire(self.xflip * p, "xflip"), draw.integer(2), 0)
            G = G @ geo.scale2d(1 - 2 * i, 1, **m)
        if self.rotate90 > 0:
            k = torch.where(draw.fire(self.rotate90 * p, "rotate90"), draw.integer(4), 0)
            G = G @ geo.rotate2d(k * (math.pi / 2), **m)
        if self.xint > 0:
            t = draw.uniform((2,)) * self.xint_max
            t = torch.where(draw.fire(self.xint * p, "xint").unsqueeze(1), t, 0)
            G = G @ geo.translate2d(-torch.round(t[:, 0] * width), -torch.round(t[:, 1] * height), **m)
        if self.scale > 0:
            s = torch.where(draw.fire(self.scale * p, "scale"), torch.exp2(draw.normal() * self.scale_std), 1)
            G = G @ geo.scale2d(1 / s, 1 / s, **m)
        p_rot = 1 - torch.sqrt((1 - self.rotate * p).clamp(0, 1))  # P(pre or post) = rotate * p
        if self.rotate > 0:
            theta = draw.uniform() * (math.pi * self.rotate_max)
            theta = torch.where(draw.fire(p_rot, "rotate_pre"), theta, 0)
            G = G @ geo.rotate2d(theta, **m)
        if self.aniso > 0:
            s = torch.where(draw.fire(self.aniso * p, "aniso"), torch.exp2(draw.normal() * self.aniso_std), 1)
            G = G @ geo.scale2d(1 / s, s, **m)
        if self.rotate > 0:
            theta = draw.uniform() * (math.pi * self.rotate_max)
            theta = torch.where(draw.fire(p_rot, "rotate_post"), theta, 0)
            G = G @ geo.rotate2d(theta, **m)
        if self.xfrac > 0:
            t = draw.normal((2,)) * self.xfrac_std
            t = torch.where(draw.fire(self.xfrac * p, "xfrac").unsqueeze(1), t, 0)
            G = G @ geo.translate2d(-t[:, 0] * width, -t[:, 1] * height, **m)
        return G

    def _sample_color(self, draw: _Draw, p: torch.Tensor, channels: int) -> torch.Tensor:
        """Compose ``C`` [N, 4, 4] (each step multiplies from the left); hue and saturation need RGB."""
        n, m = draw.n, dict(n=draw.n, device=draw.device, dtype=draw.dtype)
        C = torch.eye(4, device=draw.device, dtype=draw.dtype).expand(n, 4, 4)
        v = torch.tensor(LUMA_AXIS, device=draw.device, dtype=draw.dtype)
        vv = torch.outer(v, v)
        eye = torch.eye(4, device=draw.device, dtype=draw.dtype)
        if self.brightness > 0:
            b = draw.normal() * self.brightness_std
            b = torch.where(draw.fire(self.brightness * p, "brightness"), b, 0)
            C = geo.translate3d(b, b, b, **m) @ C
        if self.contrast > 0:
            c = torch.exp2(draw.normal() * self.contrast_std)
            c = torch.where(draw.fire(self.contrast * p, "contrast"), c, 1)
            C = geo.scale3d(c, c, c, **m) @ C
        if self.lumaflip > 0:
            i = torch.where(draw.fire(self.lumaflip * p, "lumaflip"), draw.integer(2), 0)
            C = (eye - 2 * vv * i.reshape(n, 1, 1)) @ C  # Householder reflection about the luma axis
        if self.hue > 0 and channels > 1:
            theta = torch.where(draw.fire(self.hue * p, "hue"), draw.uniform() * math.pi * self.hue_max, 0)
            C = geo.rotate3d(LUMA_AXIS, theta, **m) @ C
        if self.saturation > 0 and channels > 1:
            s = torch.exp2(draw.normal() * self.saturation_std).reshape(n, 1, 1)
            sat = vv + (eye - vv) * s
            sat[:, 3, 3] = 1
            C = torch.where(draw.fire(self.saturation * p, "saturation").reshape(n, 1, 1), sat, eye) @ C
        return C

    def _sample_band_gains(self, draw: _Draw, p: torch.Tensor) -> torch.Tensor:
        """Gains ``g`` [N, bands]: per band a gain 2^N(0, std^2) that fires with probability
        ``imgfilter * p * band_strength``, each step renormalised so the expected power stays 1."""
        bands = self.Hz_fbank.shape[0]
        power = torch.tensor(EXPECTED_POWER, device=draw.device, dtype=draw.dtype)
        g = torch.ones([draw.n, bands], device=draw.device, dtype=draw.dtype)
        any_fired = torch.zeros([draw.n], device=draw.device, dtype=torch.bool)
        for b, strength in enumerate(self.imgfilter_bands):
            gain = torch.exp2(draw.normal() * self.imgfilter_std)
            fired = draw.fire(self.imgfilter * p * strength, f"imgfilter_{b}")
            if strength <= 0:  # never fires, not even when debugging
                fired = draw.fired[f"imgfilter_{b}"] = torch.zeros_like(fired)
            t = torch.ones_like(g)
            t[:, b] = torch.where(fired, gain, 1)
            g = g * t / (power * t.square()).sum(dim=1, keepdim=True).sqrt()
            any_fired |= fired
        return torch.where(any_fired.unsqueeze(1), g, 1)  # exactly 1 (no filtering) where nothing fired

    # -- execution ---------------------------------------------------------------------------------
    def apply(self, images: torch.Tensor, params: AugmentParams) -> torch.Tensor:
        """Apply sampled ``params`` to ``images`` ``[N, C, H, W]`` (C = 1 or 3 when colour is enabled)."""
        n, c, h, w = images.shape
        if params.G_inv is not None:
            images = self._geometric(images, params)
        if params.C is not None and bool((params.C != torch.eye(4, device=params.C.device)).any()):
            images = self._color(images, params.C)
        if params.band_gains is not None and bool((params.band_gains != 1).any()):
            images = self._imgfilter(images, params.band_gains)
        if params.noise_std is not None and bool((params.noise_std > 0).any()):
            sigma = params.noise_std.to(images.dtype).reshape(n, 1, 1, 1)
            images = images + torch.randn_like(images) * sigma
        if params.cutout_size is not None and bool((params.cutout_size > 0).any()):
            size = params.cutout_size.reshape(n, 1, 1)
            cx = params.cutout_center[:, 0].reshape(n, 1, 1)
            cy = params.cutout_center[:, 1].reshape(n, 1, 1)
            xs = ((torch.arange(w, device=images.device, dtype=size.dtype) + 0.5) / w).reshape(1, 1, w)
            ys = ((torch.arange(h, device=images.device, dtype=size.dtype) + 0.5) / h).reshape(1, h, 1)
            keep = ((xs - cx).abs() >= size / 2) | ((ys - cy).abs() >= size / 2)  # [N, H, W]
            images = images * keep.unsqueeze(1).to(images.dtype)
        return images

    def forward(self, images: torch.Tensor, debug_percentile: float | None = None) -> torch.Tensor:
        """Augment ``images`` ``[N, C, H, W]`` (float, nominally in [-1, 1]); returns the same shape."""
        if images.ndim != 4:
            raise ValueError(f"AugmentPipe expects images [N, C, H, W], got shape {tuple(images.shape)}")
        n, c, h, w = images.shape
        params = self.sample(n, c, h, w, images.device, images.dtype, debug_percentile=debug_percentile)
        return self.apply(images, params)

    def _geometric(self, images: torch.Tensor, params: AugmentParams) -> torch.Tensor:
        """Unmoved images pass through, pixel blits are gathered exactly, the rest is resampled.

        Each path runs on the whole batch when any image needs it (as upstream runs its one path),
        and ``torch.where`` picks per image: no scatter, so deterministic mode works on any device.
        """
        n = images.shape[0]
        G = params.G_inv
        eye = torch.eye(3, device=G.device, dtype=G.dtype)
        moved = (G != eye).flatten(1).any(dim=1)
        exact = geo.is_blit(G, images.shape[2], images.shape[3])
        use_blit, use_warp = moved & exact, moved & ~exact
        out = images
        if bool(use_blit.any()):
            out = torch.where(use_blit.reshape(n, 1, 1, 1), geo.blit(images, G), out)
        if bool(use_warp.any()):
            out = torch.where(use_warp.reshape(n, 1, 1, 1), geo.resample(images, G, self.Hz_geom), out)
        return out

    @staticmethod
    def _color(images: torch.Tensor, C: torch.Tensor) -> torch.Tensor:
        n, c, h, w = images.shape
        C = C.to(images.dtype)
        flat = images.reshape(n, c, h * w)
        if c == 3:
            flat = C[:, :3, :3] @ flat + C[:, :3, 3:]
        elif c == 1:
            gray = C[:, :3, :].mean(dim=1, keepdim=True)  # [N, 1, 4]: the mean of the RGB rows
            flat = flat * gray[:, :, :3].sum(dim=2, keepdim=True) + gray[:, :, 3:]
        else:
            raise ValueError(f"ADA colour transforms need RGB (3) or grayscale (1) images, got {c} channels")
        return flat.reshape(n, c, h, w)

    def _imgfilter(self, images: torch.Tensor, gains: torch.Tensor) -> torch.Tensor:
        n, c, h, w = images.shape
        taps = (gains.to(torch.float64) @ self.Hz_fbank.to(torch.float64)).to(images.dtype)  # [N, L]
        size = taps.shape[1]
        pad = size // 2
        weight = taps.repeat_interleave(c, dim=0).reshape(n * c, 1, 1, size)
        x = images.reshape(1, n * c, h, w)
        ix = geo.reflect_index(torch.arange(-pad, w + pad, device=images.device), w, periodic=True)[0]
        iy = geo.reflect_index(torch.arange(-pad, h + pad, device=images.device), h, periodic=True)[0]
        x = F.conv2d(x.index_select(3, ix), weight, groups=n * c)  # rows
        x = F.conv2d(x.index_select(2, iy), weight.transpose(2, 3), groups=n * c)  # columns
        return x.reshape(n, c, h, w)


def build_augment_pipe(cfg: Any, info: Any) -> AugmentPipe:
    """Factory of the ``ada`` spec."""
    from ganforge.plugins.ada.config import module_kwargs

    return AugmentPipe(**module_kwargs(cfg))
