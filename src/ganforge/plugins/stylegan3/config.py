"""Configuration models of the StyleGAN3 generators and the equivariance metrics.

Option names are the official constructor arguments (``channel_base``, ``channel_max``,
``conv_kernel``, ``use_radial_filters``, ``magnitude_ema_beta``, ...); the mapping network's depth is
``map_depth`` as in the official ``train.py --map-depth``. ``gan info stylegan3-r`` shows every field
with its description. See ``docs/plugins/stylegan3.md``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from ganforge.core.config import ComponentConfig

__all__ = ["DEFAULT_MAGNITUDE_EMA_BETA", "EQRConfig", "EQTFracConfig", "EQTIntConfig", "EquivarianceConfig",
           "GENERATOR_CONFIGS", "METRIC_CONFIGS", "StyleGAN3Config", "StyleGAN3RConfig", "StyleGAN3TConfig",
           "magnitude_ema_beta_for"]


def magnitude_ema_beta_for(batch: int) -> float:
    """The official ``train.py`` value ``0.5 ** (batch / 20000)`` (half-life of 20k images)."""
    return 0.5 ** (batch / 20000)


#: ``magnitude_ema_beta`` at the recommended batch size 32 (``train.py`` derives it from the batch).
DEFAULT_MAGNITUDE_EMA_BETA = magnitude_ema_beta_for(32)


class _StyleGAN3Base(ComponentConfig):
    """Options shared by StyleGAN3-T and -R (defaults are T's)."""

    z_dim: int = Field(512, ge=1, description="Latent (z) size.")
    w_dim: int = Field(512, ge=1, description="Intermediate latent (w) size.")
    map_depth: int = Field(2, ge=1, description="Layers of the mapping network (official --map-depth; 2 for "
                           "StyleGAN3, 8 for StyleGAN2).")
    map_lr_multiplier: float = Field(0.01, gt=0, description="Learning-rate multiplier of the mapping "
                                     "network.")
    w_avg_beta: float = Field(0.998, ge=0, le=1, description="Decay of the running mean of w (truncation).")
    channel_base: int = Field(32768, ge=1, description="Channel budget (official --cbase): a layer with "
                              "cutoff f_c has min(channel_base / 2 / f_c, channel_max) channels. R: 65536.")
    channel_max: int = Field(512, ge=1, description="Maximum channels of a layer (official --cmax; R: 1024).")
    num_layers: int = Field(14, ge=2, description="Synthesis layers excluding ToRGB (their names are "
                            "L{i}_{size}_{channels}, i = 0..num_layers).")
    num_critical: int = Field(2, ge=0, description="Critically sampled layers at the end (cutoff = Nyquist).")
    first_cutoff: float = Field(2, gt=0, description="Cutoff f_c of the first layer (and bandwidth of the "
                                "Fourier-feature input), in cycles per image.")
    first_stopband: float = Field(2 ** 2.1, gt=0, description="Minimum stopband f_t of the first layer.")
    last_stopband_rel: float = Field(2 ** 0.3, gt=0, description="Minimum stopband of the last layers "
                                     "relative to their cutoff (res / 2).")
    margin_size: int = Field(10, ge=0, description="Extra samples on each side of the intermediate maps.")
    output_scale: float = Field(0.25, description="Scale of the ToRGB output.")
    num_fp16_res: int = Field(4, ge=0, description="Layers whose sampling rate s satisfies "
                              "s * 2**num_fp16_res > res run in float16 (CUDA only; CPU always float32). "
                              "0: all float32 (--fp32).")
    conv_clamp: float | None = Field(256, gt=0, description="Clamp activations to +-conv_clamp (None: off; "
                                     "the official --fp32 sets None).")
    conv_kernel: int = Field(3, ge=1, description="Convolution kernel size of the synthesis layers (T: 3, "
                             "R: 1).")
    use_radial_filters: bool = Field(False, description="Radially symmetric (jinc) downsampling filters in "
                                     "the non-critical layers (R: true).")
    filter_size: int = Field(6, ge=1, description="Taps of a resampling filter per unit of its factor "
                             "(x2 resampling: 12 taps).")
    lrelu_upsampling: int = Field(2, ge=1, description="Oversampling of the leaky ReLU relative to the "
                                  "layer's sampling rate.")
    magnitude_ema_beta: float = Field(DEFAULT_MAGNITUDE_EMA_BETA, ge=0, le=1, description="Decay of every "
                                      "layer's input-magnitude EMA. The official train.py uses "
                                      "0.5 ** (batch / 20000); the default is that at batch 32 (set it for "
                                      "other batch sizes).")
    style_mixing_prob: float = Field(0.0, ge=0, le=1, description="Style mixing probability in training "
                                     "(official StyleGAN3 configurations: 0).")
    blur_init_sigma: float = Field(0.0, ge=0, description="Blur of every image D sees at the start of "
                                   "training, in pixels (official loss blur_init_sigma; R: 10).")
    blur_fade_kimg: float = Field(0.0, ge=0, description="kimg over which that blur fades linearly to 0 "
                                  "(official blur_fade_kimg = batch * 200 / 32; R: 200, its value at batch 32).")

    @model_validator(mode="after")
    def _check_schedule(self) -> Any:
        if self.num_critical >= self.num_layers:
            raise ValueError(f"num_critical ({self.num_critical}) must be smaller than num_layers "
                             f"({self.num_layers})")
        return self


class StyleGAN3Config(_StyleGAN3Base):
    """StyleGAN3-T (translation equivariant): 3x3 convolutions, separable filters."""

    name: Literal["stylegan3"] = "stylegan3"


class StyleGAN3TConfig(_StyleGAN3Base):
    """StyleGAN3-T (translation equivariant): 3x3 convolutions, separable filters."""

    name: Literal["stylegan3-t"] = "stylegan3-t"


class StyleGAN3RConfig(_StyleGAN3Base):
    """StyleGAN3-R (translation and rotation equivariant): 1x1 convolutions, radial filters, doubled
    channels."""

    name: Literal["stylegan3-r"] = "stylegan3-r"
    channel_base: int = Field(65536, ge=1, description="Channel budget (official --cbase x 2 for R): a layer "
                              "with cutoff f_c has min(channel_base / 2 / f_c, channel_max) channels.")
    channel_max: int = Field(1024, ge=1, description="Maximum channels of a layer (official --cmax x 2 for "
                             "R).")
    conv_kernel: int = Field(1, ge=1, description="Convolution kernel size of the synthesis layers (R: 1).")
    use_radial_filters: bool = Field(True, description="Radially symmetric (jinc) downsampling filters in "
                                     "the non-critical layers.")
    blur_init_sigma: float = Field(10.0, ge=0, description="Blur of every image D sees at the start of "
                                   "training, in pixels (official --cfg stylegan3-r: 10).")
    blur_fade_kimg: float = Field(200.0, ge=0, description="kimg over which that blur fades linearly to 0 "
                                  "(official: batch * 200 / 32; 200 is its value at batch 32).")


GENERATOR_CONFIGS: dict[str, type[_StyleGAN3Base]] = {
    "stylegan3": StyleGAN3Config, "stylegan3-t": StyleGAN3TConfig, "stylegan3-r": StyleGAN3RConfig}


class EquivarianceConfig(ComponentConfig):
    """Options of the equivariance metrics (no pretrained network needed)."""

    num_gen: int = Field(50000, ge=1, description="Number of generated samples (official: 50000; fewer "
                         "give a noisier estimate).")
    batch_gen: int = Field(4, ge=1, description="Samples per generator call (official: 4).")
    translate_max: float = Field(0.125, ge=0, le=1, description="EQ-T: translations are U(-t, t) x image "
                                 "size.")
    rotate_max: float = Field(1.0, ge=0, le=1, description="EQ-R: rotations are U(-r, r) x pi.")


class EQTIntConfig(EquivarianceConfig):
    """EQ-T: PSNR between G with an integer-pixel input translation and the shifted image."""

    name: Literal["eqt50k_int"] = "eqt50k_int"


class EQTFracConfig(EquivarianceConfig):
    """EQ-T (fractional): EQ-T with sub-pixel translations; the reference is Lanczos-3 resampled."""

    name: Literal["eqt50k_frac"] = "eqt50k_frac"


class EQRConfig(EquivarianceConfig):
    """EQ-R: PSNR between G with an input rotation and the band-limited rotated image."""

    name: Literal["eqr50k"] = "eqr50k"


METRIC_CONFIGS: dict[str, type[EquivarianceConfig]] = {
    "eqt50k_int": EQTIntConfig, "eqt50k_frac": EQTFracConfig, "eqr50k": EQRConfig}
