"""Configuration of the ``ada`` augmentation (``[augment]`` with ``name = "ada"``).

Presets are the ``--augpipe`` sets of StyleGAN2-ADA; every probability multiplier can be overridden
on top of the preset, and every strength has the upstream default. Field descriptions are what
``gan info ada`` shows.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from ganforge.core.config import ComponentConfig

__all__ = ["AdaConfig", "PRESETS", "MULTIPLIERS", "STRENGTHS", "COLOR", "resolved_multipliers",
           "module_kwargs", "check_run"]

#: Probability multipliers, in pipeline order.
MULTIPLIERS: tuple[str, ...] = (
    "xflip", "rotate90", "xint", "scale", "rotate", "aniso", "xfrac",
    "brightness", "contrast", "lumaflip", "hue", "saturation", "imgfilter", "noise", "cutout",
)
#: Multipliers of the colour transforms (need 1- or 3-channel images).
COLOR: tuple[str, ...] = ("brightness", "contrast", "lumaflip", "hue", "saturation")

_BLIT = {"xflip": 1, "rotate90": 1, "xint": 1}
_GEOM = {"scale": 1, "rotate": 1, "aniso": 1, "xfrac": 1}
_COLOR = {name: 1 for name in COLOR}
_FILTER = {"imgfilter": 1}
_NOISE = {"noise": 1}
_CUTOUT = {"cutout": 1}

#: Preset name -> multipliers that are 1 (all others 0): StyleGAN2-ADA's ``--augpipe`` sets, plus
#: ``none`` (nothing enabled; a base for explicit multipliers).
PRESETS: dict[str, dict[str, float]] = {
    "none": {},
    "blit": _BLIT,
    "geom": _GEOM,
    "color": _COLOR,
    "filter": _FILTER,
    "noise": _NOISE,
    "cutout": _CUTOUT,
    "bg": {**_BLIT, **_GEOM},
    "bgc": {**_BLIT, **_GEOM, **_COLOR},
    "bgcf": {**_BLIT, **_GEOM, **_COLOR, **_FILTER},
    "bgcfn": {**_BLIT, **_GEOM, **_COLOR, **_FILTER, **_NOISE},
    "bgcfnc": {**_BLIT, **_GEOM, **_COLOR, **_FILTER, **_NOISE, **_CUTOUT},
}

Preset = Literal["none", "blit", "geom", "color", "filter", "noise", "cutout", "bg", "bgc", "bgcf", "bgcfn",
                 "bgcfnc"]


def _mult(what: str) -> Any:
    return Field(None, ge=0, description=f"Multiplier of {what} (fires per image with probability "
                 "multiplier * p); None: 1 if in the preset, else 0.")


class AdaConfig(ComponentConfig):
    """Adaptive discriminator augmentation (Karras et al., NeurIPS 2020)."""

    name: Literal["ada"] = "ada"
    preset: Preset = Field("bgc", description="Set of enabled transforms (StyleGAN2-ADA --augpipe): blit, "
                           "geom, color, filter, noise, cutout, bg, bgc, bgcf, bgcfn, bgcfnc; none enables "
                           "nothing (use with explicit multipliers).")
    p: float | None = Field(None, ge=0, description="Initial augmentation probability p. None: 0 with the "
                            "adaptive controller, 0.2 with a fixed p (target = null), as upstream's --p.")
    target: float | None = Field(0.6, gt=-1, lt=1, description="ADA target of the watched statistic (the "
                                 "mean sign of D's real logits); None: fixed p, no adaptation (--aug=fixed).")
    interval: int = Field(4, ge=1, description="Adjust p every N iterations (ada_interval).")
    kimg: float = Field(500, gt=0, description="Speed of the controller: p can go from 0 to 1 in this many "
                        "thousand real images (ada_kimg; upstream uses 100 when resuming from a pickle).")
    stat: str = Field("Loss/signs/real", description="Training statistic the controller watches (reported by "
                      "the loss; logistic and hinge report Loss/signs/real).")
    xflip: float | None = _mult("x-flips (mirror with probability 1/2 when it fires)")
    rotate90: float | None = _mult("rotations by a uniform multiple of 90 degrees")
    xint: float | None = _mult("integer translation")
    scale: float | None = _mult("isotropic scaling")
    rotate: float | None = _mult("arbitrary rotation (split into a pre- and a post-rotation)")
    aniso: float | None = _mult("anisotropic scaling")
    xfrac: float | None = _mult("fractional translation")
    brightness: float | None = _mult("brightness")
    contrast: float | None = _mult("contrast")
    lumaflip: float | None = _mult("luma flip (with probability 1/2 when it fires)")
    hue: float | None = _mult("hue rotation")
    saturation: float | None = _mult("saturation")
    imgfilter: float | None = _mult("image-space filtering (per band, times the band's strength)")
    noise: float | None = _mult("additive RGB noise")
    cutout: float | None = _mult("cutout")
    xint_max: float = Field(0.125, ge=0, description="Integer translation: range as a fraction of the size.")
    scale_std: float = Field(0.2, ge=0, description="Isotropic scaling: std of log2(scale).")
    rotate_max: float = Field(1.0, ge=0,
                              description="Rotation: range as a fraction of a half turn (1: +-180 deg).")
    aniso_std: float = Field(0.2, ge=0, description="Anisotropic scaling: std of log2(scale).")
    xfrac_std: float = Field(0.125, ge=0, description="Fractional translation: std as a fraction of size.")
    brightness_std: float = Field(0.2, ge=0, description="Brightness: std of the added offset.")
    contrast_std: float = Field(0.5, ge=0, description="Contrast: std of log2(contrast).")
    hue_max: float = Field(1.0, ge=0,
                           description="Hue rotation: range as a fraction of a half turn (1: +-180 deg).")
    saturation_std: float = Field(1.0, ge=0, description="Saturation: std of log2(saturation).")
    imgfilter_bands: tuple[float, float, float, float] = Field(
        (1.0, 1.0, 1.0, 1.0), description="Image filtering: probability multiplier of each of the four "
        "octave bands (lowest first).")
    imgfilter_std: float = Field(1.0, ge=0, description="Image filtering: std of log2(band gain).")
    noise_std: float = Field(0.1, ge=0, description="Noise: the per-image sigma is |N(0, 1)| * noise_std.")
    cutout_size: float = Field(0.5, ge=0, description="Cutout: side of the zeroed square as a fraction of "
                               "the image size.")


#: Strength fields (keyword arguments of the pipeline besides the multipliers), with upstream defaults.
STRENGTHS: dict[str, Any] = {
    name: AdaConfig.model_fields[name].default
    for name in ("xint_max", "scale_std", "rotate_max", "aniso_std", "xfrac_std", "brightness_std",
                 "contrast_std", "hue_max", "saturation_std", "imgfilter_bands", "imgfilter_std", "noise_std",
                 "cutout_size")
}


def resolved_multipliers(cfg: AdaConfig) -> dict[str, float]:
    """Every multiplier: the explicit value where set, else 1 if the preset includes it, else 0."""
    preset = PRESETS[cfg.preset]
    out = {}
    for name in MULTIPLIERS:
        value = getattr(cfg, name)
        out[name] = float(preset.get(name, 0) if value is None else value)
    return out


def module_kwargs(cfg: AdaConfig) -> dict[str, Any]:
    """Keyword arguments of :class:`~ganforge.plugins.ada.augment.AugmentPipe` for ``cfg``."""
    p = cfg.p if cfg.p is not None else (0.0 if cfg.target is not None else 0.2)
    kwargs: dict[str, Any] = {**resolved_multipliers(cfg), **{k: getattr(cfg, k) for k in STRENGTHS}}
    kwargs["imgfilter_bands"] = list(cfg.imgfilter_bands)
    kwargs.update(p=p, target=cfg.target, interval=cfg.interval, kimg=cfg.kimg, stat=cfg.stat)
    return kwargs


def check_run(ctx: Any) -> list[str]:
    """Problems of a run using ``ada`` (the spec's ``check``): colour transforms need 1 or 3 channels."""
    cfg, info = ctx.config.augment, ctx.info
    mult = resolved_multipliers(cfg)
    used = [name for name in COLOR if mult[name] > 0]
    if used and info.channels not in (1, 3):
        return [f"augment 'ada' (preset {cfg.preset!r}) applies colour transforms ({', '.join(used)}), which "
                f"need RGB or grayscale images; the data has {info.channels} channels. Use a preset without "
                f"colour (e.g. augment.preset='bg') or set those multipliers to 0"]
    return []
